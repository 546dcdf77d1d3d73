//! What a table's committer keeps between invocations: the objects handed over and not yet
//! decided, the commit attempt in flight (so a restart can tell whether it applied), the pace, and
//! recent decisions (so a redelivered message is answered without converting again).
//!
//! Synchronous on purpose: a Durable Object's SQLite storage is synchronous, and the in-memory
//! store of the CLI and the tests needs no I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::handoff::{HandoffObject, ObjectState};
use super::pacing::Pacer;
use crate::raw::object::RawObjectId;

/// A commit attempt that was sent (or about to be) and whose answer has not been seen yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub snapshot_id: i64,
    pub objects: Vec<RawObjectId>,
    pub sent_ms: i64,
    /// How many times this snapshot was tried.
    pub attempt: u32,
}

/// The committer's storage failed (a Durable Object storage error): worth a retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the committer's storage failed to {operation}: {reason}")]
pub struct StoreError {
    pub operation: &'static str,
    pub reason: String,
}

pub type StoreResult<T> = Result<T, StoreError>;

pub trait CommitterStore: Send + Sync + std::fmt::Debug {
    /// Every slice handed over and not yet decided.
    fn pending(&self) -> StoreResult<Vec<HandoffObject>>;
    /// Adds or replaces one slice (same object and slice index: the newer wins).
    fn put_pending(&self, slice: &HandoffObject) -> StoreResult<()>;
    /// Drops every slice of an object.
    fn remove_pending(&self, id: &RawObjectId) -> StoreResult<()>;

    /// The decision on an object and when it was taken.
    fn decision(&self, id: &RawObjectId) -> StoreResult<Option<(ObjectState, i64)>>;
    fn put_decision(&self, id: &RawObjectId, state: &ObjectState, now_ms: i64) -> StoreResult<()>;
    fn forget_decision(&self, id: &RawObjectId) -> StoreResult<()>;
    /// Forgets decisions taken before `before_ms` (the table's ledger still knows them).
    fn forget_decisions_before(&self, before_ms: i64) -> StoreResult<()>;

    fn in_flight(&self) -> StoreResult<Option<InFlight>>;
    fn set_in_flight(&self, attempt: Option<&InFlight>) -> StoreResult<()>;

    fn pacer(&self) -> StoreResult<Pacer>;
    fn set_pacer(&self, pacer: &Pacer) -> StoreResult<()>;
}

/// The committer's state in memory: the CLI (one process commits directly) and tests.
#[derive(Debug, Default)]
pub struct MemoryCommitterStore {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default, Clone)]
struct MemoryState {
    pending: BTreeMap<(RawObjectId, u32), HandoffObject>,
    decisions: BTreeMap<RawObjectId, (ObjectState, i64)>,
    in_flight: Option<InFlight>,
    pacer: Pacer,
}

impl MemoryCommitterStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryState) -> T) -> StoreResult<T> {
        let mut state = self.state.lock().map_err(|e| StoreError {
            operation: "lock the in-memory state",
            reason: e.to_string(),
        })?;
        Ok(f(&mut state))
    }
}

impl CommitterStore for MemoryCommitterStore {
    fn pending(&self) -> StoreResult<Vec<HandoffObject>> {
        self.with(|s| s.pending.values().cloned().collect())
    }

    fn put_pending(&self, slice: &HandoffObject) -> StoreResult<()> {
        self.with(|s| {
            s.pending
                .insert((slice.id.clone(), slice.slice.index), slice.clone());
        })
    }

    fn remove_pending(&self, id: &RawObjectId) -> StoreResult<()> {
        self.with(|s| s.pending.retain(|(pending, _), _| pending != id))
    }

    fn decision(&self, id: &RawObjectId) -> StoreResult<Option<(ObjectState, i64)>> {
        self.with(|s| s.decisions.get(id).cloned())
    }

    fn put_decision(&self, id: &RawObjectId, state: &ObjectState, now_ms: i64) -> StoreResult<()> {
        self.with(|s| {
            s.decisions.insert(id.clone(), (state.clone(), now_ms));
        })
    }

    fn forget_decision(&self, id: &RawObjectId) -> StoreResult<()> {
        self.with(|s| {
            s.decisions.remove(id);
        })
    }

    fn forget_decisions_before(&self, before_ms: i64) -> StoreResult<()> {
        self.with(|s| s.decisions.retain(|_, (_, at)| *at >= before_ms))
    }

    fn in_flight(&self) -> StoreResult<Option<InFlight>> {
        self.with(|s| s.in_flight.clone())
    }

    fn set_in_flight(&self, attempt: Option<&InFlight>) -> StoreResult<()> {
        self.with(|s| s.in_flight = attempt.cloned())
    }

    fn pacer(&self) -> StoreResult<Pacer> {
        self.with(|s| s.pacer)
    }

    fn set_pacer(&self, pacer: &Pacer) -> StoreResult<()> {
        self.with(|s| s.pacer = *pacer)
    }
}

/// A store shared by several committers over time (tests restart a committer on the same state).
impl<T: CommitterStore> CommitterStore for std::sync::Arc<T> {
    fn pending(&self) -> StoreResult<Vec<HandoffObject>> {
        (**self).pending()
    }
    fn put_pending(&self, slice: &HandoffObject) -> StoreResult<()> {
        (**self).put_pending(slice)
    }
    fn remove_pending(&self, id: &RawObjectId) -> StoreResult<()> {
        (**self).remove_pending(id)
    }
    fn decision(&self, id: &RawObjectId) -> StoreResult<Option<(ObjectState, i64)>> {
        (**self).decision(id)
    }
    fn put_decision(&self, id: &RawObjectId, state: &ObjectState, now_ms: i64) -> StoreResult<()> {
        (**self).put_decision(id, state, now_ms)
    }
    fn forget_decision(&self, id: &RawObjectId) -> StoreResult<()> {
        (**self).forget_decision(id)
    }
    fn forget_decisions_before(&self, before_ms: i64) -> StoreResult<()> {
        (**self).forget_decisions_before(before_ms)
    }
    fn in_flight(&self) -> StoreResult<Option<InFlight>> {
        (**self).in_flight()
    }
    fn set_in_flight(&self, attempt: Option<&InFlight>) -> StoreResult<()> {
        (**self).set_in_flight(attempt)
    }
    fn pacer(&self) -> StoreResult<Pacer> {
        (**self).pacer()
    }
    fn set_pacer(&self, pacer: &Pacer) -> StoreResult<()> {
        (**self).set_pacer(pacer)
    }
}
