//! `icepipe maintain`: expire snapshots, merge manifests, compact small files and remove orphan
//! files, table by table, through the same committer (pace, catalog budget, races) as conversions.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use icepipe_core::committer::local::LocalCommitter;
use icepipe_core::storage::StoreResolver;

use crate::convert_cmd::PaceArgs;
use crate::error::CliError;
use crate::settings::Connection;
use crate::tables_cmd::selected_tables;

#[derive(Debug, Args)]
pub struct MaintainArgs {
    /// Only this table (`analytics.shop.orders`); default: every table.
    #[arg(long)]
    table: Option<String>,
    /// Only tables under this namespace (e.g. `analytics.shop`).
    #[arg(long)]
    namespace: Option<String>,
    /// Say what would be done; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Most steps (commits, plus the orphan sweep) per table in this run.
    #[arg(long, default_value_t = 100)]
    max_steps: usize,
    #[arg(long)]
    json: bool,
    /// The same pace as conversions.
    #[command(flatten)]
    pace: PaceArgs,
}

pub async fn run(connection: &Connection, args: &MaintainArgs) -> Result<ExitCode, CliError> {
    let context = connection.connect().await?;
    let catalog = context.catalog.clone();
    let tables =
        selected_tables(&catalog, args.table.as_deref(), args.namespace.as_deref()).await?;
    let resolver = context.resolver.clone() as Arc<dyn StoreResolver>;
    let committer = LocalCommitter::new(
        catalog.clone(),
        context.file_io(),
        context.clock.clone(),
        args.pace.local_settings()?,
    );
    let mut failed = false;
    for ident in tables {
        match committer
            .maintain(&ident, resolver.clone(), args.dry_run, args.max_steps)
            .await
        {
            Ok(reports) => {
                for report in reports {
                    if args.json {
                        println!("{}", serde_json::to_string(&report).expect("json"));
                    } else {
                        println!("{}", describe(&report));
                    }
                }
            }
            Err(e) => {
                failed = true;
                eprintln!("icepipe: {ident}: maintenance failed: {e}");
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(r: &icepipe_core::maintain::StepReport) -> String {
    let what = serde_json::to_value(r.step).expect("json");
    let mut line = format!(
        "{}  {}{}",
        r.table,
        what.as_str().unwrap_or_default(),
        if r.dry_run { " (dry run)" } else { "" }
    );
    if let Some(id) = r.snapshot_id {
        line.push_str(&format!("  snapshot {id}"));
    }
    for (n, label) in [
        (r.snapshots_expired, "snapshots expired"),
        (r.manifests_merged, "manifests merged"),
        (r.files_rewritten, "files rewritten"),
        (r.files_written, "files written"),
        (r.files_deleted, "files deleted"),
    ] {
        if n > 0 {
            line.push_str(&format!("  {n} {label}"));
        }
    }
    if r.bytes_deleted > 0 {
        line.push_str(&format!("  {} bytes freed", r.bytes_deleted));
    }
    if let Some(detail) = &r.detail {
        line.push_str(&format!("  ({detail})"));
    }
    line
}
