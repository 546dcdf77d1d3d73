//! `icepipe tables`: every table of the warehouse with its snapshots.

use std::process::ExitCode;

use clap::Args;
use iceberg::NamespaceIdent;
use icepipe_core::catalog::TableSummary;
use serde_json::{json, Value};

use crate::error::CliError;
use crate::settings::Connection;

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Only tables under this namespace (e.g. `analytics.shop`).
    #[arg(long)]
    namespace: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(connection: &Connection, args: &TablesArgs) -> Result<ExitCode, CliError> {
    let context = connection.connect().await?;
    let catalog = context.catalog.as_ref();
    let root = match &args.namespace {
        Some(ns) => Some(
            NamespaceIdent::from_strs(ns.split('.'))
                .map_err(|e| CliError::usage(format!("--namespace {ns}: {e}")))?,
        ),
        None => None,
    };
    let mut tables = Vec::new();
    for ident in catalog.list_tables_under(root.as_ref()).await? {
        let loaded = catalog.load_table(&ident).await?;
        let summary = TableSummary::of(&ident, &loaded);
        let snapshots: Vec<Value> = loaded
            .metadata
            .snapshots()
            .map(|s| {
                json!({
                    "snapshot_id": s.snapshot_id(),
                    "parent_snapshot_id": s.parent_snapshot_id(),
                    "timestamp_ms": s.timestamp_ms(),
                    "operation": s.summary().operation.as_str(),
                    "manifest_list": s.manifest_list(),
                    "summary": s.summary().additional_properties,
                })
            })
            .collect();
        tables.push(json!({
            "table": summary.table,
            "metadata_location": summary.metadata_location,
            "current_snapshot_id": summary.current_snapshot_id,
            "snapshot_count": summary.snapshot_count,
            "data_files": summary.data_files,
            "rows": summary.rows,
            "bytes": summary.bytes,
            "snapshots": snapshots,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&tables).expect("json"));
    } else {
        for table in &tables {
            println!("{}", table["table"].as_str().unwrap_or_default());
            for s in table["snapshots"].as_array().into_iter().flatten() {
                let summary = &s["summary"];
                println!(
                    "  {}  {}  {}  +{} rows, {} total rows, {} files",
                    s["snapshot_id"],
                    chrono::DateTime::from_timestamp_millis(
                        s["timestamp_ms"].as_i64().unwrap_or(0)
                    )
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default(),
                    s["operation"].as_str().unwrap_or_default(),
                    summary["added-records"].as_str().unwrap_or("0"),
                    summary["total-records"].as_str().unwrap_or("?"),
                    summary["total-data-files"].as_str().unwrap_or("?"),
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
