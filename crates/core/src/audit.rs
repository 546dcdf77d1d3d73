//! `icepipe audit` and the Worker's `GET /audit`: per table, is every raw object accounted for,
//! and do the table's manifests and files agree?
//!
//! - Every raw object under the table's prefix is held, superseded or recorded in `_errors/`
//!   ([`crate::standing`]); the others are listed as unaccounted.
//! - The rows the table holds for each raw object equal its footer's rows. Data files do not name
//!   their raw object in Iceberg metadata, but icepipe names them `<digest of (key, eTag)>-<part>`,
//!   so the live files are traced back by name: no extra state, and tables written before the
//!   audit existed are covered. Files named otherwise (compaction, other writers) cannot be traced:
//!   then only an object with too many rows is reported.
//! - Live manifest entries point at files that exist, none twice; each entry's row count equals
//!   the data file's footer; the snapshot summary's `total-records` equals the entries' sum.
//!
//! Bounded: at most `max_objects` raw objects and `max_data_files` data files per table are
//! examined (what was left out is said).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::{DataContentType, TableMetadata};
use serde::Serialize;

use crate::catalog::RestCatalog;
use crate::commit::snapshot::parent_manifests;
use crate::convert::reader::ObjectReader;
use crate::raw::error_record::ErrorIndex;
use crate::raw::key::{RawKey, TableName, SOURCES_PREFIX};
use crate::raw::object::{data_file_digest, object_digest};
use crate::standing::{load_of, standing_of, Standing, StandingError, TableState};
use crate::storage::{ObjectMeta, ObjectStore, ObjectUrl, StorageError, StoreResolver};

#[derive(Debug, Clone)]
pub struct AuditOptions {
    pub namespace_root: String,
    /// Only this table (else every table with raw objects).
    pub table: Option<TableName>,
    /// Only raw objects modified at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Raw objects listed at most (over all tables; the listing cannot filter by time).
    pub max_listed: usize,
    pub max_objects: usize,
    pub max_data_files: usize,
}

