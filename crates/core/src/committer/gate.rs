//! Where a committer reserves its catalog writes: the catalog-wide [`WriteBudget`] behind a seam,
//! kept in process by the CLI and in one Durable Object per catalog by the convert Worker.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::budget::{BudgetLimits, WriteBudget, WriteKind};
use super::error::CommitterError;
use crate::clock::Clock;

#[async_trait]
pub trait WriteGate: Send + Sync + std::fmt::Debug {
    /// Reserves a slot for one catalog write of `kind`; the answer is the time (ms since the
    /// epoch) from which it may be sent. The slot counts whether or not it is used.
    async fn reserve(&self, kind: WriteKind) -> Result<i64, CommitterError>;
}

/// The budget of one process (the CLI, tests).
#[derive(Debug)]
pub struct LocalGate {
    budget: Mutex<WriteBudget>,
    limits: BudgetLimits,
    clock: Arc<dyn Clock>,
}

impl LocalGate {
    pub fn new(limits: BudgetLimits, clock: Arc<dyn Clock>) -> Self {
        Self {
            budget: Mutex::new(WriteBudget::default()),
            limits,
            clock,
        }
    }
}

#[async_trait]
impl WriteGate for LocalGate {
    async fn reserve(&self, kind: WriteKind) -> Result<i64, CommitterError> {
        let now = self.clock.now_ms();
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        Ok(budget.reserve(kind, now, &self.limits))
    }
}
