//! The committers of one process: the CLI (and tests) commit directly, with the same pace, budget
//! and exactly-once rounds as the convert Worker's Durable Objects, waiting in process instead of
//! on alarms.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use iceberg::io::FileIO;
use iceberg::spec::Schema;
use iceberg::TableIdent;

use super::budget::BudgetLimits;
use super::error::CommitterError;
use super::gate::{LocalGate, WriteGate};
use super::handoff::{HandoffObject, MergeOutcome, ObjectReport, Submitted};
use super::store::MemoryCommitterStore;
use super::table::{CommitContext, CommitterSettings, RoundOutcome, RoundReport, TableCommitter};
use super::Committer;
use crate::catalog::{CreateTable, RestCatalog};
use crate::clock::Clock;
use crate::raw::footer::MergeKeys;
use crate::raw::object::{RawObject, RawObjectId};

/// Called with every round that did something worth telling (a commit, a wait, a lost race).
pub type RoundObserver = Arc<dyn Fn(&RoundReport) + Send + Sync>;

/// How a process commits on its own.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub committer: CommitterSettings,
    pub budget: BudgetLimits,
    /// How long a submit keeps trying (waiting out paces, races, `Retry-After`) before it reports
    /// objects as still pending.
    pub max_wait: Duration,
}

impl Default for LocalSettings {
    fn default() -> Self {
        Self {
            committer: CommitterSettings::default(),
            budget: BudgetLimits::default(),
            max_wait: Duration::from_secs(30 * 60),
        }
    }
}

/// In-process committers, one per table, sharing one catalog budget.
pub struct LocalCommitter {
    catalog: Arc<RestCatalog>,
    file_io: FileIO,
    clock: Arc<dyn Clock>,
    gate: Arc<dyn WriteGate>,
    settings: CommitterSettings,
    /// How long `submit` keeps trying before it reports objects as still pending.
    max_wait: Duration,
    observer: Option<RoundObserver>,
    tables: Mutex<HashMap<String, Arc<TableCommitter<MemoryCommitterStore>>>>,
}

impl std::fmt::Debug for LocalCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCommitter")
            .field("settings", &self.settings)
            .field("max_wait", &self.max_wait)
            .finish()
    }
}

impl LocalCommitter {
    /// Committers for the tables of `catalog`, with a budget of their own.
    pub fn new(
        catalog: Arc<RestCatalog>,
        file_io: FileIO,
        clock: Arc<dyn Clock>,
        settings: LocalSettings,
    ) -> Self {
        let gate = Arc::new(LocalGate::new(settings.budget, clock.clone()));
        // One process waits for its own write slots (it has nowhere to hand the work on to).
        let mut committer = settings.committer;
        committer.max_prepare_wait_ms = settings.max_wait.as_millis() as i64;
        Self {
            catalog,
            file_io,
            clock,
            gate,
            settings: committer,
            max_wait: settings.max_wait,
            observer: None,
            tables: Mutex::new(HashMap::new()),
        }
    }

