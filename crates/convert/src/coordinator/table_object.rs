//! A table's commit coordinator as a Durable Object (one per table, by name): the only writer of
//! its table. Consumers hand it the data files they wrote and wait (bounded) for the commit; an
//! alarm runs commit rounds at the table's pace, so the catalog sees at most one commit per
//! `COMMIT_INTERVAL_SECONDS` for the table however many consumers feed it.
//!
//! Its SQLite storage holds the pending objects and the in-flight attempt, so an eviction or a
//! crash mid-commit loses nothing: the alarm fires again and the next round finds out from the
//! table whether the attempt applied. Waiting consumers whose request dies with the object simply
//! see their messages retried; the table's ledger answers them on redelivery.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::future::{select, Either};
use iceberg::io::FileIO;
use iceberg::TableIdent;
use icepipe_core::catalog::RestCatalog;
use icepipe_core::committer::handoff::{ObjectReport, SnapshotSummary, Submitted};
use icepipe_core::committer::protocol::{CommitterRequest, WireError};
use icepipe_core::committer::table::{CommitContext, RoundOutcome, RoundReport, TableCommitter};
use icepipe_core::committer::CommitterError;
use icepipe_core::maintain::Maintainer;
use icepipe_core::raw::object::{RawObject, RawObjectId};
use icepipe_core::storage::iceberg_io;
use icepipe_edge::log::{emit, to_line};
use serde::Serialize;
use serde_json::json;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use super::client::DurableGate;
use super::sql_store::SqlCommitterStore;
use crate::wiring::Wiring;
use icepipe_core::committer::status::{CommitCounters, CommitterStatus};

const TABLE: &str = "table";
const COUNTERS: &str = "counters";
/// Rounds one alarm runs back to back at most (more work is picked up by the next alarm).
const ROUNDS_PER_ALARM: usize = 8;

type Committer = TableCommitter<SqlCommitterStore>;

/// A consumer waiting for objects to be decided.
struct Waiter {
    id: u64,
    ids: Vec<RawObjectId>,
    attempts: u32,
    snapshots: Vec<SnapshotSummary>,
    done: Option<oneshot::Sender<()>>,
}

#[durable_object]
pub struct TableCommitterObject {
    state: State,
    env: Env,
    committer: RefCell<Option<Rc<Committer>>>,
    waiters: RefCell<Vec<Waiter>>,
    next_waiter: Cell<u64>,
}

impl DurableObject for TableCommitterObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            committer: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
            next_waiter: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let request: CommitterRequest = match req.json().await {
            Ok(request) => request,
            Err(e) => return Response::error(format!("not a committer request: {e}"), 400),
        };
        let table = request.table().clone();
        match self.handle(request).await {
            Ok(body) => Response::from_json(&body),
            Err(e) => {
                let wire = WireError::from_error(&e);
                emit(&to_line(&json!({
                    "event": "committer_error",
                    "table": table.to_string(),
                    "error": wire.message,
                    "transient": wire.transient,
                })));
                Ok(Response::from_json(&wire)?.with_status(if wire.transient { 503 } else { 422 }))
            }
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let committer = match self.committer(None) {
            Ok(Some(committer)) => committer,
            // Never told which table it is: nothing was ever handed over.
            Ok(None) => return Response::ok("idle"),
            Err(e) => {
                emit(&to_line(
                    &json!({"event": "committer_error", "error": e.to_string()}),
                ));
                self.schedule_in(Duration::from_secs(30)).await;
                return Response::ok("storage error");
            }
        };
        self.run_rounds(&committer).await;
        Response::ok("done")
    }
}

