//! The exactly-once commit: an append, or an overwrite when objects of a replace load come along.
//!
//! Before each attempt the table is checked: objects it already holds are dropped (a duplicate
//! delivery or a concurrent converter won), objects of a replace load older than the table's are
//! superseded, and a snapshot id of ours in its history means an earlier attempt whose outcome was
//! unknown did apply. The commit asserts the table uuid and the parent snapshot; on 409 or an
//! unknown outcome it reloads and tries again on the new parent, reusing the data files already
//! written and working out again what an overwrite removes.

pub mod ledger;
mod manifest;
pub mod outcome;
pub mod overwrite;
pub mod replace;
pub mod schema_plan;
pub mod snapshot;

use std::collections::HashSet;
use std::time::Duration;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, ManifestFile, Operation, PartitionSpecRef, SchemaRef, SnapshotReference,
    SnapshotRetention, TableMetadata,
};
use iceberg::{TableIdent, TableRequirement, TableUpdate};
use uuid::Uuid;

use crate::catalog::{CatalogError, LoadedTable, RestCatalog};
use crate::clock::Clock;
use crate::raw::object::RawObjectId;
use crate::raw::summary::REPLACE_LOAD_PROPERTY;
use ledger::in_ancestry;
use outcome::{SupersededObject, TableOutcome};
use overwrite::{remove_files, Removal};
use replace::{current_replace_load, snapshots_of_load, triage, Offered, Triage};
use snapshot::{parent_manifests, write_manifest, write_snapshot, SnapshotPlan};

pub const MAIN_BRANCH: &str = "main";
pub const DEFAULT_COMMIT_ATTEMPTS: u32 = 6;

/// One raw object's data files, ready to commit.
#[derive(Debug, Clone)]
pub struct PendingObject {
    pub id: RawObjectId,
    /// Where the object is, for the outcome (`s3://bucket/key`, a path).
    pub location: String,
    /// `Some(load id)` when the object belongs to a replace load, `None` for an append.
    pub replace_load: Option<String>,
    pub files: Vec<DataFile>,
}

impl PendingObject {
    fn offered(&self) -> Offered<'_> {
        Offered {
            id: &self.id,
            replace_load: self.replace_load.as_deref(),
        }
    }
}

/// Data files written for the raw objects of one table, ready to commit.
#[derive(Debug, Clone)]
pub struct PendingCommit {
    pub table: TableIdent,
    /// The schema the data files were written with.
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
    pub objects: Vec<PendingObject>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("table {table}: cannot write snapshot metadata: {source}")]
    Metadata {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("table {table}: its schema changed concurrently in a way the written files do not fit; convert again")]
    SchemaChanged { table: String },
    #[error("table {table}: gave up after {attempts} commit attempts; last error: {last}")]
    GaveUp {
        table: String,
        attempts: u32,
        last: String,
    },
}

impl CommitError {
    /// Everything but a non-transient catalog error may succeed on a later try.
    pub fn is_transient(&self) -> bool {
        match self {
            CommitError::Catalog(e) => e.is_transient(),
            _ => true,
        }
    }
}

