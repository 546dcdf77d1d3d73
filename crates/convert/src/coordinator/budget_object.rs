//! The catalog's write budget as a Durable Object (one per warehouse): every table committer
//! reserves a slot here before each catalog write, so the catalog as a whole stays under its
//! per-minute limits whatever the number of tables.

use icepipe_core::committer::budget::WriteBudget;
use icepipe_core::committer::protocol::{ReserveReply, ReserveRequest};
use icepipe_edge::env::env_string;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

use crate::config::Settings;

const GRANTS: &str = "grants";

#[durable_object(fetch)]
pub struct CatalogBudget {
    state: State,
    env: Env,
}

impl DurableObject for CatalogBudget {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let settings = match Settings::from_lookup(|name| env_string(&self.env, name)) {
            Ok(settings) => settings,
            Err(e) => return Response::error(e.0, 500),
        };
        let limits = settings.coordination.budget;
        let storage = self.state.storage();
        let mut budget: WriteBudget = storage.get(GRANTS).await?.unwrap_or_default();
        let now = worker::Date::now().as_millis() as i64;
        if req.method() == Method::Get {
            return Response::from_json(&json!({
                "limits": limits,
                "used_last_minute": budget.used(now),
            }));
        }
        let request: ReserveRequest = req.json().await?;
        let at_ms = budget.reserve(request.kind, now, &limits);
        // Stored before answering: a restart must not hand the same slot out twice.
        storage.put(GRANTS, &budget).await?;
        Response::from_json(&ReserveReply { at_ms })
    }
}