impl TableCommitterObject {
    async fn handle(
        &self,
        request: CommitterRequest,
    ) -> std::result::Result<serde_json::Value, CommitterError> {
        let table = request.table().clone();
        let committer = self.committer(Some(&table))?.expect("a table was given");
        let now = worker::Date::now().as_millis() as i64;
        let value = match request {
            CommitterRequest::Lookup { ids, .. } => to_json(&committer.lookup(&ids, now)?),
            CommitterRequest::CreateTable { create, .. } => {
                let wiring = self.wiring(&table)?;
                let (catalog, file_io) = self.open_catalog(&wiring).await?;
                let gate = DurableGate::new(&self.env, &wiring.settings.catalog.warehouse);
                let ctx = context(&catalog, &file_io, &wiring, &gate);
                committer.create_table(ctx, *create).await?;
                self.count(|c| c.tables_created += 1);
                json!({})
            }
            CommitterRequest::EvolveSchema { schema, .. } => {
                let wiring = self.wiring(&table)?;
                let (catalog, file_io) = self.open_catalog(&wiring).await?;
                let gate = DurableGate::new(&self.env, &wiring.settings.catalog.warehouse);
                let ctx = context(&catalog, &file_io, &wiring, &gate);
                let loaded = committer.evolve_schema(ctx, &schema).await?;
                self.count(|c| c.schema_updates += 1);
                json!({ "schema_id": loaded.metadata.current_schema_id() })
            }
            CommitterRequest::Submit {
                slices,
                waiting,
                wait_ms,
                ..
            } => {
                committer.accept(&slices, now)?;
                let mut ids: Vec<RawObjectId> = slices.iter().map(|s| s.id.clone()).collect();
                ids.extend(waiting);
                ids.sort();
                ids.dedup();
                self.schedule(&committer, now).await;
                to_json(&self.wait_for(&committer, ids, wait_ms).await?)
            }
            CommitterRequest::Fail { id, reason, .. } => {
                committer.fail(&id, &reason, now)?;
                json!({})
            }
            CommitterRequest::Status { .. } => to_json(&self.status(&committer, now)?),
            CommitterRequest::Maintain { dry_run, .. } => {
                let wiring = self.wiring(&table)?;
                let (catalog, file_io) = self.open_catalog(&wiring).await?;
                let gate = DurableGate::new(&self.env, &wiring.settings.catalog.warehouse);
                let maintainer = Maintainer {
                    ctx: context(&catalog, &file_io, &wiring, &gate),
                    committer: committer.as_ref(),
                    stores: wiring.tables.clone(),
                };
                let step = maintainer
                    .step(dry_run, true)
                    .await
                    .map_err(|e| e.into_committer_error(&table.to_string()))?;
                if let Some(step) = &step {
                    emit(&to_line(&json!({ "event": "maintenance", "step": step })));
                }
                to_json(&step)
            }
            CommitterRequest::Merge { object, keys, .. } => {
                let wiring = self.wiring(&table)?;
                let (catalog, file_io) = self.open_catalog(&wiring).await?;
                let gate = DurableGate::new(&self.env, &wiring.settings.catalog.warehouse);
                let ctx = context(&catalog, &file_io, &wiring, &gate);
                let raw = RawObject {
                    store: wiring.raw.clone(),
                    key: object.key,
                    size: object.size,
                    etag: object.etag,
                    created_ms: object.created_ms,
                    slice: None,
                };
                let outcome = icepipe_core::merge::apply(&committer, ctx, &raw, &keys).await?;
                emit(&to_line(&json!({
                    "event": "merge",
                    "table": table.to_string(),
                    "object": raw.location(),
                    "outcome": outcome,
                })));
                to_json(&outcome)
            }
        };
        Ok(value)
    }

    /// The table's committer, opened on first use (`table` is remembered for the alarm).
    fn committer(
        &self,
        table: Option<&TableIdent>,
    ) -> std::result::Result<Option<Rc<Committer>>, CommitterError> {
        if let Some(committer) = self.committer.borrow().as_ref() {
            return Ok(Some(committer.clone()));
        }
        let store = SqlCommitterStore::open(self.state.storage().sql())?;
        let known: Option<TableIdent> = store.get_meta(TABLE)?;
        let table = match (known, table) {
            (Some(known), _) => known,
            (None, Some(table)) => {
                store.set_meta(TABLE, Some(table))?;
                table.clone()
            }
            (None, None) => return Ok(None),
        };
        let settings = self.wiring(&table)?.settings.coordination.committer;
        let committer = Rc::new(TableCommitter::new(table, store, settings));
        *self.committer.borrow_mut() = Some(committer.clone());
        Ok(Some(committer))
    }