/// Commits `pending` on top of `base` (the table as last loaded) and records in `outcome` what
/// became of each object (added, already held, superseded) and of the table (snapshot, attempts,
/// what an overwrite removed).
pub async fn commit(
    catalog: &RestCatalog,
    file_io: &FileIO,
    clock: &dyn Clock,
    mut base: LoadedTable,
    pending: &PendingCommit,
    max_attempts: u32,
    outcome: &mut TableOutcome,
) -> Result<(), CommitError> {
    let table = pending.table.to_string();
    let metadata_error = |source| CommitError::Metadata {
        table: table.clone(),
        source,
    };
    let snapshot_id = new_snapshot_id(&base.metadata);
    let offered: Vec<Offered<'_>> = pending.objects.iter().map(PendingObject::offered).collect();
    let mut manifest: Option<(Vec<RawObjectId>, i32, ManifestFile)> = None;
    let mut last_error = String::new();
    for attempt in 1..=max_attempts {
        let meta = &base.metadata;
        let sorted = triage(Some(meta), &offered);
        outcome.commit_attempts = attempt;
        if in_ancestry(meta, snapshot_id) {
            // An earlier attempt whose outcome was unknown did apply: its summary says what it did.
            applied_earlier(&base, pending, &sorted, snapshot_id, outcome);
            return Ok(());
        }
        if sorted.fresh.is_empty() {
            // A duplicate delivery, a concurrent converter won, or only superseded objects.
            outcome.metadata_location = base.metadata_location.clone();
            record_objects(outcome, pending, &sorted, &[]);
            return Ok(());
        }
        let Some(schema_plan) = schema_plan::plan(meta, &pending.schema) else {
            return Err(CommitError::SchemaChanged { table });
        };
        let fresh_ids = ids(pending, &sorted.fresh);
        let data_files: Vec<DataFile> = sorted
            .fresh
            .iter()
            .flat_map(|&i| pending.objects[i].files.iter().cloned())
            .collect();

        // The new manifest depends only on which files go in (and the schema id it records).
        let reusable = manifest
            .as_ref()
            .filter(|(ids, schema_id, _)| *ids == fresh_ids && *schema_id == schema_plan.schema_id)
            .map(|(_, _, m)| m.clone());
        let manifest_file = match reusable {
            Some(m) => m,
            None => {
                let written = write_manifest(
                    file_io,
                    meta,
                    pending.schema.clone(),
                    pending.spec.clone(),
                    snapshot_id,
                    &data_files,
                )
                .await
                .map_err(metadata_error)?;
                manifest = Some((fresh_ids.clone(), schema_plan.schema_id, written.clone()));
                written
            }
        };
        // What an overwrite removes depends on the parent: worked out again on every attempt.
        let parents = parent_manifests(file_io, meta)
            .await
            .map_err(metadata_error)?;
        let (operation, removal) = match &sorted.replace_load {
            Some(load) => {
                let keep = snapshots_of_load(meta, load);
                let removal = remove_files(file_io, meta, parents, snapshot_id, &keep)
                    .await
                    .map_err(metadata_error)?;
                (Operation::Overwrite, removal)
            }
            None => (
                Operation::Append,
                Removal {
                    manifests: parents,
                    removed: vec![],
                },
            ),
        };
        let replace_load = sorted
            .replace_load
            .clone()
            .or_else(|| current_replace_load(meta));
        let plan = SnapshotPlan {
            snapshot_id,
            schema_id: schema_plan.schema_id,
            timestamp_ms: clock.now_ms().max(meta.last_updated_ms() + 1),
            schema: pending.schema.clone(),
            spec: pending.spec.clone(),
            operation,
            data_files: &data_files,
            removed: &removal.removed,
            objects: &fresh_ids,
            replace_load: replace_load.as_deref(),
            attempt,
        };
        let snapshot = write_snapshot(file_io, meta, removal.manifests, &manifest_file, &plan)
            .await
            .map_err(metadata_error)?;

        let mut requirements = vec![
            TableRequirement::UuidMatch { uuid: meta.uuid() },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: MAIN_BRANCH.to_string(),
                snapshot_id: meta.current_snapshot_id(),
            },
        ];
        requirements.extend(schema_plan.requirements);
        let mut updates = schema_plan.updates;
        updates.push(TableUpdate::AddSnapshot { snapshot });
        updates.push(TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_string(),
            reference: SnapshotReference::new(
                snapshot_id,
                SnapshotRetention::branch(None, None, None),
            ),
        });

        match catalog
            .commit_table(&pending.table, requirements, updates)
            .await
        {
            Ok(result) => {
                outcome.snapshot_id = Some(snapshot_id);
                outcome.metadata_location = Some(result.metadata_location);
                outcome.replace_load_id = sorted.replace_load.clone();
                outcome.removed_files = removal.removed.len();
                outcome.removed_rows = removal.removed.iter().map(|r| r.file.record_count()).sum();
                record_objects(outcome, pending, &sorted, &fresh_ids);
                return Ok(());
            }
            Err(e) if retry_after(&e) => last_error = e.to_string(),
            Err(e) => return Err(e.into()),
        }
        if attempt < max_attempts {
            clock.sleep(backoff(attempt)).await;
            base = reload(catalog, clock, &pending.table).await?;
        }
    }
    Err(CommitError::GaveUp {
        table,
        attempts: max_attempts,
        last: last_error,
    })
}

