//! `icepipe reconcile`: the convert Worker's reconciliation sweep, run natively. Finds the raw
//! objects under `sources/` that their table does not hold, that no newer replace load supersedes
//! and that no error record explains (lost notifications), and converts them, one snapshot per
//! table, recording the ones that cannot be converted in `_errors/` as the Worker does. Prints
//! what it found.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use icepipe_core::committer::local::LocalSettings;
use icepipe_core::convert::{ConvertOptions, Converter, OnInvalid};
use icepipe_core::raw::error_record::{ErrorRecord, FailureKind};
use icepipe_core::raw::key::{TableName, DEFAULT_NAMESPACE_ROOT};
use icepipe_core::raw::object::RawObject;
use icepipe_core::reconcile::{
    load_cursor, save_cursor, sweep, sweep_prefix, SweepOptions, SweepReport, DEFAULT_MIN_AGE_MS,
    DEFAULT_SWEEP_LIMIT,
};
use icepipe_core::storage::{iceberg_io, ObjectStore, StoreResolver};
use serde_json::json;

use crate::error::CliError;
use crate::settings::{Connection, Context};

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// The raw bucket.
    #[arg(long, env = "ICEPIPE_RAW_BUCKET", default_value = "raw")]
    raw_bucket: String,
    /// First namespace level(s) of the tables.
    #[arg(long, default_value = DEFAULT_NAMESPACE_ROOT)]
    namespace_root: String,
    /// Walk the whole bucket from the start (every page) instead of one bounded page from the
    /// stored cursor; the stored cursor is left as it is.
    #[arg(long)]
    all: bool,
    /// Only raw keys under this prefix (`sources/` is prepended when missing), e.g. `shop/` or
    /// `shop/orders/`; implies --all.
    #[arg(long)]
    prefix: Option<String>,
    /// Raw objects listed per page.
    #[arg(long, default_value_t = DEFAULT_SWEEP_LIMIT)]
    limit: usize,
    /// Objects modified less than this many seconds ago are left to their notification.
    #[arg(long, default_value_t = DEFAULT_MIN_AGE_MS / 1000)]
    min_age_seconds: i64,
    /// Print what would be converted; convert nothing, store no cursor.
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Exit codes: 0 nothing was missing or everything missing converted, 3 some objects failed
/// (recorded in `_errors/`), 1 the sweep itself failed.
pub async fn run(connection: &Connection, args: &ReconcileArgs) -> Result<ExitCode, CliError> {
    let context = connection.connect().await?;
    let raw = context.resolver.store_for_bucket(&args.raw_bucket)?;
    let options = SweepOptions {
        namespace_root: args.namespace_root.clone(),
        prefix: sweep_prefix(args.prefix.as_deref()),
        limit: args.limit,
        min_age_ms: args.min_age_seconds * 1000,
    };
    let all = args.all || args.prefix.is_some();
    let cursor = if all {
        None
    } else {
        Some(load_cursor(raw.as_ref()).await?)
    };
    let mut start_after = cursor.as_ref().and_then(|c| c.after.clone());
    let mut totals = SweepReport::default();
    let mut failed = Vec::new();
    let mut converted = 0;
    loop {
        let now = context.clock.now_ms();
        let report = sweep(
            &raw,
            &context.catalog,
            &options,
            start_after.as_deref(),
            now,
        )
        .await?;
        if !args.dry_run {
            let (ok, failures) = convert_missing(&context, &raw, &report).await?;
            converted += ok;
            failed.extend(failures);
            if let Some(cursor) = &cursor {
                save_cursor(raw.as_ref(), cursor, &report, now).await?;
            }
        }
        start_after = report.next_after.clone();
        let done = report.pass_complete || !all;
        add(&mut totals, report);
        if done {
            break;
        }
    }
    print(&totals, converted, &failed, args);
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

/// Converts the unaccounted objects of one page, per table; permanent failures get an error
/// record (so the next sweep leaves them be). Returns the objects committed and the failures.
async fn convert_missing(
    context: &Context,
    raw: &Arc<dyn ObjectStore>,
    report: &SweepReport,
) -> Result<(usize, Vec<String>), CliError> {
    // The CLI's own committer: it paces commits and waits out the catalog's limits, as `convert`.
    let converter = Converter::local(
        context.catalog.clone(),
        iceberg_io::file_io(context.resolver.clone() as Arc<dyn StoreResolver>),
        context.clock.clone(),
        LocalSettings::default(),
        ConvertOptions {
            on_invalid: OnInvalid::Skip,
            ..ConvertOptions::default()
        },
    );
    let mut by_table: BTreeMap<String, Vec<RawObject>> = BTreeMap::new();
    for missing in &report.unaccounted {
        by_table
            .entry(missing.table.clone())
            .or_default()
            .push(RawObject::from_meta(raw.clone(), missing.meta()));
    }
    let (mut committed, mut failed) = (0, Vec::new());
    for (table, objects) in by_table {
        let name = TableName::parse(&table)
            .ok_or_else(|| CliError::usage(format!("bad table name {table}")))?;
        let created: BTreeMap<String, i64> = objects
            .iter()
            .map(|o| (o.key.clone(), o.created_ms))
            .collect();
        let outcome = converter
            .convert(&name, objects)
            .await
            .map_err(|e| CliError::Convert(vec![e]))?;
        committed += outcome.objects.len();
        for pending in &outcome.pending {
            failed.push(format!(
                "{}: not committed yet (the catalog kept refusing within the wait)",
                pending.key
            ));
        }
        for failure in &outcome.failed {
            failed.push(failure.to_string());
            if failure.kind == FailureKind::Permanent {
                let record = ErrorRecord::new(
                    &failure.key,
                    &failure.etag,
                    failure.kind,
                    &failure.reason,
                    created.get(&failure.key).copied().unwrap_or_default(),
                    context.clock.now_ms(),
                )
                .with_table(&table);
                raw.put(&record.object_key(), record.to_json().into())
                    .await?;
            }
        }
    }
    Ok((committed, failed))
}

fn add(totals: &mut SweepReport, page: SweepReport) {
    if totals.started_after.is_none() && totals.examined == 0 {
        totals.started_after = page.started_after;
    }
    totals.next_after = page.next_after;
    totals.pass_complete = page.pass_complete;
    totals.examined += page.examined;
    totals.held += page.held;
    totals.superseded += page.superseded;
    totals.recorded += page.recorded;
    totals.too_young += page.too_young;
    totals.off_layout += page.off_layout;
    totals.unaccounted.extend(page.unaccounted);
}

fn print(report: &SweepReport, converted: usize, failed: &[String], args: &ReconcileArgs) {
    for failure in failed {
        eprintln!("icepipe: {failure}");
    }
    if args.json {
        let mut value = serde_json::to_value(report).expect("reports serialize");
        value["converted"] = json!(converted);
        value["failed"] = json!(failed);
        value["dry_run"] = json!(args.dry_run);
        println!("{value}");
        return;
    }
    println!(
        "examined {} raw object(s): {} held, {} superseded, {} recorded in _errors/, {} too young, {} off the layout; {} unaccounted",
        report.examined,
        report.held,
        report.superseded,
        report.recorded,
        report.too_young,
        report.off_layout,
        report.unaccounted.len()
    );
    for missing in &report.unaccounted {
        println!("  {} -> {}", missing.key, missing.table);
    }
    if args.dry_run {
        println!("dry run: nothing converted");
    } else {
        println!("converted {converted} object(s), {} failed", failed.len());
    }
    match &report.next_after {
        Some(after) => println!("next run starts after {after}"),
        None => println!("pass complete: the next run starts over"),
    }
}