    fn wiring(&self, table: &TableIdent) -> std::result::Result<Wiring, CommitterError> {
        Wiring::from_env(&self.env).map_err(|e| CommitterError::Refused {
            table: table.to_string(),
            reason: e.to_string(),
        })
    }

    /// The catalog client (cached per isolate) and the table storage.
    async fn open_catalog(
        &self,
        wiring: &Wiring,
    ) -> std::result::Result<(Arc<RestCatalog>, FileIO), CommitterError> {
        let catalog = wiring.catalog().await?;
        Ok((catalog, iceberg_io::file_io(wiring.tables.clone())))
    }

    /// Runs rounds while they make progress, then sets the alarm for the next one.
    async fn run_rounds(&self, committer: &Rc<Committer>) {
        let table = committer.table().clone();
        let wiring = match self.wiring(&table) {
            Ok(wiring) => wiring,
            Err(e) => {
                emit(&to_line(
                    &json!({"event": "committer_error", "table": table.to_string(), "error": e.to_string()}),
                ));
                self.schedule_in(Duration::from_secs(60)).await;
                return;
            }
        };
        let (catalog, file_io) = match self.open_catalog(&wiring).await {
            Ok(connected) => connected,
            Err(e) => {
                emit(&to_line(
                    &json!({"event": "committer_error", "table": table.to_string(), "error": e.to_string()}),
                ));
                self.schedule_in(Duration::from_secs(30)).await;
                return;
            }
        };
        let gate = DurableGate::new(&self.env, &wiring.settings.catalog.warehouse);
        let ctx = context(&catalog, &file_io, &wiring, &gate);
        for _ in 0..ROUNDS_PER_ALARM {
            let report = committer.run_round(ctx).await;
            self.record(&report);
            self.notify(committer, &report);
            let now = worker::Date::now().as_millis() as i64;
            match report.next_round_ms {
                Some(next) if next <= now => continue,
                _ => break,
            }
        }
        let now = worker::Date::now().as_millis() as i64;
        self.schedule(committer, now).await;
    }

    /// Sets the alarm for the committer's next round (or leaves an earlier one in place).
    async fn schedule(&self, committer: &Committer, now: i64) {
        let next = match committer.next_round_ms(now) {
            Ok(next) => next,
            Err(_) => Some(now + 30_000),
        };
        let Some(next) = next else {
            return;
        };
        let storage = self.state.storage();
        // get_alarm answers a time; set_alarm takes an offset from now (an i64 is an offset).
        let current = storage.get_alarm().await.ok().flatten();
        if current.is_none_or(|at| at > next) {
            let delay = Duration::from_millis((next - now).max(0) as u64);
            if let Err(e) = storage.set_alarm(delay).await {
                emit(&to_line(
                    &json!({"event": "committer_error", "error": format!("cannot set the alarm: {e}")}),
                ));
            }
        }
    }

    async fn schedule_in(&self, delay: Duration) {
        let _ = self.state.storage().set_alarm(delay).await;
    }

