//! `icepipe convert`: resolve the inputs, group them by table, convert each group in one snapshot.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use icepipe_core::clock::{Clock, SystemClock};
use icepipe_core::commit::outcome::TableOutcome;
use icepipe_core::committer::local::{LocalCommitter, LocalSettings};
use icepipe_core::committer::table::{RoundOutcome, RoundReport};
use icepipe_core::convert::{ConvertError, ConvertOptions, Converter, OnInvalid};
use icepipe_core::raw::key::{
    LayoutError, RawKey, TableName, DEFAULT_NAMESPACE_ROOT, SOURCES_PREFIX,
};
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::{iceberg_io, ObjectStore, ObjectUrl, StoreResolver};

use crate::error::CliError;
use crate::local_store::LocalStore;
use crate::settings::{Connection, Context};

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Target table `namespace[.namespace...].table`; without it each object's table comes from
    /// its key: sources/<source>/<resource>/... -> <root>.<source>.<resource>.
    #[arg(long)]
    table: Option<String>,
    /// First namespace level(s) of tables named from the key layout.
    #[arg(long, default_value = DEFAULT_NAMESPACE_ROOT)]
    namespace_root: String,
    /// Commit the objects that convert and report the others (exit code 3) instead of
    /// committing nothing.
    #[arg(long)]
    skip_invalid: bool,
    /// Print one JSON object per table instead of a sentence.
    #[arg(long)]
    json: bool,
    /// Least seconds between two commit attempts to one table (R2 Data Catalog allows 20 per
    /// table per minute, lost races and refusals included).
    #[arg(long, env = "ICEPIPE_COMMIT_INTERVAL_SECONDS", default_value_t = 5.0)]
    commit_interval: f64,
    /// Catalog writes this process may make per minute in all (R2 Data Catalog: 120 per catalog).
    #[arg(long, env = "ICEPIPE_CATALOG_WRITES_PER_MINUTE", default_value_t = 100)]
    catalog_writes_per_minute: u32,
    /// Local files or directories, s3://bucket/key, or s3://bucket/prefix/ (every .parquet below).
    #[arg(required = true)]
    inputs: Vec<String>,
}

