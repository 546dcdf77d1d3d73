//! The maintenance of each cron run (`crate::scheduled`): each table's coordinator is asked to
//! run one bounded maintenance step between its commits (expire snapshots, merge manifests,
//! compact one partition, or sweep orphans); the next cron run resumes where this one stopped.

use iceberg::NamespaceIdent;
use serde_json::json;
use worker::Env;

use icepipe_edge::log::{emit, event_line};

use crate::wiring::Wiring;

/// One bounded step per table, each logged as a `maintenance` line (a run that cannot start
/// logs one `maintenance_error` line).
pub async fn maintain_and_log(cron: &str, env: &Env) {
    let fail = |error: String| {
        emit(&event_line(
            "maintenance_error",
            json!({ "cron": cron, "error": error }),
        ))
    };
    let wiring = match Wiring::from_env(env) {
        Ok(wiring) => wiring,
        Err(e) => return fail(e.to_string()),
    };
    let root = match NamespaceIdent::from_strs(wiring.settings.namespace_root.split('.')) {
        Ok(root) => root,
        Err(e) => return fail(e.to_string()),
    };
    let tables = match wiring.catalog().await {
        Ok(catalog) => catalog.list_tables_under(Some(&root)).await,
        Err(e) => Err(e),
    };
    let tables = match tables {
        Ok(tables) => tables,
        Err(e) => return fail(e.to_string()),
    };
    let committer = wiring.committer(env);
    // One table at a time: each step is bounded, and the coordinators share the catalog budget.
    for table in tables {
        let line = match committer.maintain(&table, false).await {
            Ok(step) => json!({ "cron": cron, "table": table.to_string(), "step": step }),
            Err(e) => json!({ "cron": cron, "table": table.to_string(), "error": e.to_string() }),
        };
        emit(&event_line("maintenance", line));
    }
}
