//! The exactly-once commit: an append, or an overwrite when objects of a replace load come along.
//!
//! Before each attempt the table is checked: objects it already holds are dropped (a duplicate
//! delivery or a concurrent converter won), objects of a replace load older than the table's are
//! superseded, and a snapshot id of ours in its history means an earlier attempt whose outcome was
//! unknown did apply. The commit asserts the table uuid and the parent snapshot; on 409 or an
//! unknown outcome it reloads and tries again on the new parent, reusing the data files already
//! written and working out again what an overwrite removes.

pub mod ledger;
pub(crate) mod manifest;
pub mod outcome;
pub mod overwrite;
pub mod replace;
pub mod schema_plan;
pub mod snapshot;

use std::collections::HashSet;
use std::time::Duration;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, Operation, PartitionSpecRef, SchemaRef, SnapshotReference, SnapshotRetention,
    TableMetadata,
};
use iceberg::{TableIdent, TableRequirement, TableUpdate};
use uuid::Uuid;

use crate::catalog::{CatalogError, LoadedTable, RestCatalog};
use crate::clock::Clock;
use crate::raw::object::RawObjectId;
use crate::raw::summary::REPLACE_LOAD_PROPERTY;
use ledger::{in_ancestry, Ledger, LedgerError};
use outcome::SupersededObject;
use overwrite::{remove_files, Removal};
use replace::{triage, Offered, Triage};
use snapshot::{parent_manifests, write_manifest, write_snapshot, SnapshotPlan};

pub const MAIN_BRANCH: &str = "main";
pub const DEFAULT_COMMIT_ATTEMPTS: u32 = 6;

/// One raw object's data files, ready to commit.
#[derive(Debug, Clone)]
pub struct PendingObject {
    pub id: RawObjectId,
    /// Where the object is, for reports (`s3://bucket/key`, a path).
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

/// What a commit attempt did, object by object (the committer decides each object from it).
#[derive(Debug, Clone)]
pub struct Committed {
    /// `None` when nothing new was committed (every object held or superseded).
    pub snapshot_id: Option<i64>,
    pub metadata: TableMetadata,
    pub metadata_location: Option<String>,
    pub added: Vec<RawObjectId>,
    pub already_present: Vec<RawObjectId>,
    pub superseded: Vec<SupersededObject>,
    /// The replace load the snapshot applied (an overwrite).
    pub replace_load: Option<String>,
    /// Data files (and their rows) the overwrite removed.
    pub removed_files: usize,
    pub removed_rows: u64,
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
    #[error("table {table}: {source}")]
    Ledger {
        table: String,
        #[source]
        source: LedgerError,
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
            CommitError::Ledger { source, .. } => source.is_transient(),
            _ => true,
        }
    }
}

/// What one commit attempt came to.
#[derive(Debug)]
pub enum Attempt {
    /// Our snapshot is the table's new state.
    Applied(Box<Committed>),
    /// An earlier attempt whose answer was lost did apply (its snapshot is in the table's history):
    /// nothing was sent this time.
    AppliedEarlier(Box<Committed>),
    /// Nothing new to commit (every object held or superseded): nothing was sent.
    NothingNew(Box<Committed>),
    /// Another writer committed first (a failed requirement, `409`, or R2's
    /// `400 ConcurrentUpdateError`): reload and try again on the new parent.
    LostRace { detail: String },
    /// The catalog's rate limit (`429`): nothing was applied; try again after `retry_after`.
    RateLimited {
        retry_after: Duration,
        detail: String,
    },
    /// The answer was lost (5xx, timeout, broken connection): the next attempt reloads, and
    /// finding `snapshot_id` in the table's history tells that this one applied.
    OutcomeUnknown { reason: String },
}

impl Attempt {
    /// Whether a request was sent to the catalog (it counts against the rate limits).
    pub fn sent(&self) -> bool {
        !matches!(self, Attempt::NothingNew(_) | Attempt::AppliedEarlier(_))
    }
}