pub async fn run(connection: &Connection, args: &ConvertArgs) -> Result<ExitCode, CliError> {
    let explicit_table = match &args.table {
        Some(text) => Some(TableName::parse(text).ok_or_else(|| {
            CliError::usage(format!(
                "--table {text:?} must be namespace.table (namespaces may have several levels)"
            ))
        })?),
        None => None,
    };
    let context = connection.connect().await?;
    let objects = resolve_inputs(&context, &args.inputs).await?;
    if objects.is_empty() {
        return Err(CliError::usage(
            "no .parquet objects found in the given inputs",
        ));
    }

    let mut by_table: BTreeMap<TableName, Vec<RawObject>> = BTreeMap::new();
    let mut layout_errors = Vec::new();
    for object in objects {
        let table = match &explicit_table {
            Some(t) => Ok(t.clone()),
            None => table_from_layout(&object.key, &args.namespace_root),
        };
        match table {
            Ok(t) => by_table.entry(t).or_default().push(object),
            Err(reason) => layout_errors.push(format!("{}: {reason}", object.location())),
        }
    }
    if !layout_errors.is_empty() && !args.skip_invalid {
        return Err(CliError::usage(format!(
            "cannot tell the table of {} object(s) (pass --table, or use the raw layout); nothing committed:\n  {}",
            layout_errors.len(),
            layout_errors.join("\n  ")
        )));
    }
    for error in &layout_errors {
        eprintln!("icepipe: skipped {error}");
    }

    let file_io = iceberg_io::file_io(context.resolver.clone() as Arc<dyn StoreResolver>);
    let committer = LocalCommitter::new(
        context.catalog.clone(),
        file_io.clone(),
        context.clock.clone(),
        commit_settings(args)?,
    )
    .with_observer(Arc::new(print_note));
    let converter = Converter::with_committer(
        context.catalog.clone(),
        file_io,
        context.clock.clone(),
        Arc::new(committer),
        ConvertOptions {
            on_invalid: if args.skip_invalid {
                OnInvalid::Skip
            } else {
                OnInvalid::Abort
            },
            budget_bytes: None,
        },
    );
    let mut partial = !layout_errors.is_empty();
    let mut failed = Vec::new();
    for (table, objects) in by_table {
        match converter.convert(&table, objects).await {
            Ok(outcome) if !outcome.pending.is_empty() => {
                report(&outcome, args.json);
                failed.push(ConvertError::Uncommitted {
                    table: outcome.table.clone(),
                    objects: outcome.pending.len(),
                });
            }
            Ok(outcome) => {
                partial |= !outcome.failed.is_empty();
                report(&outcome, args.json);
            }
            Err(e) => failed.push(e),
        }
    }
    if !failed.is_empty() {
        return Err(CliError::Convert(failed));
    }
    Ok(if partial {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

fn commit_settings(args: &ConvertArgs) -> Result<LocalSettings, CliError> {
    if !(args.commit_interval >= 0.0 && args.commit_interval.is_finite()) {
        return Err(CliError::usage(format!(
            "--commit-interval {} must be a number of seconds, 0 or more",
            args.commit_interval
        )));
    }
    if args.catalog_writes_per_minute == 0 {
        return Err(CliError::usage(
            "--catalog-writes-per-minute must be at least 1",
        ));
    }
    let mut settings = LocalSettings::default();
    settings.committer.interval_ms = (args.commit_interval * 1000.0).round() as i64;
    settings.budget.writes = args.catalog_writes_per_minute;
    Ok(settings)
}

/// What a user waiting on the catalog should know: why nothing seems to happen for a while.
fn print_note(round: &RoundReport) {
    let wait_s = |round: &RoundReport| {
        round
            .next_round_ms
            .map(|t| (t - SystemClock.now_ms()).max(0) as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    match round.outcome {
        RoundOutcome::RateLimited => eprintln!(
            "icepipe: note: the catalog refused a commit to {} for its rate limit: {}; waiting {:.0} s as it asks (Retry-After), then going on",
            round.table,
            round.detail.as_deref().unwrap_or("HTTP 429"),
            wait_s(round)
        ),
        RoundOutcome::LostRace => eprintln!(
            "icepipe: note: another writer committed to {} first ({}); retrying on the new state in {:.1} s",
            round.table,
            round.detail.as_deref().unwrap_or("conflict"),
            wait_s(round)
        ),
        RoundOutcome::OutcomeUnknown => eprintln!(
            "icepipe: note: the answer to a commit to {} was lost ({}); checking the table before retrying",
            round.table,
            round.detail.as_deref().unwrap_or("unknown")
        ),
        RoundOutcome::Failed => eprintln!(
            "icepipe: note: a commit round for {} failed ({}); retrying in {:.0} s",
            round.table,
            round.detail.as_deref().unwrap_or("unknown"),
            wait_s(round)
        ),
        RoundOutcome::Waiting if wait_s(round) >= 2.0 => eprintln!(
            "icepipe: note: waiting {:.0} s for the next commit slot of {} (the table's pace and the catalog's write budget)",
            wait_s(round),
            round.table
        ),
        _ => {}
    }
}

fn report(outcome: &TableOutcome, json: bool) {
    for failure in &outcome.failed {
        eprintln!("icepipe: skipped {failure}");
    }
    for superseded in &outcome.superseded {
        eprintln!(
            "icepipe: skipped {}: {}",
            superseded.object, superseded.reason
        );
    }
    if json {
        println!(
            "{}",
            serde_json::to_string(outcome).expect("outcome serializes")
        );
        return;
    }
    match outcome.snapshot_id {
        Some(id) => println!(
            "{}: committed snapshot {id}: {} object(s), {} data file(s), {} rows, {} bytes{}{}",
            outcome.table,
            outcome.objects.len(),
            outcome.data_files,
            outcome.rows,
            outcome.bytes,
            if outcome.created_table {
                " (table created)"
            } else {
                ""
            },
            if outcome.skipped.is_empty() {
                String::new()
            } else {
                format!("; {} object(s) already in the table", outcome.skipped.len())
            }
        ),
        None => println!(
            "{}: nothing new to commit ({} object(s) already in the table)",
            outcome.table,
            outcome.skipped.len()
        ),
    }
    if let Some(load) = &outcome.replace_load_id {
        println!(
            "  replace load {load}: removed {} data file(s), {} rows",
            outcome.removed_files, outcome.removed_rows
        );
    }
    for change in &outcome.schema_changes {
        println!("  schema: {change}");
    }
}

/// `<root>.<source>.<resource>` from the part of the key starting at `sources/`.
fn table_from_layout(key: &str, namespace_root: &str) -> Result<TableName, LayoutError> {
    let start = if key.starts_with(SOURCES_PREFIX) {
        0
    } else {
        key.find("/sources/")
            .map(|i| i + 1)
            .ok_or_else(|| LayoutError {
                key: key.to_string(),
                reason: format!("it is not under {SOURCES_PREFIX}"),
            })?
    };
    RawKey::parse(&key[start..]).map(|raw| raw.table(namespace_root))
}

async fn resolve_inputs(context: &Context, inputs: &[String]) -> Result<Vec<RawObject>, CliError> {
    let mut objects = Vec::new();
    for input in inputs {
        if input.starts_with("s3://") {
            let url = ObjectUrl::parse(input)
                .ok_or_else(|| CliError::usage(format!("{input} is not an s3://bucket/key URL")))?;
            let store: Arc<dyn ObjectStore> = context.resolver.store_for_bucket(&url.bucket)?;
            objects.extend(
                resolve(
                    store,
                    &url.key,
                    url.key.is_empty() || url.key.ends_with('/'),
                )
                .await?,
            );
        } else {
            let path = Path::new(input)
                .canonicalize()
                .map_err(|source| CliError::File {
                    path: input.clone(),
                    source,
                })?;
            let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(""));
            let key = path.to_string_lossy().into_owned();
            objects.extend(resolve(store, &key, path.is_dir()).await?);
        }
    }
    Ok(objects)
}

/// One object, or every `.parquet` object under a prefix.
async fn resolve(
    store: Arc<dyn ObjectStore>,
    key: &str,
    is_prefix: bool,
) -> Result<Vec<RawObject>, CliError> {
    if !is_prefix {
        let meta = store.head(key).await?;
        return Ok(vec![RawObject::from_meta(store, meta)]);
    }
    let listed = store.list(key).await?;
    Ok(listed
        .into_iter()
        .filter(|meta| meta.key.ends_with(".parquet"))
        .map(|meta| RawObject::from_meta(store.clone(), meta))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_from_layout_finds_sources_anywhere_in_a_path() {
        let t = table_from_layout(
            "/home/me/data/sources/shop/orders/year=2026/month=01/day=02/a.parquet",
            "analytics",
        )
        .unwrap();
        assert_eq!(t.to_string(), "analytics.shop.orders");
        assert!(table_from_layout("/tmp/x.parquet", "analytics")
            .unwrap_err()
            .to_string()
            .contains("not under sources/"));
    }
}
