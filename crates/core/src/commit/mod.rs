//! The exactly-once append commit.
//!
//! Before each attempt the table is checked: objects it already holds are dropped (a duplicate
//! delivery or a concurrent converter won), and a snapshot id of ours in its history means an
//! earlier attempt whose outcome was unknown did apply. The commit asserts the table uuid and the
//! parent snapshot; on 409 or an unknown outcome it reloads and tries again on the new parent,
//! reusing the data files already written.

pub mod ledger;
pub mod schema_plan;
pub mod snapshot;

use std::collections::HashSet;
use std::time::Duration;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, ManifestFile, PartitionSpecRef, SchemaRef, SnapshotReference, SnapshotRetention,
    TableMetadata,
};
use iceberg::{TableIdent, TableRequirement, TableUpdate};
use uuid::Uuid;

use crate::catalog::{CatalogError, LoadedTable, RestCatalog};
use crate::clock::Clock;
use ledger::{committed_objects, in_ancestry, RawObjectId};
use snapshot::{write_manifest, write_snapshot, SnapshotPlan};

pub const MAIN_BRANCH: &str = "main";
pub const DEFAULT_COMMIT_ATTEMPTS: u32 = 6;

/// Data files written for the raw objects of one table, ready to commit.
#[derive(Debug, Clone)]
pub struct PendingAppend {
    pub table: TableIdent,
    /// The schema the data files were written with.
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
    pub objects: Vec<(RawObjectId, Vec<DataFile>)>,
}

/// What the commit did.
#[derive(Debug, Clone)]
pub struct Committed {
    /// `None` when the table already held every object: nothing new was committed.
    pub snapshot_id: Option<i64>,
    pub metadata: TableMetadata,
    pub metadata_location: Option<String>,
    pub added: Vec<RawObjectId>,
    pub already_present: Vec<RawObjectId>,
    pub attempts: u32,
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

/// Commits `pending` on top of `base` (the table as last loaded).
pub async fn commit_append(
    catalog: &RestCatalog,
    file_io: &FileIO,
    clock: &dyn Clock,
    mut base: LoadedTable,
    pending: &PendingAppend,
    max_attempts: u32,
) -> Result<Committed, CommitError> {
    let table = pending.table.to_string();
    let metadata_error = |source| CommitError::Metadata {
        table: table.clone(),
        source,
    };
    let snapshot_id = new_snapshot_id(&base.metadata);
    let mut manifest: Option<(Vec<RawObjectId>, i32, ManifestFile)> = None;
    let mut last_error = String::new();
    for attempt in 1..=max_attempts {
        let meta = &base.metadata;
        let held = committed_objects(meta);
        let (fresh, present): (Vec<_>, Vec<_>) = pending
            .objects
            .iter()
            .partition(|(id, _)| !held.contains(id));
        let present: Vec<RawObjectId> = present.into_iter().map(|(id, _)| id.clone()).collect();
        if in_ancestry(meta, snapshot_id) {
            // An earlier attempt whose outcome was unknown did apply: its summary says what it added.
            let added = ledger::snapshot_objects(meta, snapshot_id);
            return Ok(Committed {
                snapshot_id: Some(snapshot_id),
                metadata: base.metadata.clone(),
                metadata_location: base.metadata_location.clone(),
                already_present: pending
                    .objects
                    .iter()
                    .map(|(id, _)| id.clone())
                    .filter(|id| !added.contains(id))
                    .collect(),
                added,
                attempts: attempt,
            });
        }
        if fresh.is_empty() {
            // A duplicate delivery, or a concurrent converter won: nothing new to commit.
            return Ok(Committed {
                snapshot_id: None,
                metadata: base.metadata.clone(),
                metadata_location: base.metadata_location.clone(),
                added: vec![],
                already_present: present,
                attempts: attempt,
            });
        }
        let Some(schema_plan) = schema_plan::plan(meta, &pending.schema) else {
            return Err(CommitError::SchemaChanged { table });
        };
        let fresh_ids: Vec<RawObjectId> = fresh.iter().map(|(id, _)| id.clone()).collect();
        let data_files: Vec<DataFile> = fresh
            .iter()
            .flat_map(|(_, files)| files.iter().cloned())
            .collect();

        // The manifest depends only on which files go in (and the schema id it records).
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
        let plan = SnapshotPlan {
            snapshot_id,
            schema_id: schema_plan.schema_id,
            timestamp_ms: clock.now_ms().max(meta.last_updated_ms() + 1),
            schema: pending.schema.clone(),
            spec: pending.spec.clone(),
            data_files: &data_files,
            objects: &fresh_ids,
            attempt,
        };
        let snapshot = write_snapshot(file_io, meta, &manifest_file, &plan)
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
                return Ok(Committed {
                    snapshot_id: Some(snapshot_id),
                    metadata: result.metadata,
                    metadata_location: Some(result.metadata_location),
                    added: fresh_ids,
                    already_present: present,
                    attempts: attempt,
                })
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
