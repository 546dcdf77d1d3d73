//! `icepipe tables`: every table of the warehouse with its snapshots.

use std::process::ExitCode;

use clap::Args;
use iceberg::{NamespaceIdent, TableIdent};
use icepipe_core::catalog::{fails_every_table, RestCatalog, TableSummary};
use serde_json::{json, Value};

use icepipe_core::maintain::health::table_health;
use icepipe_core::raw::key::TableName;

use crate::error::CliError;
use crate::settings::Connection;

#[derive(Debug, Args)]
pub struct TablesArgs {
    /// Only tables under this namespace (e.g. `analytics.shop`).
    #[arg(long)]
    namespace: Option<String>,
    /// Only this table (`analytics.shop.orders`).
    #[arg(long)]
    table: Option<String>,
    /// Per table: metadata.json bytes, snapshots, manifests, files, small files per partition,
    /// ledger size, and what `icepipe maintain` would do next.
    #[arg(long)]
    health: bool,
    #[arg(long)]
    json: bool,
}

/// The tables a command works on: `--table`, else every table under `--namespace` (or all).
pub async fn selected_tables(
    catalog: &RestCatalog,
    table: Option<&str>,
    namespace: Option<&str>,
) -> Result<Vec<TableIdent>, CliError> {
    if let Some(name) = table {
        let name = TableName::parse(name)
            .ok_or_else(|| CliError::usage(format!("--table {name}: expected namespace.table")))?;
        return Ok(vec![name.to_ident()]);
    }
    let root = match namespace {
        Some(ns) => Some(
            NamespaceIdent::from_strs(ns.split('.'))
                .map_err(|e| CliError::usage(format!("--namespace {ns}: {e}")))?,
        ),
        None => None,
    };
    Ok(catalog.list_tables_under(root.as_ref()).await?)
}

pub async fn run(connection: &Connection, args: &TablesArgs) -> Result<ExitCode, CliError> {
    let context = connection.connect().await?;
    let catalog = context.catalog.as_ref();
    let file_io = context.file_io();
    let mut tables = Vec::new();
    let idents = selected_tables(catalog, args.table.as_deref(), args.namespace.as_deref()).await?;
    for ident in idents {
        // One table nothing can load is reported with its reason, not allowed to hide the others.
        let loaded = match catalog.load_table(&ident).await {
            Ok(loaded) => loaded,
            Err(e) if fails_every_table(&e) => return Err(e.into()),
            Err(e) => {
                tables.push(json!(TableSummary::unloadable(&ident, &e)));
                continue;
            }
        };
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
        let health = if args.health {
            let health = table_health(&file_io, &loaded, context.clock.now_ms()).await?;
            serde_json::to_value(health).expect("json")
        } else {
            Value::Null
        };
        tables.push(json!({
            "health": health,
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
            if args.health {
                print_health(&table["health"]);
                continue;
            }
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

fn print_health(h: &Value) {
    let n = |k: &str| h[k].as_u64().unwrap_or(0);
    println!(
        "  metadata.json {} bytes, {} snapshots, {} manifests, {} data files ({} rows, avg {} bytes), at most {} files in a partition",
        n("metadata_json_bytes"),
        n("snapshots"),
        n("manifests"),
        n("data_files"),
        n("records"),
        n("average_file_bytes"),
        n("max_files_in_a_partition"),
    );
    let ledger = &h["ledger"];
    println!(
        "  ledger: {} objects, {} days, {} segment files ({} bytes), index {} bytes",
        ledger["objects"],
        ledger["days"],
        ledger["segment_files"],
        ledger["segment_bytes"],
        ledger["index_bytes"]
    );
    if let Some(age) = h["last_commit_age_ms"].as_i64() {
        println!("  last commit {} s ago", age / 1000);
    }
    if let Some(small) = h["small_files_per_partition"].as_object() {
        for (partition, count) in small.iter().take(10) {
            println!("  {count} small files in {partition}");
        }
    }
    for next in h["next_maintenance"].as_array().into_iter().flatten() {
        println!("  next: {}", next.as_str().unwrap_or_default());
    }
}
