//! One table's committer: the only writer of its table. Converters hand it the data files they
//! wrote; it commits every ready object in one snapshot per round, at most one write attempt per
//! pace interval and only inside the catalog-wide budget, exactly once.
//!
//! Every round starts from the table as the catalog has it now, so a restart, an eviction or
//! another writer in between changes nothing about correctness:
//! - the snapshot id of an attempt is stored before the attempt is sent; finding it in the table's
//!   history later means the attempt applied even though its answer was lost;
//! - the table's ledger (raw objects named in snapshot summaries) drops objects it already holds;
//! - the commit asserts the table uuid and its parent snapshot, so of two attempts on the same
//!   parent at most one applies.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::lock::Mutex;
use iceberg::io::FileIO;
use iceberg::spec::{deserialize_data_file_from_json, DataFile, Schema, TableMetadata};
use iceberg::{TableIdent, TableRequirement, TableUpdate};
use serde::Serialize;

use super::budget::WriteKind;
use super::error::CommitterError;
use super::gate::WriteGate;
use super::handoff::{HandoffObject, ObjectReport, ObjectState, SnapshotSummary};
use super::pacing::Pacer;
use super::store::{CommitterStore, InFlight};
use crate::catalog::{CatalogError, CreateTable, LoadedTable, RestCatalog};
use crate::clock::Clock;
use crate::commit::ledger::in_ancestry;
use crate::commit::schema_plan::fits;
use crate::commit::{
    attempt, new_snapshot_id, Attempt, CommitError, Committed, PendingCommit, PendingObject,
};
use crate::raw::object::RawObjectId;
use crate::schema::evolve;

/// How a table's committer behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitterSettings {
    /// Least time between two write attempts to the table (R2 allows 20 per table per minute).
    pub interval_ms: i64,
    /// Most objects in one snapshot (bounds the manifest and the memory of a round).
    pub max_objects_per_commit: usize,
    /// How long decisions are remembered for redelivered messages (the ledger remembers forever).
    pub decision_ttl_ms: i64,
    /// How long a failed object stays failed: after it, a replay (after a fix) converts it again.
    pub failure_ttl_ms: i64,
    /// Longest a table preparation (create, schema change) waits for its write slot before
    /// answering [`CommitterError::Deferred`].
    pub max_prepare_wait_ms: i64,
}

impl Default for CommitterSettings {
    fn default() -> Self {
        Self {
            interval_ms: 5_000,
            max_objects_per_commit: 1_000,
            decision_ttl_ms: 24 * 3_600_000,
            failure_ttl_ms: 10 * 60_000,
            max_prepare_wait_ms: 20_000,
        }
    }
}

/// What a round needs from the outside world.
#[derive(Clone, Copy)]
pub struct CommitContext<'a> {
    pub catalog: &'a RestCatalog,
    pub file_io: &'a FileIO,
    pub clock: &'a dyn Clock,
    pub gate: &'a dyn WriteGate,
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundOutcome {
    /// Nothing is ready to commit.
    Idle,
    /// Paced, or waiting for the reserved budget slot: come back at `next_round_ms`.
    Waiting,
    /// A snapshot with the ready objects was committed.
    Committed,
    /// An earlier attempt whose answer was lost turned out to have applied.
    AppliedEarlier,
    /// Every ready object was already held or superseded: nothing was sent.
    NothingNew,
    /// Another writer committed first; the next round retries on the new parent.
    LostRace,
    /// The catalog's rate limit: the next round waits out `Retry-After`.
    RateLimited,
    /// The answer of the attempt was lost; the next round finds out whether it applied.
    OutcomeUnknown,
    /// Some objects' files no longer fit the table: they are to be converted again.
    Reconvert,
    /// The round failed (catalog unreachable, storage); the objects stay pending.
    Failed,
}

