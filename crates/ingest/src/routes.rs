//! The fetch handler: `GET /health`, `POST /sources/<source>/run`, `POST /events/<s>/<r>`
//! (see [`crate::api`] for the routes and statuses).

use icepipe_core::ingest::idempotency::{claim, complete, release, Claim, IdempotencyKey};
use icepipe_core::ingest::push::{land_events, parse_events, EventStream};
use icepipe_core::ingest::{run_source, RunReport};
use icepipe_edge::auth::authorized;
use icepipe_edge::env::env_string;
use icepipe_edge::log::{emit, event_line, wasm_memory_bytes};
use serde_json::{json, Value};
use worker::{event, Context, Env, Request, Response, Result};

use crate::api::{route, run_body, run_status, Route};
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
                "resource": r.resource, "pages": r.pages, "rows": r.rows,
                "tables": r.tables, "files": r.files.len(), "error": r.error,
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
        Err(reason) => return (500, json!({ "error": reason })),
    };
    let config = match wiring.settings.sources.source(source) {
        Ok(config) => config,
        Err(e) => return (404, json!({ "error": e.to_string() })),
    };
    match run_source(&wiring.ingest, config, resource).await {
        Ok(report) => {
            emit(&run_line(&report, "http"));
            (
                run_status(&report),
                run_body(&report, &wiring.settings.raw_bucket),
            )
        }
        // Only an unknown resource or a broken clock end a run before it starts.
        Err(reason) => (404, json!({ "error": reason })),
    }
}

async fn events(req: &mut Request, env: &Env, source: &str, resource: &str) -> (u16, Value) {
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason })),
    };
    let limit = wiring.settings.max_event_bytes;
    let too_large = || {
        (
            413,
            json!({ "error": format!("the body is larger than {limit} bytes (MAX_EVENT_BYTES): split it into several requests") }),
        )
    };
    // Refuse before reading when the client says how big it is.
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return too_large();
    }
    let body = match req.bytes().await {
        Ok(body) if body.len() > limit => return too_large(),
        Ok(body) => body,
        Err(e) => {
            return (
                400,
                json!({ "error": format!("cannot read the body: {e}") }),
            )
        }
    };
    let stream = match EventStream::resolve(&wiring.settings.sources, source, resource) {
        Ok(stream) => stream,
        Err(e) => return (400, json!({ "error": e.to_string() })),
    };
    let records = match parse_events(&body) {
        Ok(records) => records,
        Err(e) => {
            return (
                400,
                json!({ "error": format!("events for {source}/{resource}: {e}") }),
            )
        }
    };
    let idempotency = match req.headers().get("idempotency-key").ok().flatten() {
        None => None,
        Some(text) => match IdempotencyKey::parse(text.trim()) {
            Ok(key) => Some(key.marker(source, resource)),
            Err(e) => return (400, json!({ "error": e })),
        },
    };
    let store = wiring.ingest.store.clone();
    let now = wiring.now();
    if let Some(marker) = &idempotency {
        match claim(store.as_ref(), marker, now.timestamp_millis()).await {
            Ok(Claim::Granted) => {}
            Ok(Claim::Done(mut answer)) => {
                answer["duplicate"] = json!(true);
                return (200, answer);
            }
            Ok(Claim::InProgress) => {
                return (
                    409,
                    json!({ "error": "a request with this Idempotency-Key is still landing its events: retry later" }),
                )
            }
            Err(e) => {
                return (
                    502,
                    json!({ "error": format!("cannot check the Idempotency-Key: {e}") }),
                )
            }
        }
    }
    let size = body.len();
    match land_events(
        store.clone(),
        &stream,
        records,
        now,
        wiring.settings.part_bytes,
    )
    .await
    {
        Ok((load_id, report)) => {
            let answer = json!({
                "ok": true, "source": source, "resource": resource, "load_id": load_id,
                "rows": report.rows, "tables": report.tables, "files": report.files,
                "raw_bucket": wiring.settings.raw_bucket, "bytes": size,
            });
            emit(&event_line(
                "events",
                json!({ "source": source, "resource": resource, "load_id": load_id, "rows": report.rows, "files": report.files.len(), "bytes": size }),
            ));
            if let Some(marker) = &idempotency {
                // The events are stored; a lost answer only means a retry would land them again.
                if let Err(e) =
                    complete(store.as_ref(), marker, now.timestamp_millis(), &answer).await
                {
                    emit(&event_line(
                        "idempotency_error",
                        json!({ "source": source, "resource": resource, "error": e }),
                    ));
                }
            }
            (200, answer)
        }
        Err(reason) => {
            if let Some(marker) = &idempotency {
                let _ = release(store.as_ref(), marker).await;
            }
            (
                502,
                json!({ "error": format!("events for {source}/{resource} not stored: {reason}") }),
            )
        }
    }
}
