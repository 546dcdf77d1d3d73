//! The fetch handler: `GET /health`, `POST /sources/<source>/run`, `POST /events/<s>/<r>`
//! (see [`crate::api`] for the routes and statuses).

use icepipe_core::ingest::push::{check_declared_size, push_events, PushError, PushRequest};
use icepipe_core::ingest::{run_named_source, RunReport};
use icepipe_edge::auth::authorized;
use icepipe_edge::env::env_string;
use icepipe_edge::log::{emit, event_line, wasm_memory_bytes};
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, Result};

use crate::api::{route, run_body, Route};
use crate::config::ADMIN_TOKEN;
use crate::wiring::Wiring;

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let method = req.method().to_string();
    let query = req.url().ok().and_then(|u| u.query().map(str::to_string));
    let (status, body) = match route(&method, &path, query.as_deref()) {
        Err(no) => (no.status, json!({ "error": no.error })),
        Ok(r)
            if r.needs_auth()
                && !authorized(
                    req.headers().get("authorization").ok().flatten().as_deref(),
                    env_string(&env, ADMIN_TOKEN).as_deref(),
                ) =>
        {
            (
                401,
                json!({ "error": "unauthorized: send Authorization: Bearer <ADMIN_TOKEN>" }),
            )
        }
        Ok(Route::Health) => (
            200,
            json!({ "ok": true, "wasm_memory_bytes": wasm_memory_bytes() }),
        ),
        Ok(Route::RunSource { source, resource }) => run(&env, &source, resource.as_deref()).await,
        Ok(Route::Events { source, resource }) => events(&mut req, &env, &source, &resource).await,
    };
    if status >= 400 && status != 404 {
        emit(&event_line(
            "http_error",
            json!({ "method": method, "path": path, "status": status, "error": body.get("error").or(body.get("errors")) }),
        ));
    }
    Ok(Response::from_json(&body)?.with_status(status))
}

/// The log line of a run (`trigger`: `http` or `cron`): per resource what it fetched and wrote.
pub fn run_line(report: &RunReport, trigger: &str) -> String {
    let resources: Vec<Value> = report
        .resources
        .iter()
        .map(|r| {
            json!({
                "resource": r.resource, "pages": r.pages, "received": r.received, "rows": r.rows,
                "tables": r.tables, "files": r.files.len(), "schema_changes": r.schema_changes,
                "error": r.error,
            })
        })
        .collect();
    event_line(
        "run",
        json!({
            "source": report.source, "load_id": report.load_id, "trigger": trigger,
            "resources": resources, "errors": report.errors, "duration_ms": report.duration_ms,
            "wasm_memory_bytes": wasm_memory_bytes(),
        }),
    )
}

async fn run(env: &Env, source: &str, resource: Option<&str>) -> (u16, Value) {
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    match run_named_source(&wiring.ingest, &wiring.settings.sources, source, resource).await {
        Ok(report) => {
            emit(&run_line(&report, "http"));
            (
                report.status(),
                run_body(&report, &wiring.settings.raw_bucket),
            )
        }
        Err(e) => (e.status(), json!({ "error": e.to_string() })),
    }
}

async fn events(req: &mut Request, env: &Env, source: &str, resource: &str) -> (u16, Value) {
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    let settings = wiring.push_settings();
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let declared = header("content-length").and_then(|v| v.parse::<usize>().ok());
    let idempotency_key = header("idempotency-key");
    let pushed = async {
        // Refused before reading when the client says how big it is.
        check_declared_size(declared, settings.max_bytes)?;
        let body = req.bytes().await.map_err(|e| PushError::UnreadableBody {
            reason: e.to_string(),
        })?;
        let request = PushRequest {
            source,
            resource,
            body: &body,
            idempotency_key: idempotency_key.as_deref(),
        };
        push_events(&wiring.ingest, &settings, request).await
    }
    .await;
    match pushed {
        Ok(pushed) => {
            let answer = &pushed.answer;
            if !answer.duplicate {
                emit(&event_line(
                    "events",
                    json!({ "source": source, "resource": resource, "load_id": answer.load_id, "rows": answer.rows, "files": answer.files.len(), "bytes": answer.bytes, "schema_changes": answer.schema_changes, "write_disposition": answer.write_disposition }),
                ));
            }
            if let Some(e) = &pushed.answer_not_recorded {
                emit(&event_line(
                    "idempotency_error",
                    json!({ "source": source, "resource": resource, "error": e.to_string() }),
                ));
            }
            (
                200,
                serde_json::to_value(answer).unwrap_or_else(|e| json!({ "error": e.to_string() })),
            )
        }
        Err(e) => (e.status(), json!({ "error": e.to_string() })),
    }
}