/// Everything the audit reads.
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub raw: Arc<dyn ObjectStore>,
    pub catalog: Arc<RestCatalog>,
    /// Table files (manifests through `file_io`, data file footers through `tables`).
    pub file_io: FileIO,
    pub tables: Arc<dyn StoreResolver>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditReport {
    /// Nothing is off in any table.
    pub ok: bool,
    /// The raw listing stopped at `max_listed` objects: later keys were not audited.
    pub listing_truncated: bool,
    pub tables: Vec<TableAudit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowMismatch {
    pub key: String,
    pub footer_rows: u64,
    pub table_rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountMismatch {
    pub file: String,
    pub manifest_rows: u64,
    pub file_rows: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TableAudit {
    pub table: String,
    pub exists: bool,
    pub snapshot_id: Option<i64>,
    /// Raw objects examined, and how they stand.
    pub raw_objects: usize,
    pub held: usize,
    pub superseded: usize,
    pub recorded: usize,
    /// Raw keys no one accounts for (not held, not superseded, no error record).
    pub unaccounted: Vec<String>,
    /// Held objects whose rows in the table differ from their footer's.
    pub row_mismatches: Vec<RowMismatch>,
    /// Live data files examined.
    pub data_files: usize,
    pub missing_files: Vec<String>,
    /// Files listed more than once among the live manifest entries.
    pub duplicate_files: Vec<String>,
    pub count_mismatches: Vec<CountMismatch>,
    /// `total-records` of the snapshot vs the live entries' sum, when they differ.
    pub summary_rows: Option<(u64, u64)>,
    /// Objects or files that could not be read (named, with the reason).
    pub unreadable: Vec<String>,
    pub notes: Vec<String>,
    /// What to run to fix what is off.
    pub fixes: Vec<String>,
    pub ok: bool,
}

impl TableAudit {
    fn conclude(&mut self) {
        // `<root>.<source>.<resource>` -> `<source>/<resource>` (replay adds `sources/`).
        let mut levels = self.table.rsplit('.');
        let resource = levels.next().unwrap_or_default();
        let raw_prefix = format!("{}/{resource}", levels.next().unwrap_or_default());
        if !self.unaccounted.is_empty() {
            self.fixes.push(format!(
                "{} raw object(s) never reached the table: run `icepipe reconcile --all` (converts what no table holds), \
                 or POST /replay {{\"prefix\": \"{raw_prefix}/\"}} on the convert Worker",
                self.unaccounted.len()
            ));
        }
        if !self.row_mismatches.is_empty() {
            self.fixes.push(format!(
                "{} raw object(s) are held with other row counts than their files: roll the table back to the snapshot \
                 before they were committed (PyIceberg: table.manage_snapshots().rollback_to_snapshot(id)), then \
                 `icepipe convert` them again",
                self.row_mismatches.len()
            ));
        }
        if !self.missing_files.is_empty() {
            self.fixes.push(format!(
                "{} data file(s) referenced by the table are gone: restore them, or roll back to a snapshot that does not \
                 reference them and replay the raw objects they came from",
                self.missing_files.len()
            ));
        }
        if !self.duplicate_files.is_empty()
            || !self.count_mismatches.is_empty()
            || self.summary_rows.is_some()
        {
            self.fixes.push(
                "the manifests disagree with the data files (rows would be read twice or counted wrong): roll back to the \
                 last snapshot the audit finds healthy, or rewrite the manifests (Spark: CALL system.rewrite_manifests)"
                    .to_string(),
            );
        }
        self.ok = self.fixes.is_empty() && self.unreadable.is_empty();
        if !self.unreadable.is_empty() {
            self.fixes.push(
                "some objects or files could not be read (see unreadable): check storage access and run the audit again"
                    .to_string(),
            );
        }
    }
}

/// Audits every table with raw objects (or the one asked for).
pub async fn audit(
    ctx: &AuditContext,
    options: &AuditOptions,
) -> Result<AuditReport, StandingError> {
    let prefix = match &options.table {
        Some(table) => table_prefix(table, &options.namespace_root).ok_or_else(|| {
            StandingError::Storage(StorageError::other(
                table.to_string(),
                format!(
                    "table {table} is not under the namespace root {}: it has no raw prefix",
                    options.namespace_root
                ),
            ))
        })?,
        None => SOURCES_PREFIX.to_string(),
    };
    let mut by_table: BTreeMap<String, (TableName, Vec<ObjectMeta>)> = BTreeMap::new();
    if let Some(table) = &options.table {
        by_table.insert(table.to_string(), (table.clone(), Vec::new()));
    }
    let listed = ctx
        .raw
        .list_after(&prefix, None, options.max_listed.max(1))
        .await?;
    for object in listed.objects {
        if options
            .since_ms
            .is_some_and(|s| object.last_modified_ms < s)
        {
            continue;
        }
        let Ok(key) = RawKey::parse(&object.key) else {
            continue;
        };
        let table = key.table(&options.namespace_root);
        by_table
            .entry(table.to_string())
            .or_insert_with(|| (table, Vec::new()))
            .1
            .push(object);
    }
    let mut report = AuditReport {
        ok: true,
        listing_truncated: listed.truncated,
        tables: Vec::new(),
    };
    for (_, (table, objects)) in by_table {
        let audit = audit_table(ctx, options, &table, objects).await?;
        report.ok &= audit.ok;
        report.tables.push(audit);
    }
    Ok(report)
}

/// `sources/<source>/<resource>/` of `<root>.<source>.<resource>`.
fn table_prefix(table: &TableName, root: &str) -> Option<String> {
    let root: Vec<&str> = root.split('.').filter(|l| !l.is_empty()).collect();
    let (source, levels) = table.namespace.split_last()?;
    (levels == root.as_slice()).then(|| format!("{SOURCES_PREFIX}{source}/{}/", table.name))
}

async fn audit_table(
    ctx: &AuditContext,
    options: &AuditOptions,
    table: &TableName,
    mut objects: Vec<ObjectMeta>,
) -> Result<TableAudit, StandingError> {
    let state = TableState::load(&ctx.catalog, table).await?;
    let mut audit = TableAudit {
        table: table.to_string(),
        exists: state.metadata.is_some(),
        snapshot_id: state
            .metadata
            .as_ref()
            .and_then(|m| m.current_snapshot_id()),
        ..Default::default()
    };
    keep_first(
        &mut objects,
        options.max_objects,
        "raw objects (raise the limit or narrow with --since)",
        &mut audit.notes,
    );
    audit.raw_objects = objects.len();

    let live = match &state.metadata {
        Some(metadata) => check_files(ctx, options, metadata, &mut audit).await,
        None => LiveFiles::default(),
    };

    let mut errors = ErrorIndex::new(ctx.raw.as_ref());
    for object in &objects {
        match standing_of(&ctx.raw, object, &state, &mut errors).await? {
            Standing::Held => {
                let table_rows = live.rows_of(&object_digest(&object.key, &object.etag));
                match footer_rows(&ctx.raw, object).await {
                    Ok(footer_rows) if footer_rows == table_rows => audit.held += 1,
                    Ok(footer_rows) => {
                        if table_rows == 0 && replaced(&ctx.raw, object, &state).await {
                            audit.superseded += 1;
                        } else if table_rows < footer_rows && live.untraced > 0 {
                            // Its files may have been compacted into files we cannot trace.
                            audit.held += 1;
                        } else {
                            audit.held += 1;
                            audit.row_mismatches.push(RowMismatch {
                                key: object.key.clone(),
                                footer_rows,
                                table_rows,
                            });
                        }
                    }
                    Err(reason) => {
                        audit.held += 1;
                        audit.unreadable.push(format!("{}: {reason}", object.key));
                    }
                }
            }
            Standing::Superseded { .. } => audit.superseded += 1,
            Standing::Recorded => audit.recorded += 1,
            Standing::Unaccounted => audit.unaccounted.push(object.key.clone()),
        }
    }
    if live.untraced > 0 {
        audit.notes.push(format!(
            "{} live data file(s) are not named after a raw object (compaction or another writer): objects with \
             fewer rows than their files are not reported",
            live.untraced
        ));
    }
    audit.conclude();
    Ok(audit)
}

/// A held object with no rows left whose load is not the table's current replace load: a newer
/// replace load removed its rows (it is superseded, not lost).
async fn replaced(raw: &Arc<dyn ObjectStore>, object: &ObjectMeta, state: &TableState) -> bool {
    let Some(table_load) = &state.replace_load else {
        return false;
    };
    let load = load_of(raw, object).await;
    load.and_then(|l| l.load_id)
        .is_none_or(|load| load != *table_load)
}

async fn footer_rows(
    raw: &Arc<dyn ObjectStore>,
    object: &ObjectMeta,
) -> parquet::errors::Result<u64> {
    ObjectReader::new(raw.clone(), object.key.clone(), object.size)
        .declared_rows()
        .await
}

/// Rows of the live data files, per raw object digest.
#[derive(Debug, Default)]
struct LiveFiles {
    rows_by_digest: HashMap<String, u64>,
    /// Live files not named after a raw object.
    untraced: usize,
}

impl LiveFiles {
    fn rows_of(&self, digest: &str) -> u64 {
        self.rows_by_digest.get(digest).copied().unwrap_or(0)
    }
}

/// Checks the current snapshot's live manifest entries against the files and the summary.
async fn check_files(
    ctx: &AuditContext,
    options: &AuditOptions,
    metadata: &TableMetadata,
    audit: &mut TableAudit,
) -> LiveFiles {
    let mut live = LiveFiles::default();
    let manifests = match parent_manifests(&ctx.file_io, metadata).await {
        Ok(manifests) => manifests,
        Err(e) => {
            audit
                .unreadable
                .push(format!("manifest list of the current snapshot: {e}"));
            return live;
        }
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut entry_rows: u64 = 0;
    let mut entries = Vec::new();
    for manifest in manifests {
        match manifest.load_manifest(&ctx.file_io).await {
            Ok(loaded) => {
                for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
                    let file = entry.data_file();
                    if file.content_type() != DataContentType::Data {
                        continue;
                    }
                    entry_rows += file.record_count();
                    let path = file.file_path().to_string();
                    if !seen.insert(path.clone()) {
                        audit.duplicate_files.push(path);
                        continue;
                    }
                    match data_file_digest(&path) {
                        Some(digest) => {
                            *live.rows_by_digest.entry(digest.to_string()).or_insert(0) +=
                                file.record_count()
                        }
                        None => live.untraced += 1,
                    }
                    entries.push((path, file.record_count()));
                }
            }
            Err(e) => audit
                .unreadable
                .push(format!("manifest {}: {e}", manifest.manifest_path)),
        }
    }
    if let Some(summary) = metadata
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-records"))
        .and_then(|v| v.parse::<u64>().ok())
    {
        if summary != entry_rows {
            audit.summary_rows = Some((summary, entry_rows));
        }
    }
    keep_first(
        &mut entries,
        options.max_data_files,
        "live data files (checked against their footers)",
        &mut audit.notes,
    );
    audit.data_files = entries.len();
    for (path, manifest_rows) in entries {
        match data_file_rows(ctx, &path).await {
            Ok(file_rows) if file_rows == manifest_rows => {}
            Ok(file_rows) => audit.count_mismatches.push(CountMismatch {
                file: path,
                manifest_rows,
                file_rows,
            }),
            Err(StorageError::NotFound { .. }) => audit.missing_files.push(path),
            Err(e) => audit.unreadable.push(format!("{path}: {e}")),
        }
    }
    live
}

/// Keeps the first `max` of `items`, noting how many there were.
fn keep_first<T>(items: &mut Vec<T>, max: usize, what: &str, notes: &mut Vec<String>) {
    if items.len() > max {
        notes.push(format!("{} {what}: the first {max} examined", items.len()));
        items.truncate(max);
    }
}

/// The rows a data file's footer declares.
async fn data_file_rows(ctx: &AuditContext, path: &str) -> Result<u64, StorageError> {
    let url =
        ObjectUrl::parse(path).ok_or_else(|| StorageError::other(path, "not an s3:// location"))?;
    let store = ctx.tables.store_for_bucket(&url.bucket)?;
    let meta = store.head(&url.key).await?;
    ObjectReader::new(store, url.key, meta.size)
        .declared_rows()
        .await
        .map_err(|e| StorageError::other(path, format!("unreadable footer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_maps_to_its_raw_prefix_under_the_root() {
        let table = TableName::parse("analytics.shop.orders").unwrap();
        assert_eq!(
            table_prefix(&table, "analytics").as_deref(),
            Some("sources/shop/orders/")
        );
        let deep = TableName::parse("a.b.shop.orders").unwrap();
        assert_eq!(
            table_prefix(&deep, "a.b").as_deref(),
            Some("sources/shop/orders/")
        );
        assert_eq!(table_prefix(&table, "other"), None);
    }

    #[test]
    fn fixes_name_what_to_run() {
        let mut healthy = TableAudit {
            table: "analytics.shop.orders".into(),
            ..Default::default()
        };
        healthy.conclude();
        assert!(healthy.ok && healthy.fixes.is_empty());

        let mut off = TableAudit {
            table: "analytics.shop.orders".into(),
            unaccounted: vec!["sources/shop/orders/year=2026/month=01/day=01/a.parquet".into()],
            duplicate_files: vec!["s3://w/f.parquet".into()],
            ..Default::default()
        };
        off.conclude();
        assert!(!off.ok);
        assert!(
            off.fixes[0].contains("icepipe reconcile --all"),
            "{:?}",
            off.fixes
        );
        assert!(
            off.fixes[0].contains("\"prefix\": \"shop/orders/\""),
            "{:?}",
            off.fixes
        );
        assert!(
            off.fixes[1].contains("rewrite_manifests"),
            "{:?}",
            off.fixes
        );
    }
}
