//! `icepipe audit`: per table, is every raw object held, superseded or recorded in `_errors/`,
//! do the rows per raw object equal its footer's, and do the manifests agree with the data
//! files? Exits non-zero when anything is off, saying what to run to fix it.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use icepipe_core::audit::{audit, AuditContext, AuditOptions, AuditReport, TableAudit};
use icepipe_core::raw::key::{TableName, DEFAULT_NAMESPACE_ROOT};
use icepipe_core::raw::notification::parse_time_ms;
use icepipe_core::storage::{iceberg_io, StoreResolver};

use crate::error::CliError;
use crate::settings::Connection;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this table (`<root>.<source>.<resource>`).
    #[arg(long)]
    table: Option<String>,
    /// Only raw objects modified on or after this date (YYYY-MM-DD) or time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// The raw bucket.
    #[arg(long, env = "ICEPIPE_RAW_BUCKET", default_value = "raw")]
    raw_bucket: String,
    /// First namespace level(s) of the tables.
    #[arg(long, default_value = DEFAULT_NAMESPACE_ROOT)]
    namespace_root: String,
    /// Raw objects listed at most (all tables together).
    #[arg(long, default_value_t = 1_000_000)]
    max_listed: usize,
    /// Raw objects examined per table at most.
    #[arg(long, default_value_t = 100_000)]
    max_objects: usize,
    /// Data files checked against their footers per table at most.
    #[arg(long, default_value_t = 100_000)]
    max_data_files: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit codes: 0 every table accounted for and consistent, 2 something is off (the report says
/// what and how to fix it), 1 the audit itself failed.
pub async fn run(connection: &Connection, args: &AuditArgs) -> Result<ExitCode, CliError> {
    let table = args
        .table
        .as_deref()
        .map(|text| {
            TableName::parse(text)
                .ok_or_else(|| CliError::usage(format!("--table {text:?} must be namespace.table")))
        })
        .transpose()?;
    let since_ms = match &args.since {
        Some(text) => Some(parse_since(text)?),
        None => None,
    };
    let context = connection.connect().await?;
    let tables = context.resolver.clone() as Arc<dyn StoreResolver>;
    let ctx = AuditContext {
        raw: tables.store_for_bucket(&args.raw_bucket)?,
        catalog: context.catalog.clone(),
        file_io: iceberg_io::file_io(tables.clone()),
        tables,
    };
    let options = AuditOptions {
        namespace_root: args.namespace_root.clone(),
        table,
        since_ms,
        max_listed: args.max_listed,
        max_objects: args.max_objects,
        max_data_files: args.max_data_files,
    };
    let report = audit(&ctx, &options).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialize")
        );
    } else {
        print(&report);
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn parse_since(text: &str) -> Result<i64, CliError> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    parse_time_ms(&full).ok_or_else(|| {
        CliError::usage(format!(
            "--since {text:?}: expected YYYY-MM-DD or an RFC 3339 time"
        ))
    })
}

fn print(report: &AuditReport) {
    if report.tables.is_empty() {
        println!("no raw objects found: nothing to audit");
    }
    if report.listing_truncated {
        println!(
            "note: the raw listing stopped at --max-listed objects; later keys were not audited"
        );
    }
    for table in &report.tables {
        print_table(table);
    }
    println!(
        "{}",
        if report.ok {
            "audit: OK"
        } else {
            "audit: PROBLEMS FOUND"
        }
    );
}

fn print_table(t: &TableAudit) {
    println!(
        "{}: {} raw object(s): {} held, {} superseded, {} recorded in _errors/, {} unaccounted; {} data file(s) checked{}",
        t.table,
        t.raw_objects,
        t.held,
        t.superseded,
        t.recorded,
        t.unaccounted.len(),
        t.data_files,
        if t.exists { "" } else { " (the table does not exist)" }
    );
    for key in &t.unaccounted {
        println!("  unaccounted: {key}");
    }
    for m in &t.row_mismatches {
        println!(
            "  rows differ: {} holds {} row(s) in its footer, {} in the table",
            m.key, m.footer_rows, m.table_rows
        );
    }
    for path in &t.missing_files {
        println!("  missing data file: {path}");
    }
    for path in &t.duplicate_files {
        println!("  listed twice in the manifests: {path}");
    }
    for m in &t.count_mismatches {
        println!(
            "  row count differs: {} says {} in the manifest, {} in its footer",
            m.file, m.manifest_rows, m.file_rows
        );
    }
    if let Some((summary, entries)) = t.summary_rows {
        println!("  snapshot summary says {summary} rows, the manifests {entries}");
    }
    for what in &t.unreadable {
        println!("  unreadable: {what}");
    }
    for note in &t.notes {
        println!("  note: {note}");
    }
    for fix in &t.fixes {
        println!("  fix: {fix}");
    }
}