/// What one round did (one JSON log line of the coordinator).
#[derive(Debug, Clone, Serialize)]
pub struct RoundReport {
    pub table: String,
    pub outcome: RoundOutcome,
    /// Whether a commit request was sent (it counts against the catalog's limits).
    pub sent: bool,
    /// Whether the table was loaded (a catalog read).
    pub loaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
    pub objects: usize,
    pub data_files: usize,
    pub rows: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_load_id: Option<String>,
    pub removed_files: usize,
    pub removed_rows: u64,
    /// Objects left pending after the round.
    pub pending: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_round_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Objects whose fate this round settled.
    #[serde(skip)]
    pub decided: Vec<ObjectReport>,
}

impl RoundReport {
    /// The snapshot this round committed, when it decided any of `ids` by committing them.
    pub fn snapshot_for(&self, ids: &[RawObjectId]) -> Option<SnapshotSummary> {
        let snapshot_id = self.snapshot_id?;
        let committed_any = self
            .decided
            .iter()
            .any(|r| ids.contains(&r.id) && matches!(r.state, ObjectState::Committed { .. }));
        committed_any.then(|| SnapshotSummary {
            snapshot_id,
            replace_load_id: self.replace_load_id.clone(),
            removed_files: self.removed_files,
            removed_rows: self.removed_rows,
        })
    }

    pub fn new(table: &TableIdent, outcome: RoundOutcome) -> Self {
        Self {
            table: table.to_string(),
            outcome,
            sent: false,
            loaded: false,
            snapshot_id: None,
            objects: 0,
            data_files: 0,
            rows: 0,
            bytes: 0,
            replace_load_id: None,
            removed_files: 0,
            removed_rows: 0,
            pending: 0,
            next_round_ms: None,
            detail: None,
            decided: Vec::new(),
        }
    }
}

/// A raw object whose every slice has been handed over.
#[derive(Debug, Clone)]
struct ReadyObject {
    id: RawObjectId,
    replace_load: Option<String>,
    slices: Vec<HandoffObject>,
}

pub struct TableCommitter<S: CommitterStore> {
    table: TableIdent,
    store: S,
    settings: CommitterSettings,
    /// One catalog write at a time for this table (a round, a create, a schema change).
    writing: Mutex<()>,
}

impl<S: CommitterStore> std::fmt::Debug for TableCommitter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableCommitter")
            .field("table", &self.table.to_string())
            .field("settings", &self.settings)
            .finish()
    }
}

impl<S: CommitterStore> TableCommitter<S> {
    pub fn new(table: TableIdent, store: S, settings: CommitterSettings) -> Self {
        Self {
            table,
            store,
            settings,
            writing: Mutex::new(()),
        }
    }