/// One attempt to commit `pending` on top of `base` (the table as just loaded) as snapshot
/// `snapshot_id`. The same `snapshot_id` must be used for every attempt of the same objects: it is
/// how a later attempt recognizes that an earlier one applied after all.
///
/// `attempt` numbers the try (it keeps each try's manifest list a distinct file).
pub async fn attempt(
    catalog: &RestCatalog,
    file_io: &FileIO,
    clock: &dyn Clock,
    base: &LoadedTable,
    pending: &PendingCommit,
    snapshot_id: i64,
    attempt: u32,
) -> Result<Attempt, CommitError> {
    let table = pending.table.to_string();
    let metadata_error = |source| CommitError::Metadata {
        table: table.clone(),
        source,
    };
    let ledger_error = |source| CommitError::Ledger {
        table: table.clone(),
        source,
    };
    let offered: Vec<Offered<'_>> = pending.objects.iter().map(PendingObject::offered).collect();
    let meta = &base.metadata;
    let ledger = Ledger::load(file_io, meta).await.map_err(ledger_error)?;
    let offered_ids: Vec<RawObjectId> = pending.objects.iter().map(|o| o.id.clone()).collect();
    let held = ledger
        .holdings(file_io, &offered_ids)
        .await
        .map_err(ledger_error)?;
    let sorted = triage(&held, ledger.replace_load(), &offered);
    if in_ancestry(meta, snapshot_id) {
        // An earlier attempt whose outcome was unknown did apply: its ledger says what it did.
        let added = Ledger::added_by(file_io, meta, snapshot_id)
            .await
            .map_err(ledger_error)?;
        let earlier = applied_earlier(base, pending, &sorted, snapshot_id, attempt, added);
        return Ok(Attempt::AppliedEarlier(Box::new(earlier)));
    }
    let outcome = |snapshot_id, metadata: &TableMetadata, location| Committed {
        snapshot_id,
        metadata: metadata.clone(),
        metadata_location: location,
        added: vec![],
        already_present: ids(pending, &sorted.present),
        superseded: superseded(pending, &sorted),
        replace_load: None,
        removed_files: 0,
        removed_rows: 0,
        attempts: attempt,
    };
    if sorted.fresh.is_empty() {
        // A duplicate delivery, a concurrent converter won, or only superseded objects.
        let nothing = outcome(None, meta, base.metadata_location.clone());
        return Ok(Attempt::NothingNew(Box::new(nothing)));
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
    let manifest_file = write_manifest(
        file_io,
        meta,
        pending.schema.clone(),
        pending.spec.clone(),
        snapshot_id,
        &data_files,
    )
    .await
    .map_err(metadata_error)?;
    // What an overwrite removes depends on the parent: worked out again on every attempt.
    let parents = parent_manifests(file_io, meta)
        .await
        .map_err(metadata_error)?;
    let (operation, removal) = match &sorted.replace_load {
        Some(load) => {
            let keep = ledger.snapshots_of_load(meta, load);
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
        .or_else(|| ledger.replace_load().map(str::to_string));
    // The ledger of the new snapshot: visible only if the commit that points at it applies.
    let replace_state = ledger.replace_after(snapshot_id, sorted.replace_load.as_deref());
    let ledger_update = ledger
        .record(file_io, meta, &fresh_ids, snapshot_id, replace_state)
        .await
        .map_err(ledger_error)?;
    let plan = SnapshotPlan {
        snapshot_id,
        schema_id: schema_plan.schema_id,
        timestamp_ms: clock.now_ms().max(meta.last_updated_ms() + 1),
        schema: pending.schema.clone(),
        spec: pending.spec.clone(),
        operation,
        data_files: &data_files,
        removed: &removal.removed,
        extra_summary: &ledger_update.summary,
        replace_load: replace_load.as_deref(),
        attempt,
    };
    let snapshot = write_snapshot(
        file_io,
        meta,
        removal.manifests,
        std::slice::from_ref(&manifest_file),
        &plan,
    )
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
    updates.push(TableUpdate::SetProperties {
        updates: [ledger_update.table_property()].into(),
    });
    updates.push(TableUpdate::SetSnapshotRef {
        ref_name: MAIN_BRANCH.to_string(),
        reference: SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
    });

    match catalog
        .commit_table(&pending.table, requirements, updates)
        .await
    {
        Ok(result) => Ok(Attempt::Applied(Box::new(Committed {
            added: fresh_ids,
            replace_load: sorted.replace_load.clone(),
            removed_files: removal.removed.len(),
            removed_rows: removal.removed.iter().map(|r| r.file.record_count()).sum(),
            ..outcome(
                Some(snapshot_id),
                &result.metadata,
                Some(result.metadata_location),
            )
        }))),
        Err(CatalogError::CommitConflict { detail, .. }) => Ok(Attempt::LostRace { detail }),
        Err(CatalogError::RateLimited {
            retry_after_seconds,
            detail,
            ..
        }) => Ok(Attempt::RateLimited {
            retry_after: Duration::from_secs(retry_after_seconds),
            detail,
        }),
        Err(CatalogError::CommitOutcomeUnknown { reason, .. }) => {
            Ok(Attempt::OutcomeUnknown { reason })
        }
        // Nothing was applied and a later try may work (catalog unreachable before sending).
        Err(e) if e.is_transient() => Ok(Attempt::OutcomeUnknown {
            reason: e.to_string(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// The outcome of our snapshot found applied on reload (its summary is the record).
fn applied_earlier(
    base: &LoadedTable,
    pending: &PendingCommit,
    sorted: &Triage,
    snapshot_id: i64,
    attempt: u32,
    added: Vec<RawObjectId>,
) -> Committed {
    let meta = &base.metadata;
    let summary = meta.snapshot_by_id(snapshot_id).map(|s| s.summary());
    let count = |key: &str| -> u64 {
        summary
            .and_then(|s| s.additional_properties.get(key))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let superseded = superseded(pending, sorted);
    Committed {
        snapshot_id: Some(snapshot_id),
        metadata: meta.clone(),
        metadata_location: base.metadata_location.clone(),
        // Held by the table, but not through this snapshot. Objects the table does not hold yet
        // (handed over after the lost attempt) are in neither list: still to commit.
        already_present: ids(pending, &sorted.present)
            .into_iter()
            .filter(|id| !added.contains(id))
            .collect(),
        added,
        superseded,
        replace_load: summary
            .filter(|s| s.operation == Operation::Overwrite)
            .and_then(|s| s.additional_properties.get(REPLACE_LOAD_PROPERTY))
            .cloned(),
        removed_files: count("deleted-data-files") as usize,
        removed_rows: count("deleted-records"),
        attempts: attempt,
    }
}

fn ids(pending: &PendingCommit, indices: &[usize]) -> Vec<RawObjectId> {
    indices
        .iter()
        .map(|&i| pending.objects[i].id.clone())
        .collect()
}

fn superseded(pending: &PendingCommit, sorted: &Triage) -> Vec<SupersededObject> {
    sorted
        .superseded
        .iter()
        .map(|s| {
            let object = &pending.objects[s.index];
            SupersededObject::new(object.location.clone(), &object.id, &s.load, &s.by_load)
        })
        .collect()
}

/// A positive id no snapshot of the table has.
pub fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    let taken: HashSet<i64> = metadata.snapshots().map(|s| s.snapshot_id()).collect();
    loop {
        let id = (Uuid::new_v4().as_u64_pair().0 & (i64::MAX as u64)) as i64;
        if id != 0 && !taken.contains(&id) {
            return id;
        }
    }
}
