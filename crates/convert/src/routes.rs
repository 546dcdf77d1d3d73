//! HTTP: `GET /health` (open), `GET /tables`, `POST /replay` and `GET /audit` (bearer
//! `ADMIN_TOKEN`).

use std::sync::Arc;

use iceberg::{NamespaceIdent, TableIdent};
use icepipe_core::audit::{audit, AuditContext, AuditOptions};
use icepipe_core::batch::replay::{plan_replay, ReplayError, ReplayRequest};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::notification::parse_time_ms;
use icepipe_core::storage::{iceberg_io, ObjectStore};
use serde_json::{json, Value};
use worker::{event, Context, Env, Method, Request, Response, Result};

use icepipe_edge::auth::authorized;
use icepipe_edge::env::env_string;
use icepipe_edge::log::{emit, event_line, wasm_memory_bytes};

use crate::config::ADMIN_TOKEN;
use crate::sweep::send_all;
use crate::wiring::{raw_events, Wiring};

/// Largest `POST /replay` body accepted.
const MAX_REPLAY_BODY: usize = 64 * 1024;
/// `GET /audit`: raw objects and data files examined per table, by default and at most (one
/// invocation's subrequests are bounded).
const AUDIT_DEFAULT_LIMIT: usize = 500;
const AUDIT_MAX_LIMIT: usize = 2000;

#[event(fetch)]
pub async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let path = req.path();
    let method = req.method();
    let (status, body) = match (method.clone(), path.as_str()) {
        (Method::Get, "/health") => (
            200,
            json!({ "ok": true, "wasm_memory_bytes": wasm_memory_bytes() }),
        ),
        (_, "/tables" | "/replay" | "/audit")
            if !authorized(
                req.headers().get("authorization").ok().flatten().as_deref(),
                env_string(&env, ADMIN_TOKEN).as_deref(),
            ) =>
        {
            (
                401,
                json!({ "error": "unauthorized: send Authorization: Bearer <ADMIN_TOKEN>" }),
            )
        }
        (Method::Get, "/tables") => tables(&env).await,
        (Method::Post, "/replay") => replay(&mut req, &env).await,
        (Method::Get, "/audit") => audit_route(&req, &env).await,
        (_, "/health" | "/tables" | "/replay" | "/audit") => {
            (405, json!({ "error": "method not allowed" }))
        }
        _ => (404, json!({ "error": "not found" })),
    };
    if status >= 400 && status != 404 {
        emit(&event_line(
            "http_error",
            json!({ "method": method.to_string(), "path": path, "status": status, "error": body["error"] }),
        ));
    }
    Ok(Response::from_json(&body)?.with_status(status))
}

async fn tables(env: &Env) -> (u16, Value) {
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    let root = match NamespaceIdent::from_strs(wiring.settings.namespace_root.split('.')) {
        Ok(root) => root,
        Err(e) => return (500, json!({ "error": e.to_string() })),
    };
    let result = match wiring.catalog().await {
        Ok(catalog) => catalog.summarize_tables_under(Some(&root)).await,
        Err(e) => Err(e),
    };
    let summaries = match result {
        Ok(summaries) => summaries,
        Err(e) => return (502, json!({ "error": e.to_string() })),
    };
    // Each table's coordinator: what it holds pending, its pace and what its commits cost.
    let committer = wiring.committer(env);
    let statuses = futures::future::join_all(summaries.iter().map(|summary| {
        let committer = &committer;
        async move {
            let ident = TableIdent::from_strs(summary.table.split('.')).ok()?;
            Some(committer.status(&ident).await)
        }
    }))
    .await;
    let now = worker::Date::now().as_millis() as i64;
    let tables: Vec<Value> = summaries
        .iter()
        .zip(statuses)
        .map(|(summary, status)| {
            let mut table = json!(summary);
            match status {
                Some(Ok(status)) => {
                    table["commits_last_minute"] = json!(status.counters.requests_last_minute(now));
                    table["coordinator"] = json!(status);
                }
                Some(Err(e)) => table["coordinator_error"] = json!(e.to_string()),
                None => {}
            }
            table
        })
        .collect();
    (
        200,
        json!({ "namespace": wiring.settings.namespace_root, "tables": tables }),
    )
}