    pub fn table(&self) -> &TableIdent {
        &self.table
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn settings(&self) -> &CommitterSettings {
        &self.settings
    }

    // ---- converters' side ----

    /// What the committer knows of each object: decided, pending (slices so far), or unknown.
    pub fn lookup(
        &self,
        ids: &[RawObjectId],
        now_ms: i64,
    ) -> Result<Vec<ObjectReport>, CommitterError> {
        let pending = self.pending_by_object()?;
        let next_attempt_ms = self.next_attempt_ms(now_ms)?;
        ids.iter()
            .map(|id| {
                let state = match self.live_decision(id, now_ms)? {
                    Some(decided) => decided,
                    None => match pending.get(id) {
                        Some(slices) => pending_state(slices, next_attempt_ms),
                        None => ObjectState::Unknown,
                    },
                };
                Ok(ObjectReport {
                    id: id.clone(),
                    state,
                })
            })
            .collect()
    }

    /// Takes slices over (persisted before this returns) and says where each object stands.
    /// A slice of an object already decided is not kept: the decision is the answer (an object
    /// to be converted again is the exception: its new slices are what was asked for).
    pub fn accept(
        &self,
        slices: &[HandoffObject],
        now_ms: i64,
    ) -> Result<Vec<ObjectReport>, CommitterError> {
        for slice in slices {
            match self.live_decision(&slice.id, now_ms)? {
                Some(ObjectState::Reconvert { .. }) => self.store.forget_decision(&slice.id)?,
                Some(_) => continue,
                None => {}
            }
            // A different slice count means the object was planned anew (other settings): the
            // slices of the old plan can never complete it.
            let stale = self
                .store
                .pending()?
                .iter()
                .any(|p| p.id == slice.id && p.slice.count != slice.slice.count);
            if stale {
                self.store.remove_pending(&slice.id)?;
            }
            self.store.put_pending(slice)?;
        }
        let mut ids: Vec<RawObjectId> = slices.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        self.lookup(&ids, now_ms)
    }

    /// The decision on an object, if any; a failure is forgotten after `failure_ttl_ms`, so that
    /// a replay after a fix converts the object again.
    fn live_decision(
        &self,
        id: &RawObjectId,
        now_ms: i64,
    ) -> Result<Option<ObjectState>, CommitterError> {
        match self.store.decision(id)? {
            Some((ObjectState::Failed { .. }, at))
                if now_ms - at > self.settings.failure_ttl_ms =>
            {
                self.store.forget_decision(id)?;
                Ok(None)
            }
            other => Ok(other.map(|(state, _)| state)),
        }
    }

    /// A slice failed for good: the object is decided as failed and nothing of it is committed.
    pub fn fail(&self, id: &RawObjectId, reason: &str, now_ms: i64) -> Result<(), CommitterError> {
        self.store.remove_pending(id)?;
        let state = ObjectState::Failed {
            reason: reason.to_string(),
        };
        self.store.put_decision(id, &state, now_ms)?;
        Ok(())
    }

    /// When the next round is worth running: `None` when nothing waits.
    pub fn next_round_ms(&self, now_ms: i64) -> Result<Option<i64>, CommitterError> {
        let waiting = self.store.in_flight()?.is_some() || !self.ready_objects()?.is_empty();
        if waiting {
            Ok(Some(self.next_attempt_ms(now_ms)?))
        } else {
            Ok(None)
        }
    }

    /// Pending objects, with the slices handed over so far (for status pages).
    pub fn pending_objects(&self, now_ms: i64) -> Result<Vec<ObjectReport>, CommitterError> {
        let next_attempt_ms = self.next_attempt_ms(now_ms)?;
        Ok(self
            .pending_by_object()?
            .into_iter()
            .map(|(id, slices)| ObjectReport {
                id,
                state: pending_state(&slices, next_attempt_ms),
            })
            .collect())
    }

    // ---- preparing the table (writes that must precede data files) ----

    /// Creates the table (and its namespaces) if it is missing, within the catalog's create budget.
    pub async fn create_table(
        &self,
        ctx: CommitContext<'_>,
        create: CreateTable,
    ) -> Result<(), CommitterError> {
        let _writing = self.writing.lock().await;
        match ctx.catalog.load_table(&self.table).await {
            Ok(_) => return Ok(()),
            Err(CatalogError::TableNotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        for level in ctx
            .catalog
            .missing_namespaces(&self.table.namespace)
            .await?
        {
            self.wait_for_budget(ctx, WriteKind::Namespace).await?;
            ctx.catalog.create_namespace(&level).await?;
        }
        self.wait_for_budget(ctx, WriteKind::CreateTable).await?;
        ctx.catalog.create_table(&self.table, create).await?;
        Ok(())
    }

    /// Folds `proposed` (a converter's schema: new columns, widened types; field ids irrelevant)
    /// into the table's current schema and commits the result before any data file is written
    /// with it, so that concurrent converters never give one new field id two meanings.
    /// Returns the table as committed (unchanged when it already had everything).
    pub async fn evolve_schema(
        &self,
        ctx: CommitContext<'_>,
        proposed: &Schema,
    ) -> Result<LoadedTable, CommitterError> {
        let _writing = self.writing.lock().await;
        // A lost race with another writer: fold again into its schema (a few times at most).
        for _ in 0..3 {
            let base = ctx.catalog.load_table(&self.table).await?;
            let meta = &base.metadata;
            let evolution = evolve(meta.current_schema(), proposed, meta.last_column_id())
                .map_err(|e| CommitterError::IncompatibleSchema {
                    table: self.table.to_string(),
                    reason: format!("incompatible schema change: {e}"),
                })?;
            let Some(schema) = evolution.schema else {
                return Ok(base);
            };
            self.wait_for_pace(ctx).await?;
            self.wait_for_budget(ctx, WriteKind::UpdateTable).await?;
            self.record_attempt(ctx.clock.now_ms())?;
            let requirements = vec![
                TableRequirement::UuidMatch { uuid: meta.uuid() },
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: meta.current_schema_id(),
                },
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: meta.last_column_id(),
                },
            ];
            let schema_id = next_schema_id(meta);
            let schema = schema
                .into_builder()
                .with_schema_id(schema_id)
                .build()
                .map_err(|e| CommitterError::IncompatibleSchema {
                    table: self.table.to_string(),
                    reason: format!("evolved schema is invalid: {e}"),
                })?;
            let updates = vec![
                TableUpdate::AddSchema { schema },
                TableUpdate::SetCurrentSchema { schema_id: -1 },
            ];
            match ctx
                .catalog
                .commit_table(&self.table, requirements, updates)
                .await
            {
                Ok(result) => {
                    return Ok(LoadedTable {
                        metadata_location: Some(result.metadata_location),
                        metadata: result.metadata,
                        config: base.config,
                    })
                }
                // Lost a race or lost the answer: the reload tells.
                Err(CatalogError::CommitConflict { .. })
                | Err(CatalogError::CommitOutcomeUnknown { .. }) => continue,
                Err(e @ CatalogError::RateLimited { .. }) => {
                    self.block_for(ctx.clock.now_ms(), &e)?;
                    return Err(e.into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(CommitterError::Deferred {
            table: self.table.to_string(),
            retry_after_seconds: (self.settings.interval_ms / 1000).max(1) as u64,
            reason: "the schema kept changing under concurrent writers".into(),
        })
    }

    // ---- committing ----

    /// Runs one round: resolves an attempt whose answer was lost, then commits every ready object
    /// in one snapshot if the pace and the catalog budget allow a write now.
    pub async fn run_round(&self, ctx: CommitContext<'_>) -> RoundReport {
        let _writing = self.writing.lock().await;
        let loaded = std::sync::atomic::AtomicBool::new(false);
        let mut report = match self.round(ctx, &loaded).await {
            Ok(report) => report,
            Err(e) => {
                let mut report = RoundReport::new(&self.table, RoundOutcome::Failed);
                report.detail = Some(e.to_string());
                report
            }
        };
        report.loaded = loaded.load(std::sync::atomic::Ordering::Relaxed);
        let now = ctx.clock.now_ms();
        report.pending = self.pending_by_object().map_or(0, |p| p.len());
        if report.next_round_ms.is_none() {
            report.next_round_ms = self.next_round_ms(now).ok().flatten();
        }
        if report.outcome == RoundOutcome::Failed && report.next_round_ms.is_some() {
            // Catalog or storage trouble: not before the pace allows, and at least a few seconds.
            let later = now + self.settings.interval_ms.max(5_000);
            report.next_round_ms = report.next_round_ms.map(|t| t.max(later));
        }
        let _ = self
            .store
            .forget_decisions_before(now - self.settings.decision_ttl_ms);
        report
    }

    async fn round(
        &self,
        ctx: CommitContext<'_>,
        loaded: &std::sync::atomic::AtomicBool,
    ) -> Result<RoundReport, CommitterError> {
        let now = ctx.clock.now_ms();
        let mut pacer = self.store.pacer()?;
        let in_flight = self.store.in_flight()?;
        let ready = self.ready_objects()?;
        if ready.is_empty() && in_flight.is_none() {
            return Ok(RoundReport::new(&self.table, RoundOutcome::Idle));
        }
        let paced = !pacer.ready(now, self.settings.interval_ms);
        // An attempt whose answer was lost is looked up at once (a read, not paced).
        if paced && in_flight.is_none() {
            return Ok(self.waiting(pacer.next_slot(now, self.settings.interval_ms)));
        }
        loaded.store(true, std::sync::atomic::Ordering::Relaxed);
        let base = match ctx.catalog.load_table(&self.table).await {
            Ok(base) => base,
            Err(CatalogError::TableNotFound { .. }) => {
                // Dropped since the files were written: convert again (into a new table).
                let ids: Vec<RawObjectId> = ready.iter().map(|o| o.id.clone()).collect();
                return self.reconvert(&ids, "the table no longer exists", now);
            }
            Err(e) => return Err(e.into()),
        };

        if ready.is_empty() {
            // The lost attempt's objects were decided some other way; nothing is left to commit.
            self.store.set_in_flight(None)?;
            return Ok(RoundReport::new(&self.table, RoundOutcome::Idle));
        }
        // An attempt whose answer was lost is retried with its snapshot id, so that finding it
        // in the table's history tells it applied; one that someone rolled back gets a new id.
        let meta = &base.metadata;
        let (snapshot_id, attempt_no, applied_earlier) = match &in_flight {
            Some(flight) if in_ancestry(meta, flight.snapshot_id) => {
                (flight.snapshot_id, flight.attempt, true)
            }
            Some(flight) if meta.snapshot_by_id(flight.snapshot_id).is_none() => {
                (flight.snapshot_id, flight.attempt + 1, false)
            }
            _ => (new_snapshot_id(meta), 1, false),
        };
        if paced && !applied_earlier {
            return Ok(self.waiting(pacer.next_slot(now, self.settings.interval_ms)));
        }

        let (pending, misfits) = self.pending_commit(&base.metadata, &ready)?;
        if !misfits.is_empty() {
            let ids: Vec<RawObjectId> = misfits.iter().map(|(id, _)| id.clone()).collect();
            let reason = misfits
                .iter()
                .map(|(id, why)| format!("{}: {why}", id.key))
                .collect::<Vec<_>>()
                .join("; ");
            return self.reconvert(&ids, &reason, now);
        }

        if !applied_earlier {
            // The catalog-wide budget: one slot per attempt, reserved once.
            let slot = match pacer.reserved_slot_ms {
                Some(slot) => slot,
                None => {
                    let slot = ctx.gate.reserve(WriteKind::UpdateTable).await?;
                    pacer.reserved_slot_ms = Some(slot);
                    self.store.set_pacer(&pacer)?;
                    slot
                }
            };
            if slot > ctx.clock.now_ms() {
                return Ok(self.waiting(slot));
            }
        }
        let now = ctx.clock.now_ms();
        let flight = InFlight {
            snapshot_id,
            objects: pending.objects.iter().map(|o| o.id.clone()).collect(),
            sent_ms: now,
            attempt: attempt_no,
        };
        // Stored before sending: after a crash, the next round looks for this snapshot id.
        self.store.set_in_flight(Some(&flight))?;
        if !applied_earlier {
            self.record_attempt(now)?;
        }
        let result = attempt(
            ctx.catalog,
            ctx.file_io,
            ctx.clock,
            &base,
            &pending,
            snapshot_id,
            attempt_no,
        )
        .await;
        let mut report = RoundReport::new(&self.table, RoundOutcome::Committed);
        match result {
            Ok(Attempt::Applied(committed)) => {
                report.sent = true;
                self.settle(&mut report, &pending, &committed, now)?;
            }
            Ok(Attempt::AppliedEarlier(committed)) => {
                report.outcome = RoundOutcome::AppliedEarlier;
                self.settle(&mut report, &pending, &committed, now)?;
            }
            Ok(Attempt::NothingNew(committed)) => {
                report.outcome = RoundOutcome::NothingNew;
                self.settle(&mut report, &pending, &committed, now)?;
            }
            Ok(Attempt::LostRace { detail }) => {
                self.store.set_in_flight(None)?;
                report.sent = true;
                report.outcome = RoundOutcome::LostRace;
                report.detail = Some(detail);
            }
            Ok(Attempt::RateLimited {
                retry_after,
                detail,
            }) => {
                self.store.set_in_flight(None)?;
                let mut pacer = self.store.pacer()?;
                pacer.block_for(ctx.clock.now_ms(), retry_after.as_millis() as i64);
                self.store.set_pacer(&pacer)?;
                report.sent = true;
                report.outcome = RoundOutcome::RateLimited;
                report.detail = Some(format!(
                    "HTTP 429 ({detail}); next attempt after {} s",
                    retry_after.as_secs()
                ));
            }
            Ok(Attempt::OutcomeUnknown { reason }) => {
                // The in-flight record stays: the next round looks for the snapshot first.
                report.sent = true;
                report.outcome = RoundOutcome::OutcomeUnknown;
                report.detail = Some(reason);
            }
            Err(CommitError::SchemaChanged { .. }) => {
                let ids: Vec<RawObjectId> = ready.iter().map(|o| o.id.clone()).collect();
                self.store.set_in_flight(None)?;
                return self.reconvert(
                    &ids,
                    "the table's schema changed in a way the written files do not fit",
                    now,
                );
            }
            Err(e) => {
                // Nothing was sent (metadata could not be written) or the catalog refused for
                // good: the objects stay pending and the error is reported.
                self.store.set_in_flight(None)?;
                return Err(e.into());
            }
        }
        Ok(report)
    }

    /// Records what a commit (or a look at the table) decided for each pending object.
    fn settle(
        &self,
        report: &mut RoundReport,
        pending: &PendingCommit,
        committed: &Committed,
        now: i64,
    ) -> Result<(), CommitterError> {
        report.snapshot_id = committed.snapshot_id;
        report.replace_load_id = committed.replace_load.clone();
        report.removed_files = committed.removed_files;
        report.removed_rows = committed.removed_rows;
        for object in &pending.objects {
            let state = if committed.added.contains(&object.id) {
                report.objects += 1;
                report.data_files += object.files.len();
                report.rows += object.files.iter().map(DataFile::record_count).sum::<u64>();
                report.bytes += object
                    .files
                    .iter()
                    .map(DataFile::file_size_in_bytes)
                    .sum::<u64>();
                ObjectState::Committed {
                    snapshot_id: committed.snapshot_id.unwrap_or_default(),
                }
            } else if let Some(s) = committed
                .superseded
                .iter()
                .find(|s| s.key == object.id.key && s.etag == object.id.etag)
            {
                ObjectState::Superseded {
                    load: s.load_id.clone(),
                    by_load: s.by_load_id.clone(),
                }
            } else if committed.already_present.contains(&object.id) {
                ObjectState::AlreadyHeld
            } else {
                // Not named by the snapshot that applied earlier: left for the next round.
                continue;
            };
            self.decide(report, &object.id, state, now)?;
        }
        self.store.set_in_flight(None)?;
        Ok(())
    }

    fn decide(
        &self,
        report: &mut RoundReport,
        id: &RawObjectId,
        state: ObjectState,
        now: i64,
    ) -> Result<(), CommitterError> {
        self.store.put_decision(id, &state, now)?;
        self.store.remove_pending(id)?;
        report.decided.push(ObjectReport {
            id: id.clone(),
            state,
        });
        Ok(())
    }

    fn reconvert(
        &self,
        ids: &[RawObjectId],
        reason: &str,
        now: i64,
    ) -> Result<RoundReport, CommitterError> {
        let mut report = RoundReport::new(&self.table, RoundOutcome::Reconvert);
        report.detail = Some(reason.to_string());
        for id in ids {
            let state = ObjectState::Reconvert {
                reason: reason.to_string(),
            };
            self.decide(&mut report, id, state, now)?;
        }
        Ok(report)
    }

    fn waiting(&self, until_ms: i64) -> RoundReport {
        let mut report = RoundReport::new(&self.table, RoundOutcome::Waiting);
        report.next_round_ms = Some(until_ms);
        report
    }

    /// The ready objects as one commit on top of `metadata`, and those whose files no longer
    /// fit the table (another writer changed its schema or partition spec).
    #[allow(clippy::type_complexity)]
    fn pending_commit(
        &self,
        metadata: &TableMetadata,
        ready: &[ReadyObject],
    ) -> Result<(PendingCommit, Vec<(RawObjectId, String)>), CommitterError> {
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let partition_type = spec
            .partition_type(&schema)
            .map_err(|e| self.metadata_error(e))?;
        let mut objects = Vec::new();
        let mut misfits = Vec::new();
        for object in ready.iter().take(self.settings.max_objects_per_commit) {
            match self.files_of(object, metadata, &schema, spec.spec_id(), &partition_type) {
                Ok(files) => objects.push(PendingObject {
                    id: object.id.clone(),
                    location: object.id.key.clone(),
                    replace_load: object.replace_load.clone(),
                    files,
                }),
                Err(why) => misfits.push((object.id.clone(), why)),
            }
        }
        let pending = PendingCommit {
            table: self.table.clone(),
            schema,
            spec,
            objects,
        };
        Ok((pending, misfits))
    }

    fn files_of(
        &self,
        object: &ReadyObject,
        metadata: &TableMetadata,
        schema: &Arc<Schema>,
        spec_id: i32,
        partition_type: &iceberg::spec::StructType,
    ) -> Result<Vec<DataFile>, String> {
        let mut files = Vec::new();
        for slice in &object.slices {
            if slice.spec_id != spec_id {
                return Err(format!(
                    "written with partition spec {}, the table's is now {spec_id}",
                    slice.spec_id
                ));
            }
            let written = metadata.schema_by_id(slice.schema_id).ok_or_else(|| {
                format!(
                    "written with schema {} the table no longer has",
                    slice.schema_id
                )
            })?;
            if !fits(written, schema) {
                return Err(format!(
                    "written with schema {}, which the table's current schema {} no longer reads",
                    slice.schema_id,
                    schema.schema_id()
                ));
            }
            for json in &slice.data_files {
                let file = deserialize_data_file_from_json(json, spec_id, partition_type, schema)
                    .map_err(|e| format!("unreadable data file entry: {e}"))?;
                files.push(file);
            }
        }
        Ok(files)
    }

    fn metadata_error(&self, source: iceberg::Error) -> CommitterError {
        CommitError::Metadata {
            table: self.table.to_string(),
            source,
        }
        .into()
    }

    // ---- pending state ----

    fn pending_by_object(
        &self,
    ) -> Result<BTreeMap<RawObjectId, Vec<HandoffObject>>, CommitterError> {
        let mut by_object: BTreeMap<RawObjectId, Vec<HandoffObject>> = BTreeMap::new();
        for slice in self.store.pending()? {
            by_object.entry(slice.id.clone()).or_default().push(slice);
        }
        Ok(by_object)
    }

    /// Objects whose every slice is here, oldest key first.
    fn ready_objects(&self) -> Result<Vec<ReadyObject>, CommitterError> {
        Ok(self
            .pending_by_object()?
            .into_iter()
            .filter(|(_, slices)| is_complete(slices))
            .map(|(id, mut slices)| {
                slices.sort_by_key(|s| s.slice.index);
                ReadyObject {
                    id,
                    replace_load: slices.iter().find_map(|s| s.replace_load.clone()),
                    slices,
                }
            })
            .collect())
    }

    // ---- pace and budget ----

    fn next_attempt_ms(&self, now_ms: i64) -> Result<i64, CommitterError> {
        let pacer = self.store.pacer()?;
        let paced = pacer.next_slot(now_ms, self.settings.interval_ms);
        Ok(pacer.reserved_slot_ms.map_or(paced, |slot| slot.max(paced)))
    }

    fn record_attempt(&self, now_ms: i64) -> Result<(), CommitterError> {
        let mut pacer = self.store.pacer()?;
        pacer.record_attempt(now_ms);
        self.store.set_pacer(&pacer)?;
        Ok(())
    }

    fn block_for(&self, now_ms: i64, error: &CatalogError) -> Result<(), CommitterError> {
        let mut pacer = self.store.pacer()?;
        let seconds = error.retry_after_seconds().unwrap_or(60) as i64;
        pacer.block_for(now_ms, seconds * 1000);
        self.store.set_pacer(&pacer)?;
        Ok(())
    }

    /// Waits for the table's pace (a preparation is a write like a commit).
    async fn wait_for_pace(&self, ctx: CommitContext<'_>) -> Result<(), CommitterError> {
        let pacer: Pacer = self.store.pacer()?;
        let now = ctx.clock.now_ms();
        let at = pacer.next_slot(now, self.settings.interval_ms);
        self.wait_until(ctx, at, "the table's commit pace").await
    }

    /// Reserves a budget slot and waits for it (the slot is used by the caller's write).
    async fn wait_for_budget(
        &self,
        ctx: CommitContext<'_>,
        kind: WriteKind,
    ) -> Result<(), CommitterError> {
        let at = ctx.gate.reserve(kind).await?;
        self.wait_until(ctx, at, "the catalog's write budget").await
    }

    async fn wait_until(
        &self,
        ctx: CommitContext<'_>,
        at_ms: i64,
        what: &str,
    ) -> Result<(), CommitterError> {
        let now = ctx.clock.now_ms();
        if at_ms <= now {
            return Ok(());
        }
        if at_ms - now > self.settings.max_prepare_wait_ms {
            return Err(CommitterError::Deferred {
                table: self.table.to_string(),
                retry_after_seconds: ((at_ms - now + 999) / 1000) as u64,
                reason: format!("waiting for {what}"),
            });
        }
        ctx.clock
            .sleep(std::time::Duration::from_millis((at_ms - now) as u64))
            .await;
        Ok(())
    }
}

/// Whether slices `0..count` are all present (with one plan).
fn is_complete(slices: &[HandoffObject]) -> bool {
    let Some(count) = slices.first().map(|s| s.slice.count.max(1)) else {
        return false;
    };
    let indices: std::collections::BTreeSet<u32> = slices
        .iter()
        .filter(|s| s.slice.count.max(1) == count)
        .map(|s| s.slice.index)
        .collect();
    (0..count).all(|i| indices.contains(&i))
}

fn pending_state(slices: &[HandoffObject], next_attempt_ms: i64) -> ObjectState {
    let count = slices.first().map_or(1, |s| s.slice.count.max(1));
    let done: std::collections::BTreeSet<u32> = slices.iter().map(|s| s.slice.index).collect();
    ObjectState::Pending {
        slices_done: done.len() as u32,
        slices: count,
        next_attempt_ms,
    }
}

fn next_schema_id(metadata: &TableMetadata) -> i32 {
    metadata
        .schemas_iter()
        .map(|s| s.schema_id())
        .max()
        .unwrap_or(0)
        + 1
}

/// Groups reports by state name, for summaries in logs.
pub fn count_states(reports: &[ObjectReport]) -> HashMap<&'static str, usize> {
    let mut counts = HashMap::new();
    for r in reports {
        let name = match r.state {
            ObjectState::Unknown => "unknown",
            ObjectState::Pending { .. } => "pending",
            ObjectState::Committed { .. } => "committed",
            ObjectState::AlreadyHeld => "already_held",
            ObjectState::Superseded { .. } => "superseded",
            ObjectState::Failed { .. } => "failed",
            ObjectState::Reconvert { .. } => "reconvert",
        };
        *counts.entry(name).or_insert(0) += 1;
    }
    counts
}