    /// Reports every round that commits, waits or retries (the CLI prints notes from them).
    pub fn with_observer(mut self, observer: RoundObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs maintenance steps on `table` through its committer (so they never overlap its
    /// commits); `stores` resolves the table's bucket (orphan removal lists it).
    pub async fn maintain(
        &self,
        table: &TableIdent,
        stores: Arc<dyn crate::storage::StoreResolver>,
        dry_run: bool,
        max_steps: usize,
    ) -> Result<Vec<crate::maintain::StepReport>, crate::maintain::MaintainError> {
        let committer = self.committer(table);
        let maintainer = crate::maintain::Maintainer {
            ctx: self.context(),
            committer: committer.as_ref(),
            stores,
        };
        maintainer.run(dry_run, max_steps).await
    }

    fn committer(&self, table: &TableIdent) -> Arc<TableCommitter<MemoryCommitterStore>> {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        tables
            .entry(table.to_string())
            .or_insert_with(|| {
                Arc::new(TableCommitter::new(
                    table.clone(),
                    MemoryCommitterStore::new(),
                    self.settings.clone(),
                ))
            })
            .clone()
    }

    /// Runs a table preparation (create, schema change), waiting out the catalog's `429`s and the
    /// committer's deferrals (with a note) until `max_wait`: one process has nowhere to hand the
    /// work on to, so it waits as the catalog asks.
    async fn waiting_out_limits<F, Fut, T>(
        &self,
        table: &TableIdent,
        prepare: F,
    ) -> Result<T, CommitterError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, CommitterError>>,
    {
        let deadline = self.clock.now_ms() + self.max_wait.as_millis() as i64;
        loop {
            let error = match prepare().await {
                Ok(done) => return Ok(done),
                Err(e) => e,
            };
            let Some(seconds) = error.retry_after_seconds() else {
                return Err(error);
            };
            let now = self.clock.now_ms();
            let until = now + seconds as i64 * 1000;
            if until > deadline {
                return Err(error);
            }
            if let Some(observer) = &self.observer {
                let mut note = RoundReport::new(table, RoundOutcome::RateLimited);
                note.detail = Some(error.to_string());
                note.next_round_ms = Some(until);
                observer(&note);
            }
            self.clock.sleep(Duration::from_secs(seconds)).await;
        }
    }

    fn context(&self) -> CommitContext<'_> {
        CommitContext {
            catalog: &self.catalog,
            file_io: &self.file_io,
            clock: self.clock.as_ref(),
            gate: self.gate.as_ref(),
        }
    }
}

#[async_trait]
impl Committer for LocalCommitter {
    async fn lookup(
        &self,
        table: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Vec<ObjectReport>, CommitterError> {
        self.committer(table).lookup(ids, self.clock.now_ms())
    }

    async fn create_table(
        &self,
        table: &TableIdent,
        create: CreateTable,
    ) -> Result<(), CommitterError> {
        let committer = self.committer(table);
        self.waiting_out_limits(table, || {
            committer.create_table(self.context(), create.clone())
        })
        .await
    }

    async fn evolve_schema(
        &self,
        table: &TableIdent,
        proposed: &Schema,
    ) -> Result<(), CommitterError> {
        let committer = self.committer(table);
        self.waiting_out_limits(table, || async {
            committer
                .evolve_schema(self.context(), proposed)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn submit(
        &self,
        table: &TableIdent,
        slices: Vec<HandoffObject>,
        waiting: &[RawObjectId],
    ) -> Result<Submitted, CommitterError> {
        let committer = self.committer(table);
        let started = self.clock.now_ms();
        let deadline = started + self.max_wait.as_millis() as i64;
        committer.accept(&slices, started)?;
        let mut ids: Vec<RawObjectId> = slices.iter().map(|s| s.id.clone()).collect();
        ids.extend(waiting.iter().cloned());
        ids.sort();
        ids.dedup();
        let mut reports = committer.lookup(&ids, started)?;
        let mut attempts = 0;
        let mut snapshots = Vec::new();
        while !reports
            .iter()
            .all(|r| r.state.is_decided() || is_reconvert(r))
        {
            let round = committer.run_round(self.context()).await;
            attempts += u32::from(round.sent);
            snapshots.extend(round.snapshot_for(&ids));
            if let Some(observer) = &self.observer {
                observer(&round);
            }
            let now = self.clock.now_ms();
            reports = committer.lookup(&ids, now)?;
            let Some(next) = round.next_round_ms else {
                break;
            };
            if next > deadline {
                break;
            }
            if next > now {
                self.clock
                    .sleep(Duration::from_millis((next - now) as u64))
                    .await;
            }
        }
        Ok(Submitted {
            objects: reports,
            snapshots,
            attempts,
        })
    }

    async fn merge(
        &self,
        table: &TableIdent,
        object: &RawObject,
        keys: &MergeKeys,
    ) -> Result<MergeOutcome, CommitterError> {
        let committer = self.committer(table);
        self.waiting_out_limits(table, || {
            crate::merge::apply(&committer, self.context(), object, keys)
        })
        .await
    }

    async fn fail(
        &self,
        table: &TableIdent,
        id: &RawObjectId,
        reason: &str,
    ) -> Result<(), CommitterError> {
        self.committer(table).fail(id, reason, self.clock.now_ms())
    }
}

fn is_reconvert(report: &ObjectReport) -> bool {
    matches!(report.state, super::ObjectState::Reconvert { .. })
}
