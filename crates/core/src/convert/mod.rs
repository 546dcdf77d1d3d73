//! Converting raw Parquet objects into one table: probe every footer, have the table created or
//! its schema evolved, stream each object into data files, and hand them to the table's committer
//! ([`crate::committer`]), which commits them exactly once: an append, or an overwrite when objects
//! of a `replace` load come along (objects of a load older than the table's are superseded and
//! never written).
//!
//! Objects that cannot be converted are reported per object (permanent or transient) and, with
//! [`OnInvalid::Skip`], left out while the rest commit; with [`OnInvalid::Abort`] one bad object
//! stops the whole call before anything is committed.

mod block_buffer;
mod column_encoding;
mod compression;
mod dictionary;
pub(crate) mod file_metrics;
mod int96;
pub mod parallel_writer;
mod partition_split;
pub mod probe;
pub mod reader;
pub mod rows;
pub mod slicing;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::catalog::{CatalogError, CreateTable, LoadedTable, RestCatalog};
use crate::clock::Clock;
use crate::commit::ledger::{Ledger, TableHoldings};
pub use crate::commit::outcome::HandedOn;
use crate::commit::outcome::{
    MergedObject, ObjectFailure, PendingObjectOutcome, SupersededObject, TableOutcome,
};
use crate::commit::replace::{triage, Offered};
use crate::committer::handoff::SnapshotSummary;
use crate::committer::local::{LocalCommitter, LocalSettings};
use crate::committer::{
    Committer, CommitterError, HandoffObject, MergeOutcome, ObjectReport, ObjectState, Slice,
    Submitted,
};
use crate::raw::error_record::FailureKind;
use crate::raw::key::TableName;
use crate::raw::object::{RawObject, RawObjectId};
use crate::schema::{evolve, ColumnAliases, LOADED_AT_COLUMN};
use async_trait::async_trait;
use iceberg::io::FileIO;
use iceberg::spec::{serialize_data_file_to_json, Schema, Transform, UnboundPartitionSpec};
use iceberg::TableIdent;
use probe::{probe, ProbedObject};
use slicing::{plan_slices, row_group_bytes, ObjectSlice};
use writer::TableWriter;

/// Partition field name of new tables: `day(_loaded_at)`.
pub const LOADED_AT_DAY_PARTITION: &str = "_loaded_at_day";
/// How often a conversion starts over when its files no longer fit the table (a concurrent
/// schema or partition change by another writer).
const RECONVERT_ROUNDS: u32 = 3;

/// What to do with objects that cannot be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Commit nothing and report them (the CLI's default: a backfill is all or nothing).
    Abort,
    /// Commit the others and report them (the Worker: one bad file must not hold up a batch).
    Skip,
}

#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub on_invalid: OnInvalid,
    /// Raw bytes (row groups as stored) one converter converts at most, over all its calls: a
    /// larger object is split into slices ([`slicing`]) whose rest is handed on as
    /// continuations, and objects past the budget are deferred to another invocation. `None`:
    /// no limit (the CLI takes any size).
    pub budget_bytes: Option<u64>,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            on_invalid: OnInvalid::Abort,
            budget_bytes: None,
        }
    }
}

/// Where work a conversion leaves to other invocations goes (the convert Worker: its own queue).
#[async_trait]
pub trait Requeue: Send + Sync + std::fmt::Debug {
    /// Sends the work on; only once this succeeds may the caller count it as handed on.
    async fn send(&self, work: &[HandedOn]) -> Result<(), RequeueError>;
}

/// Work could not be sent on: the object fails for this invocation (transient: its message is
/// retried, nothing of it is committed meanwhile).
#[derive(Debug, thiserror::Error)]
#[error("sending {messages} message(s) to {destination} failed: {reason}")]
pub struct RequeueError {
    pub destination: String,
    pub messages: usize,
    pub reason: String,
    pub transient: bool,
}