async fn replay(req: &mut Request, env: &Env) -> (u16, Value) {
    let body = match req.bytes().await {
        Ok(body) if body.len() <= MAX_REPLAY_BODY => body,
        Ok(_) => {
            return (
                413,
                json!({ "error": format!("the body is larger than {MAX_REPLAY_BODY} bytes") }),
            )
        }
        Err(e) => return (400, json!({ "error": e.to_string() })),
    };
    let request = match ReplayRequest::parse(&body) {
        Ok(request) => request,
        Err(e) => return (400, json!({ "error": e.to_string() })),
    };
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    let queue = match raw_events(env) {
        Ok(queue) => queue,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    let settings = &wiring.settings;
    let plan = match plan_replay(
        wiring.raw.as_ref(),
        &request,
        &settings.account_id,
        &settings.raw_bucket,
    )
    .await
    {
        Ok(plan) => plan,
        Err(ReplayError::BadRequest(reason)) => return (400, json!({ "error": reason })),
        Err(e) => return (502, json!({ "error": e.to_string() })),
    };
    let mut sent = 0;
    if !request.dry_run {
        match send_all(&queue, &plan.messages).await {
            Ok(n) => sent = n,
            Err(e) => {
                return (
                    502,
                    json!({
                        "error": e.to_string(),
                        "matched": plan.matched,
                        "sent": e.sent,
                        "dry_run": false,
                    }),
                )
            }
        }
    }
    emit(&event_line(
        "replay",
        json!({
            "prefix": request.key_prefix(),
            "errors": request.errors,
            "matched": plan.matched,
            "sent": sent,
            "missing": plan.missing,
            "dry_run": request.dry_run,
        }),
    ));
    (
        200,
        json!({
            "matched": plan.matched,
            "sent": sent,
            "missing": plan.missing,
            "dry_run": request.dry_run,
        }),
    )
}

/// `GET /audit[?table=<root>.<source>.<resource>][&since=YYYY-MM-DD|RFC 3339][&limit=N]`: the
/// audit report (200 whether or not something is off: `ok` says), bounded to `limit` raw objects
/// and data files per table.
async fn audit_route(req: &Request, env: &Env) -> (u16, Value) {
    let url = match req.url() {
        Ok(url) => url,
        Err(e) => return (400, json!({ "error": e.to_string() })),
    };
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let table = match param("table") {
        Some(text) => match TableName::parse(&text) {
            Some(table) => Some(table),
            None => {
                return (
                    400,
                    json!({ "error": format!("table {text:?} must be namespace.table") }),
                )
            }
        },
        None => None,
    };
    let since_ms = match param("since") {
        Some(text) => {
            let full = if text.len() == 10 {
                format!("{text}T00:00:00Z")
            } else {
                text.clone()
            };
            match parse_time_ms(&full) {
                Some(ms) => Some(ms),
                None => {
                    return (
                        400,
                        json!({ "error": format!("since {text:?}: expected YYYY-MM-DD or an RFC 3339 time") }),
                    )
                }
            }
        }
        None => None,
    };
    let limit = match param("limit").map(|v| v.parse::<usize>()) {
        None => AUDIT_DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=AUDIT_MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return (
                400,
                json!({ "error": format!("limit must be a whole number from 1 to {AUDIT_MAX_LIMIT}") }),
            )
        }
    };
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(reason) => return (500, json!({ "error": reason.to_string() })),
    };
    let catalog = match wiring.catalog().await {
        Ok(catalog) => catalog,
        Err(e) => return (502, json!({ "error": e.to_string() })),
    };
    let ctx = AuditContext {
        raw: wiring.raw.clone() as Arc<dyn ObjectStore>,
        catalog,
        file_io: iceberg_io::file_io(wiring.tables.clone()),
        tables: wiring.tables.clone(),
    };
    let options = AuditOptions {
        namespace_root: wiring.settings.namespace_root.clone(),
        table,
        since_ms,
        max_listed: limit * 10,
        max_objects: limit,
        max_data_files: limit,
    };
    match audit(&ctx, &options).await {
        Ok(report) => {
            emit(&event_line(
                "audit",
                json!({ "ok": report.ok, "tables": report.tables.len(),
                        "off": report.tables.iter().filter(|t| !t.ok).map(|t| t.table.clone()).collect::<Vec<_>>() }),
            ));
            (200, serde_json::to_value(&report).unwrap_or_default())
        }
        Err(e) => (502, json!({ "error": e.to_string() })),
    }
}