    /// Waits until every object in `ids` is decided, or `wait_ms` has passed.
    async fn wait_for(
        &self,
        committer: &Committer,
        ids: Vec<RawObjectId>,
        wait_ms: u64,
    ) -> std::result::Result<Submitted, CommitterError> {
        let now = worker::Date::now().as_millis() as i64;
        let reports = committer.lookup(&ids, now)?;
        if wait_ms == 0 || all_settled(&reports) {
            return Ok(Submitted {
                objects: reports,
                snapshots: vec![],
                attempts: 0,
            });
        }
        let (tx, rx) = oneshot::channel();
        let id = self.next_waiter.get();
        self.next_waiter.set(id + 1);
        self.waiters.borrow_mut().push(Waiter {
            id,
            ids: ids.clone(),
            attempts: 0,
            snapshots: vec![],
            done: Some(tx),
        });
        let delay = worker::Delay::from(Duration::from_millis(wait_ms));
        match select(rx, delay).await {
            Either::Left(_) | Either::Right(_) => {}
        }
        let waiter = {
            let mut waiters = self.waiters.borrow_mut();
            let index = waiters.iter().position(|w| w.id == id);
            index.map(|i| waiters.remove(i))
        };
        let now = worker::Date::now().as_millis() as i64;
        Ok(Submitted {
            objects: committer.lookup(&ids, now)?,
            snapshots: waiter
                .as_ref()
                .map(|w| w.snapshots.clone())
                .unwrap_or_default(),
            attempts: waiter.map_or(0, |w| w.attempts),
        })
    }

    /// After a round: tells each waiter what it did for its objects; wakes the settled ones.
    fn notify(&self, committer: &Committer, report: &RoundReport) {
        let now = worker::Date::now().as_millis() as i64;
        for waiter in self.waiters.borrow_mut().iter_mut() {
            waiter.attempts += u32::from(report.sent);
            waiter.snapshots.extend(report.snapshot_for(&waiter.ids));
            let settled = committer
                .lookup(&waiter.ids, now)
                .map(|r| all_settled(&r))
                .unwrap_or(true);
            if settled {
                if let Some(done) = waiter.done.take() {
                    let _ = done.send(());
                }
            }
        }
    }

    /// Logs the round and adds it to the counters `GET /tables` shows.
    fn record(&self, report: &RoundReport) {
        if report.outcome != RoundOutcome::Idle && report.outcome != RoundOutcome::Waiting {
            emit(&to_line(&RoundLine {
                event: "commit_round",
                report,
            }));
        }
        let now = worker::Date::now().as_millis() as i64;
        self.count(|c| c.add_round(report, now));
    }

    fn count(&self, update: impl FnOnce(&mut CommitCounters)) {
        let Ok(Some(committer)) = self.committer(None) else {
            return;
        };
        let store = committer.store();
        let mut counters: CommitCounters =
            store.get_meta(COUNTERS).ok().flatten().unwrap_or_default();
        update(&mut counters);
        let _ = store.set_meta(COUNTERS, Some(&counters));
    }

    fn status(
        &self,
        committer: &Committer,
        now: i64,
    ) -> std::result::Result<CommitterStatus, CommitterError> {
        let store = committer.store();
        Ok(CommitterStatus {
            table: committer.table().to_string(),
            pending: committer.pending_objects(now)?,
            next_round_ms: committer.next_round_ms(now)?,
            in_flight: icepipe_core::committer::store::CommitterStore::in_flight(store)?,
            counters: store.get_meta(COUNTERS)?.unwrap_or_default(),
        })
    }
}

#[derive(Serialize)]
struct RoundLine<'a> {
    event: &'static str,
    #[serde(flatten)]
    report: &'a RoundReport,
}

fn context<'a>(
    catalog: &'a RestCatalog,
    file_io: &'a FileIO,
    wiring: &'a Wiring,
    gate: &'a DurableGate,
) -> CommitContext<'a> {
    CommitContext {
        catalog,
        file_io,
        clock: wiring.clock.as_ref(),
        gate,
    }
}

fn all_settled(reports: &[ObjectReport]) -> bool {
    reports.iter().all(|r| {
        r.state.is_decided()
            || matches!(
                r.state,
                icepipe_core::committer::ObjectState::Reconvert { .. }
            )
            || matches!(r.state, icepipe_core::committer::ObjectState::Unknown)
    })
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("committer answers serialize")
}