impl RequeueError {
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

impl TableOutcome {
    /// Files a later answer about pending objects: the ones decided leave `pending`.
    pub fn settle_pending(&mut self, submitted: Submitted) {
        self.commit_attempts += submitted.attempts;
        self.add_snapshots(&submitted.snapshots);
        for report in submitted.objects {
            let Some(index) = self.pending.iter().position(|p| p.id() == report.id) else {
                continue;
            };
            let pending = &self.pending[index];
            let location = pending.object.clone();
            match report.state {
                ObjectState::Pending {
                    slices_done,
                    next_attempt_ms,
                    ..
                } => {
                    let pending = &mut self.pending[index];
                    pending.slices_done = slices_done;
                    pending.next_attempt_ms = next_attempt_ms;
                    continue;
                }
                ObjectState::Committed { snapshot_id } => {
                    self.snapshot_id = Some(snapshot_id);
                    self.data_files += pending.data_files;
                    self.rows += pending.rows;
                    self.bytes += pending.bytes;
                    self.objects.push(location);
                }
                ObjectState::AlreadyHeld => self.skipped.push(location),
                ObjectState::Superseded { load, by_load } => self.superseded.push(
                    SupersededObject::new(location, &report.id, &load, &by_load),
                ),
                ObjectState::Failed { reason } => self.failed.push(ObjectFailure {
                    object: location,
                    key: report.id.key.clone(),
                    etag: report.id.etag.clone(),
                    kind: FailureKind::Permanent,
                    reason,
                }),
                ObjectState::Reconvert { reason } => self.failed.push(ObjectFailure {
                    object: location,
                    key: report.id.key.clone(),
                    etag: report.id.etag.clone(),
                    kind: FailureKind::Transient,
                    reason: format!("{reason}; converted again on the next delivery"),
                }),
                ObjectState::Unknown => self.failed.push(ObjectFailure {
                    object: location,
                    key: report.id.key.clone(),
                    etag: report.id.etag.clone(),
                    kind: FailureKind::Transient,
                    reason: "the commit coordinator no longer knows it (its storage was reset); converted again on the next delivery".into(),
                }),
            }
            self.pending.remove(index);
        }
    }