/// Records our snapshot found applied on reload (its summary is the record).
fn applied_earlier(
    base: &LoadedTable,
    pending: &PendingCommit,
    sorted: &Triage,
    snapshot_id: i64,
    outcome: &mut TableOutcome,
) {
    let meta = &base.metadata;
    let added = ledger::snapshot_objects(meta, snapshot_id);
    let summary = meta.snapshot_by_id(snapshot_id).map(|s| s.summary());
    let count = |key: &str| -> u64 {
        summary
            .and_then(|s| s.additional_properties.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    outcome.snapshot_id = Some(snapshot_id);
    outcome.metadata_location = base.metadata_location.clone();
    outcome.replace_load_id = summary
        .filter(|s| s.operation == Operation::Overwrite)
        .and_then(|s| s.additional_properties.get(REPLACE_LOAD_PROPERTY))
        .cloned();
    outcome.removed_files = count("deleted-data-files") as usize;
    outcome.removed_rows = count("deleted-records");
    record_objects(outcome, pending, sorted, &added);
}

/// What became of each pending object: superseded, added by our snapshot (its files, rows and
/// bytes count), or already held by the table.
fn record_objects(
    outcome: &mut TableOutcome,
    pending: &PendingCommit,
    sorted: &Triage,
    added: &[RawObjectId],
) {
    for s in &sorted.superseded {
        let object = &pending.objects[s.index];
        outcome.superseded.push(SupersededObject::new(
            object.location.clone(),
            &object.id,
            &s.load,
            &s.by_load,
        ));
    }
    for (index, object) in pending.objects.iter().enumerate() {
        if sorted.superseded.iter().any(|s| s.index == index) {
            continue;
        }
        if added.contains(&object.id) {
            outcome.objects.push(object.location.clone());
            outcome.data_files += object.files.len();
            outcome.rows += object.files.iter().map(|f| f.record_count()).sum::<u64>();
            outcome.bytes += object
                .files
                .iter()
                .map(|f| f.file_size_in_bytes())
                .sum::<u64>();
        } else {
            outcome.skipped.push(object.location.clone());
        }
    }
}

fn ids(pending: &PendingCommit, indices: &[usize]) -> Vec<RawObjectId> {
    indices
        .iter()
        .map(|&i| pending.objects[i].id.clone())
        .collect()
}

/// Conflicts, unknown outcomes and an unreachable or failing catalog are worth another attempt
/// after a reload; the reload tells whether an unknown outcome applied.
fn retry_after(err: &CatalogError) -> bool {
    matches!(
        err,
        CatalogError::CommitConflict { .. } | CatalogError::CommitOutcomeUnknown { .. }
    ) || err.is_transient()
}

/// Reload, riding out a catalog that is briefly unavailable.
async fn reload(
    catalog: &RestCatalog,
    clock: &dyn Clock,
    table: &TableIdent,
) -> Result<LoadedTable, CommitError> {
    let mut attempt = 1;
    loop {
        match catalog.load_table(table).await {
            Ok(loaded) => return Ok(loaded),
            Err(e) if e.is_transient() && attempt < 3 => {
                clock.sleep(backoff(attempt)).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// 100 ms, 200 ms, 400 ms ... capped at 3 s, with jitter so racing converters spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64 << attempt.saturating_sub(1).min(5);
    let jitter = Uuid::new_v4().as_u64_pair().0 % (base / 2 + 1);
    Duration::from_millis((base + jitter).min(3000))
}

/// A positive id no snapshot of the table has.
fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    let taken: HashSet<i64> = metadata.snapshots().map(|s| s.snapshot_id()).collect();
    loop {
        let id = (Uuid::new_v4().as_u64_pair().0 & (i64::MAX as u64)) as i64;
        if id != 0 && !taken.contains(&id) {
            return id;
        }
    }
}