    /// What the snapshots that committed this call's objects did besides adding them.
    fn add_snapshots(&mut self, snapshots: &[SnapshotSummary]) {
        for snapshot in snapshots {
            self.removed_files += snapshot.removed_files;
            self.removed_rows += snapshot.removed_rows;
            if snapshot.replace_load_id.is_some() {
                self.replace_load_id = snapshot.replace_load_id.clone();
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Boxed: committer errors are large and conversions return `Result` everywhere.
    #[error(transparent)]
    Committer(Box<CommitterError>),
    #[error("table {table}: {count} object(s) cannot be converted, nothing committed:\n  {list}", count = failures.len(), list = failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n  "))]
    Rejected {
        table: String,
        failures: Vec<ObjectFailure>,
    },
    #[error("table {table}: {reason}")]
    Table { table: String, reason: String },
    /// Handed to the committer, but the catalog took no commit within the wait (rate limits,
    /// lost races): nothing is lost, converting the same objects again finishes the job.
    #[error("table {table}: {objects} object(s) written but not committed: the catalog did not take a commit within the wait (see the notes above); run the same command again to finish")]
    Uncommitted { table: String, objects: usize },
    /// Boxed: ledger errors carry storage errors.
    #[error(transparent)]
    Ledger(Box<crate::commit::ledger::LedgerError>),
}

impl From<crate::commit::ledger::LedgerError> for ConvertError {
    fn from(err: crate::commit::ledger::LedgerError) -> Self {
        ConvertError::Ledger(Box::new(err))
    }
}

impl From<CommitterError> for ConvertError {
    fn from(err: CommitterError) -> Self {
        ConvertError::Committer(Box::new(err))
    }
}

impl ConvertError {
    /// Whether the same call may succeed later (catalog or storage trouble, races).
    pub fn is_transient(&self) -> bool {
        match self {
            ConvertError::Catalog(e) => e.is_transient(),
            ConvertError::Committer(e) => e.is_transient(),
            ConvertError::Rejected { failures, .. } => {
                failures.iter().all(|f| f.kind == FailureKind::Transient)
            }
            ConvertError::Table { .. } => false,
            ConvertError::Uncommitted { .. } => true,
            ConvertError::Ledger(e) => e.is_transient(),
        }
    }

    /// At least this long before the same call is worth another try, when known (a `429`).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            ConvertError::Catalog(e) => e.retry_after_seconds(),
            ConvertError::Committer(e) => e.retry_after_seconds(),
            _ => None,
        }
    }
}

/// Converts raw objects into tables of one catalog: reads the catalog, writes data files, and
/// hands them to the tables' committer (the only writer of the catalog).
#[derive(Debug, Clone)]
pub struct Converter {
    pub catalog: Arc<RestCatalog>,
    pub file_io: FileIO,
    pub clock: Arc<dyn Clock>,
    pub committer: Arc<dyn Committer>,
    pub options: ConvertOptions,
    /// Where slices and deferred objects go (`None`: nowhere, so no budget applies).
    pub requeue: Option<Arc<dyn Requeue>>,
    /// Raw bytes converted so far, against `options.budget_bytes`.
    spent: Arc<AtomicU64>,
}

impl Converter {
    /// A converter whose commits this process makes itself (the CLI, tests): the same pace, budget
    /// and exactly-once rounds as the convert Worker's coordinators.
    pub fn local(
        catalog: Arc<RestCatalog>,
        file_io: FileIO,
        clock: Arc<dyn Clock>,
        settings: LocalSettings,
        options: ConvertOptions,
    ) -> Self {
        let committer =
            LocalCommitter::new(catalog.clone(), file_io.clone(), clock.clone(), settings);
        Self::with_committer(catalog, file_io, clock, Arc::new(committer), options)
    }

    pub fn with_committer(
        catalog: Arc<RestCatalog>,
        file_io: FileIO,
        clock: Arc<dyn Clock>,
        committer: Arc<dyn Committer>,
        options: ConvertOptions,
    ) -> Self {
        Self {
            catalog,
            file_io,
            clock,
            committer,
            options,
            requeue: None,
            spent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Converts at most `options.budget_bytes` per converter and sends the rest on through
    /// `requeue` (the convert Worker).
    pub fn with_requeue(mut self, requeue: Arc<dyn Requeue>) -> Self {
        self.requeue = Some(requeue);
        self
    }

    /// Converts `objects` into `table`; every object of the call that commits does so in one
    /// snapshot when the committer can take them together. Objects the table already holds are
    /// skipped; per-object failures are reported in the outcome (or abort, per the options).
    pub async fn convert(
        &self,
        table: &TableName,
        objects: Vec<RawObject>,
    ) -> Result<TableOutcome, ConvertError> {
        let mut round = self.convert_once(table, objects.clone()).await?;
        // Objects whose files no longer fit the table (another writer changed its schema or spec
        // between our write and the commit): once more, against the table as it is now.
        for _ in 1..RECONVERT_ROUNDS {
            let again: Vec<RawObject> = objects
                .iter()
                .filter(|o| round.reconvert.contains(&o.id()))
                .cloned()
                .collect();
            if again.is_empty() {
                break;
            }
            let next = self.convert_once(table, again).await?;
            round.merge(next);
        }
        Ok(round.into_outcome())
    }

    async fn convert_once(
        &self,
        table: &TableName,
        objects: Vec<RawObject>,
    ) -> Result<Round, ConvertError> {
        let ident = table.to_ident();
        let mut round = Round::new(table);
        let outcome = &mut round.outcome;
        let started = self.clock.now_ms();
        let existing = match self.catalog.load_table(&ident).await {
            Ok(loaded) => Some(loaded),
            Err(CatalogError::TableNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let ledger = match &existing {
            Some(t) => Some(Ledger::load(&self.file_io, &t.metadata).await?),
            None => None,
        };
        let held = match &ledger {
            Some(ledger) => {
                let ids: Vec<RawObjectId> = objects.iter().map(RawObject::id).collect();
                ledger.holdings(&self.file_io, &ids).await?
            }
            None => TableHoldings::default(),
        };
        let mut seen = HashSet::new();
        let mut unseen = Vec::new();
        for object in objects {
            let id = object.id();
            if held.contains(&id) {
                outcome.skipped.push(object.location());
            } else if seen.insert((id, object.slice_index())) {
                unseen.push(object);
            }
        }
        // The committer may know them already: pending, or decided since the table was loaded.
        let ids: Vec<RawObjectId> = unseen.iter().map(RawObject::id).collect();
        let known = if ids.is_empty() {
            Vec::new()
        } else {
            self.committer.lookup(&ident, &ids).await?
        };
        let mut todo = Vec::new();
        for (object, report) in unseen.into_iter().zip(known) {
            match report.state {
                ObjectState::Unknown | ObjectState::Reconvert { .. } => todo.push(object),
                // A continuation converts its slice whatever the others did (the same files).
                ObjectState::Pending { .. } if object.slice.is_some() => todo.push(object),
                ObjectState::Pending { .. } => round.waiting.push(object),
                state => round.record(&object, &state),
            }
        }
        let outcome = &mut round.outcome;
        outcome.timings_ms.load = self.clock.now_ms() - started;
        if todo.is_empty() && round.waiting.is_empty() {
            return Ok(round);
        }

        let started = self.clock.now_ms();
        // Objects converted in slices: a slice that fails for good fails the whole object.
        let mut sliced: HashSet<RawObjectId> = todo
            .iter()
            .filter(|o| o.slice.is_some())
            .map(RawObject::id)
            .collect();
        let mut probed = Vec::new();
        for object in todo {
            match probe(object).await {
                Ok(p) => probed.push(p),
                Err(failure) => outcome.failed.push(failure),
            }
        }
        outcome.timings_ms.probe = self.clock.now_ms() - started;
        self.abort_if_rejected(outcome)?;
        let probed = drop_superseded(
            ledger.as_ref().and_then(Ledger::replace_load),
            &held,
            probed,
            outcome,
        );
        let probed = self.fit_budget(probed, outcome).await;
        sliced.extend(
            probed
                .iter()
                .filter(|p| p.object.slice.is_some())
                .map(|p| p.object.id()),
        );

        let mut slices = Vec::new();
        if let Some(first) = probed.first() {
            let mut base = match existing {
                Some(loaded) => loaded,
                None => {
                    outcome.created_table = true;
                    self.create_table(table, &first.schema).await?
                }
            };
            let (schema, accepted) = self.fit_schema(&base, probed, outcome);
            self.abort_if_rejected(outcome)?;
            if schema.schema_id() != base.metadata.current_schema_id() {
                // New columns or wider types are committed before any file is written with them.
                self.committer.evolve_schema(&ident, &schema).await?;
                base = self.catalog.load_table(&ident).await?;
            }
            let (merges, accepted): (Vec<ProbedObject>, Vec<ProbedObject>) =
                accepted.into_iter().partition(|p| p.load.merge.is_some());
            let started = self.clock.now_ms();
            slices = self.write(table, &base, &accepted, outcome).await?;
            outcome.timings_ms.write = self.clock.now_ms() - started;
            self.abort_if_rejected(outcome)?;
            self.merge(&ident, &merges, outcome).await;
            self.abort_if_rejected(outcome)?;
        }
        for failure in &round.outcome.failed {
            let id = RawObjectId {
                key: failure.key.clone(),
                etag: failure.etag.clone(),
            };
            if failure.kind == FailureKind::Permanent && sliced.contains(&id) {
                self.committer.fail(&ident, &id, &failure.reason).await?;
            }
        }
        if slices.is_empty() && round.waiting.is_empty() {
            return Ok(round);
        }

        let started = self.clock.now_ms();
        let waiting_ids: Vec<RawObjectId> = round.waiting.iter().map(RawObject::id).collect();
        let handoffs: Vec<HandoffObject> = slices.iter().map(|(_, h)| h.clone()).collect();
        let submitted = self
            .committer
            .submit(&ident, handoffs, &waiting_ids)
            .await?;
        round.outcome.timings_ms.commit = self.clock.now_ms() - started;
        round.outcome.commit_attempts = submitted.attempts;
        round.outcome.add_snapshots(&submitted.snapshots);
        round.settle(&slices, submitted.objects);
        Ok(round)
    }

    /// Applies each merge object through the table's committer, one snapshot each (the order
    /// does not matter: versions decide). A failure is the object's, as for any conversion.
    async fn merge(&self, ident: &TableIdent, merges: &[ProbedObject], outcome: &mut TableOutcome) {
        let started = self.clock.now_ms();
        for p in merges {
            let Some(keys) = &p.load.merge else { continue };
            match self.committer.merge(ident, &p.object, keys).await {
                Ok(MergeOutcome::Held) => outcome.skipped.push(p.object.location()),
                Ok(MergeOutcome::Applied {
                    snapshot_id,
                    stats,
                    attempts,
                }) => {
                    outcome.snapshot_id = Some(snapshot_id);
                    outcome.commit_attempts += attempts;
                    outcome.objects.push(p.object.location());
                    outcome.removed_rows += stats.rows_removed;
                    outcome.removed_files += stats.files_rewritten;
                    outcome.data_files += stats.files_added;
                    outcome.rows += stats.rows_added;
                    outcome.merged.push(MergedObject {
                        object: p.object.location(),
                        snapshot_id,
                        stats,
                    });
                }
                Err(e) => {
                    let kind = if e.is_transient() {
                        FailureKind::Transient
                    } else {
                        FailureKind::Permanent
                    };
                    outcome
                        .failed
                        .push(ObjectFailure::new(&p.object, kind, format!("merge: {e}")));
                }
            }
        }
        outcome.timings_ms.commit += self.clock.now_ms() - started;
    }

    /// Writes each accepted object's rows as data files, as slices ready to hand over.
    async fn write(
        &self,
        table: &TableName,
        base: &LoadedTable,
        accepted: &[ProbedObject],
        outcome: &mut TableOutcome,
    ) -> Result<Vec<(RawObject, HandoffObject)>, ConvertError> {
        let schema = base.metadata.current_schema().clone();
        let writer = TableWriter::new(self.file_io.clone(), &base.metadata, schema.clone())
            .map_err(|e| ConvertError::Table {
                table: table.to_string(),
                reason: format!("cannot set up the data file writer: {e}"),
            })?;
        let spec = writer.spec().clone();
        let partition_type = spec
            .partition_type(&schema)
            .map_err(|e| ConvertError::Table {
                table: table.to_string(),
                reason: format!("cannot read the partition spec: {e}"),
            })?;
        let format = base.metadata.format_version();
        let mut slices = Vec::new();
        for p in accepted {
            let files = match writer.write(p).await {
                Ok(files) => files,
                Err(failure) => {
                    outcome.failed.push(failure);
                    continue;
                }
            };
            let rows = files.iter().map(|f| f.record_count()).sum();
            let bytes = files.iter().map(|f| f.file_size_in_bytes()).sum();
            let data_files = files
                .into_iter()
                .map(|f| serialize_data_file_to_json(f, &partition_type, format))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|e| ConvertError::Table {
                    table: table.to_string(),
                    reason: format!("cannot describe the data files: {e}"),
                })?;
            let handoff = HandoffObject {
                id: p.object.id(),
                replace_load: p.load.replace_load().map(str::to_string),
                slice: p.object.slice.as_ref().map_or(Slice::WHOLE, Slice::from),
                schema_id: schema.schema_id(),
                spec_id: spec.spec_id(),
                data_files,
                rows,
                bytes,
            };
            slices.push((p.object.clone(), handoff));
        }
        Ok(slices)
    }

    /// Keeps what fits this converter's budget: a whole object too large for one invocation
    /// becomes its first slice (the others are sent on as continuations), and work past the
    /// budget is sent on as it came (a whole object whole, a slice as that slice). The first
    /// piece of work always fits, so every invocation makes progress. Work that cannot be sent
    /// on is a transient failure of its object (the message is retried and planned again).
    async fn fit_budget(
        &self,
        probed: Vec<ProbedObject>,
        outcome: &mut TableOutcome,
    ) -> Vec<ProbedObject> {
        let (Some(budget), Some(requeue)) = (self.options.budget_bytes, &self.requeue) else {
            return probed;
        };
        let mut kept = Vec::new();
        for mut p in probed {
            let sizes = row_group_bytes(p.reader_metadata.metadata());
            // Only a whole object is planned; one that fits is one slice, i.e. not sliced.
            let mut plan = match &p.object.slice {
                Some(_) => Vec::new(),
                None => plan_slices(&sizes, budget),
            };
            if plan.len() < 2 {
                plan.clear();
            }
            let first = (!plan.is_empty()).then(|| plan.remove(0));
            let cost: u64 = match first.as_ref().or(p.object.slice.as_ref()) {
                Some(slice) => sizes[slice.row_groups()].iter().sum(),
                None => sizes.iter().sum(),
            };
            let spent = self.spent.load(Ordering::Relaxed);
            let deferring = spent > 0 && spent + cost > budget;
            let work: Vec<HandedOn> = if deferring {
                vec![handed_on(&p.object, p.object.slice.clone())]
            } else {
                plan.into_iter()
                    .map(|s| handed_on(&p.object, Some(s)))
                    .collect()
            };
            if !work.is_empty() {
                if let Err(e) = requeue.send(&work).await {
                    let kind = if e.is_transient() {
                        FailureKind::Transient
                    } else {
                        FailureKind::Permanent
                    };
                    outcome.failed.push(ObjectFailure::new(
                        &p.object,
                        kind,
                        format!("cannot hand the rest of the object on to another invocation: {e}"),
                    ));
                    continue;
                }
                outcome.handed_on.extend(work);
                if deferring {
                    continue;
                }
            }
            self.spent.fetch_add(cost, Ordering::Relaxed);
            if first.is_some() {
                p.object.slice = first;
            }
            kept.push(p);
        }
        kept
    }

    fn abort_if_rejected(&self, outcome: &TableOutcome) -> Result<(), ConvertError> {
        if self.options.on_invalid == OnInvalid::Abort && !outcome.failed.is_empty() {
            return Err(ConvertError::Rejected {
                table: outcome.table.clone(),
                failures: outcome.failed.clone(),
            });
        }
        Ok(())
    }

    /// Folds every object's schema into the table's; objects that would need a lossy change
    /// are rejected and the others go on.
    fn fit_schema(
        &self,
        base: &LoadedTable,
        probed: Vec<ProbedObject>,
        outcome: &mut TableOutcome,
    ) -> (Schema, Vec<ProbedObject>) {
        let mut schema = base.metadata.current_schema().as_ref().clone();
        let mut last_column_id = base.metadata.last_column_id();
        let aliases = ColumnAliases::of(&base.metadata);
        let mut accepted = Vec::new();
        for p in probed {
            match evolve(&schema, &aliases.rename_schema(&p.schema), last_column_id) {
                Ok(evolution) => {
                    if let Some(next) = evolution.schema {
                        last_column_id = last_column_id.max(next.highest_field_id());
                        schema = next;
                        outcome.schema_changes.extend(evolution.changes);
                    }
                    accepted.push(p);
                }
                Err(e) => outcome.failed.push(ObjectFailure::new(
                    &p.object,
                    FailureKind::Permanent,
                    format!("incompatible schema change: {e}"),
                )),
            }
        }
        (schema, accepted)
    }

    /// Creates the table (and its namespaces) partitioned by `day(_loaded_at)` through the
    /// committer (a concurrent creator's table is used instead), and loads it.
    async fn create_table(
        &self,
        table: &TableName,
        schema: &Schema,
    ) -> Result<LoadedTable, ConvertError> {
        let table_error = |reason: String| ConvertError::Table {
            table: table.to_string(),
            reason,
        };
        let loaded_at = schema
            .field_by_name(LOADED_AT_COLUMN)
            .ok_or_else(|| table_error(format!("schema has no {LOADED_AT_COLUMN} column")))?;
        let spec = UnboundPartitionSpec::builder()
            .add_partition_field(loaded_at.id, LOADED_AT_DAY_PARTITION, Transform::Day)
            .map_err(|e| table_error(format!("invalid partition spec: {e}")))?
            .build();
        let mut create = CreateTable::new(schema.clone());
        create.partition_spec = Some(spec);
        create.properties = HashMap::from([
            ("format-version".to_string(), "2".to_string()),
            (
                "write.parquet.compression-codec".to_string(),
                "zstd".to_string(),
            ),
        ]);
        let ident = table.to_ident();
        self.committer.create_table(&ident, create).await?;
        Ok(self.catalog.load_table(&ident).await?)
    }
}

fn handed_on(object: &RawObject, slice: Option<ObjectSlice>) -> HandedOn {
    HandedOn {
        key: object.key.clone(),
        etag: object.etag.clone(),
        size: object.size,
        created_ms: object.created_ms,
        slice,
    }
}

/// One pass of a conversion: the outcome so far, and the objects to pass again.
struct Round {
    outcome: TableOutcome,
    /// Objects the committer already had pending: waited for, not converted again.
    waiting: Vec<RawObject>,
    /// Objects whose files no longer fit the table: to convert again.
    reconvert: Vec<RawObjectId>,
}

impl Round {
    fn new(table: &TableName) -> Self {
        Self {
            outcome: TableOutcome {
                table: table.to_string(),
                ..Default::default()
            },
            waiting: Vec::new(),
            reconvert: Vec::new(),
        }
    }

    /// Files the committer's answer for `object` in the outcome.
    fn record(&mut self, object: &RawObject, state: &ObjectState) {
        let outcome = &mut self.outcome;
        let location = object.location();
        match state {
            ObjectState::Committed { snapshot_id } => {
                outcome.snapshot_id = outcome.snapshot_id.or(Some(*snapshot_id));
                outcome.objects.push(location);
            }
            ObjectState::AlreadyHeld => outcome.skipped.push(location),
            ObjectState::Superseded { load, by_load } => outcome
                .superseded
                .push(SupersededObject::new(location, &object.id(), load, by_load)),
            ObjectState::Failed { reason } => outcome.failed.push(ObjectFailure::new(
                object,
                FailureKind::Permanent,
                reason.clone(),
            )),
            ObjectState::Pending {
                slices_done,
                slices,
                next_attempt_ms,
            } => outcome.pending.push(PendingObjectOutcome {
                object: location,
                key: object.key.clone(),
                etag: object.etag.clone(),
                slices_done: *slices_done,
                slices: *slices,
                next_attempt_ms: *next_attempt_ms,
                data_files: 0,
                rows: 0,
                bytes: 0,
            }),
            ObjectState::Reconvert { .. } | ObjectState::Unknown => {
                self.reconvert.push(object.id())
            }
        }
    }

    /// Files the committer's answers after a submit: committed objects count their files.
    fn settle(&mut self, slices: &[(RawObject, HandoffObject)], reports: Vec<ObjectReport>) {
        let objects: HashMap<RawObjectId, RawObject> = slices
            .iter()
            .map(|(o, _)| (o.id(), o.clone()))
            .chain(self.waiting.iter().map(|o| (o.id(), o.clone())))
            .collect();
        for report in reports {
            let Some(object) = objects.get(&report.id) else {
                continue;
            };
            self.record(object, &report.state);
            let handed: Vec<&HandoffObject> = slices
                .iter()
                .filter(|(_, h)| h.id == report.id)
                .map(|(_, h)| h)
                .collect();
            let files = handed.iter().map(|h| h.data_files.len()).sum::<usize>();
            let rows = handed.iter().map(|h| h.rows).sum::<u64>();
            let bytes = handed.iter().map(|h| h.bytes).sum::<u64>();
            match report.state {
                ObjectState::Committed { .. } => {
                    self.outcome.data_files += files;
                    self.outcome.rows += rows;
                    self.outcome.bytes += bytes;
                }
                ObjectState::Pending { .. } => {
                    if let Some(pending) = self.outcome.pending.last_mut() {
                        pending.data_files = files;
                        pending.rows = rows;
                        pending.bytes = bytes;
                    }
                }
                _ => {}
            }
        }
    }

    /// Folds a later pass (objects converted again) into this one.
    fn merge(&mut self, next: Round) {
        let (a, b) = (&mut self.outcome, next.outcome);
        a.snapshot_id = b.snapshot_id.or(a.snapshot_id);
        a.objects.extend(b.objects);
        a.skipped.extend(b.skipped);
        a.superseded.extend(b.superseded);
        a.failed.extend(b.failed);
        a.pending.extend(b.pending);
        a.handed_on.extend(b.handed_on);
        a.data_files += b.data_files;
        a.removed_files += b.removed_files;
        a.removed_rows += b.removed_rows;
        a.replace_load_id = b.replace_load_id.or(a.replace_load_id.take());
        a.rows += b.rows;
        a.bytes += b.bytes;
        a.created_table |= b.created_table;
        a.schema_changes.extend(b.schema_changes);
        a.commit_attempts += b.commit_attempts;
        self.reconvert = next.reconvert;
    }

    fn into_outcome(mut self) -> TableOutcome {
        // Still unfit after the last pass: a transient failure (the next delivery tries again).
        for id in &self.reconvert {
            self.outcome.failed.push(ObjectFailure {
                object: id.key.clone(),
                key: id.key.clone(),
                etag: id.etag.clone(),
                kind: FailureKind::Transient,
                reason: "its data files kept missing the table's changing schema or partition spec; converted again on the next delivery".into(),
            });
        }
        self.outcome
    }
}

/// Leaves out, before anything is written, objects of a replace load that the table's load or a
/// newer load in the same call supersedes (the commit checks again on the table it commits to).
fn drop_superseded(
    table_load: Option<&str>,
    held: &TableHoldings,
    probed: Vec<ProbedObject>,
    outcome: &mut TableOutcome,
) -> Vec<ProbedObject> {
    let ids: Vec<RawObjectId> = probed.iter().map(|p| p.object.id()).collect();
    let offered: Vec<Offered<'_>> = probed
        .iter()
        .zip(&ids)
        .map(|(p, id)| Offered {
            id,
            replace_load: p.load.replace_load(),
        })
        .collect();
    let sorted = triage(held, table_load, &offered);
    for s in &sorted.superseded {
        let location = probed[s.index].object.location();
        outcome.superseded.push(SupersededObject::new(
            location,
            &ids[s.index],
            &s.load,
            &s.by_load,
        ));
    }
    let left_out: HashSet<usize> = sorted.superseded.iter().map(|s| s.index).collect();
    probed
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !left_out.contains(i))
        .map(|(_, p)| p)
        .collect()
}
