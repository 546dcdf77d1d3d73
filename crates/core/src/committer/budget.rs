//! The catalog-wide write budget: R2 Data Catalog counts writes per catalog in 60-second windows
//! (all writes: 120; `createTable`/`registerTable`/`commitTransaction`/`createView`: 10; namespace
//! operations: 20). Every catalog write icepipe sends first reserves a slot here, so no load pattern
//! and no number of tables can push the catalog past its limits.
//!
//! Pure state, no clock. A reservation is a time: the caller sends its write at that time, not
//! before (a slot in the future is already counted, so callers wait in the order they asked).

use serde::{Deserialize, Serialize};

/// Length of the catalog's rate-limit window.
pub const WINDOW_MS: i64 = 60_000;

/// What kind of catalog write a slot is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteKind {
    /// `updateTable`: a commit (data or schema). Limited per table by the table's pacer.
    UpdateTable,
    /// `createTable` (and the other operations in its documented class).
    CreateTable,
    /// `createNamespace` and the other namespace writes.
    Namespace,
}

/// Writes allowed per [`WINDOW_MS`]. Defaults leave headroom under R2 Data Catalog's documented
/// limits (120 / 10 / 20) for writers other than icepipe (a user's Spark job, R2's own maintenance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLimits {
    pub writes: u32,
    pub creates: u32,
    pub namespace_ops: u32,
}

impl Default for BudgetLimits {
    fn default() -> Self {
        Self {
            writes: 100,
            creates: 8,
            namespace_ops: 16,
        }
    }
}

impl BudgetLimits {
    fn limit_of(&self, kind: WriteKind) -> Option<u32> {
        match kind {
            WriteKind::UpdateTable => None,
            WriteKind::CreateTable => Some(self.creates),
            WriteKind::Namespace => Some(self.namespace_ops),
        }
    }
}

/// Slots granted in the last window and ahead of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBudget {
    grants: Vec<(WriteKind, i64)>,
}

impl WriteBudget {
    /// Reserves a slot for a write of `kind`: the earliest time at or after `now_ms` at which it
    /// keeps every 60-second window within `limits`. The slot counts from now on.
    pub fn reserve(&mut self, kind: WriteKind, now_ms: i64, limits: &BudgetLimits) -> i64 {
        self.grants.retain(|(_, at)| *at > now_ms - WINDOW_MS);
        let at = self.earliest_slot(kind, now_ms, limits);
        self.grants.push((kind, at));
        at
    }

    /// Writes granted in the window ending at `now_ms` (inclusive), for reports.
    pub fn used(&self, now_ms: i64) -> usize {
        self.grants
            .iter()
            .filter(|(_, at)| *at > now_ms - WINDOW_MS && *at <= now_ms)
            .count()
    }

    fn earliest_slot(&self, kind: WriteKind, now_ms: i64, limits: &BudgetLimits) -> i64 {
        let mut all: Vec<i64> = self.grants.iter().map(|(_, at)| *at).collect();
        let mut same: Vec<i64> = self
            .grants
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, at)| *at)
            .collect();
        all.sort_unstable();
        same.sort_unstable();
        // A limit of 0 would never fit: treat it as 1 (settings reject 0 before it gets here).
        let fits = |t: i64| {
            max_in_windows_containing(&all, t) < limits.writes.max(1) as usize
                && limits
                    .limit_of(kind)
                    .is_none_or(|l| max_in_windows_containing(&same, t) < l.max(1) as usize)
        };
        // A slot fits once the grants that fill its window have aged out, so the candidates are
        // `now` and every grant's time plus one window.
        std::iter::once(now_ms)
            .chain(all.iter().map(|at| at + WINDOW_MS).filter(|t| *t > now_ms))
            .find(|&t| fits(t))
            .expect("the last grant plus one window always fits")
    }
}

/// The most grants any window `[s, s + WINDOW_MS)` containing `t` already holds (`times` sorted).
fn max_in_windows_containing(times: &[i64], t: i64) -> usize {
    let count_from = |start: i64| {
        times.partition_point(|g| *g < start + WINDOW_MS) - times.partition_point(|g| *g < start)
    };
    // Windows containing t start in (t - WINDOW_MS, t]. Sliding the start right, a grant leaves
    // on the left (the count falls) or one enters on the right (it rises), so the count peaks at
    // the leftmost start or where a later grant g just entered: start g - WINDOW_MS + 1.
    let first_later = times.partition_point(|g| *g <= t);
    let last_later = times.partition_point(|g| *g < t + WINDOW_MS);
    std::iter::once(t - WINDOW_MS + 1)
        .chain(
            times[first_later..last_later]
                .iter()
                .map(|g| g - WINDOW_MS + 1),
        )
        .map(count_from)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(writes: u32, creates: u32) -> BudgetLimits {
        BudgetLimits {
            writes,
            creates,
            namespace_ops: 16,
        }
    }

    /// The most grants of `kind` (or all, with `None`) in any 60 s window.
    fn peak(grants: &[(WriteKind, i64)], kind: Option<WriteKind>) -> usize {
        let times: Vec<i64> = grants
            .iter()
            .filter(|(k, _)| kind.is_none_or(|kind| *k == kind))
            .map(|(_, at)| *at)
            .collect();
        times
            .iter()
            .map(|&s| {
                times
                    .iter()
                    .filter(|g| **g >= s && **g < s + WINDOW_MS)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn grants_at_once_while_under_the_limit() {
        let mut b = WriteBudget::default();
        let l = limits(3, 2);
        assert_eq!(b.reserve(WriteKind::UpdateTable, 1_000, &l), 1_000);
        assert_eq!(b.reserve(WriteKind::UpdateTable, 1_500, &l), 1_500);
        assert_eq!(b.reserve(WriteKind::UpdateTable, 2_000, &l), 2_000);
        // The fourth waits until the first leaves its window.
        assert_eq!(b.reserve(WriteKind::UpdateTable, 2_100, &l), 61_000);
        // And the fifth queues behind it, not at the same time.
        assert_eq!(b.reserve(WriteKind::UpdateTable, 2_200, &l), 61_500);
    }

    #[test]
    fn creates_have_their_own_smaller_limit_inside_the_total() {
        let mut b = WriteBudget::default();
        let l = limits(10, 2);
        assert_eq!(b.reserve(WriteKind::CreateTable, 0, &l), 0);
        assert_eq!(b.reserve(WriteKind::CreateTable, 10, &l), 10);
        assert_eq!(b.reserve(WriteKind::CreateTable, 20, &l), 60_000);
        // Updates are not held up by the create limit.
        assert_eq!(b.reserve(WriteKind::UpdateTable, 30, &l), 30);
    }

    #[test]
    fn no_window_ever_exceeds_the_limits_under_heavy_demand() {
        let mut b = WriteBudget::default();
        let l = limits(20, 3);
        let mut now = 0;
        let mut granted = Vec::new();
        for i in 0..200 {
            let kind = match i % 7 {
                0 => WriteKind::CreateTable,
                1 => WriteKind::Namespace,
                _ => WriteKind::UpdateTable,
            };
            let at = b.reserve(kind, now, &l);
            assert!(at >= now);
            granted.push((kind, at));
            now += 97;
        }
        assert_eq!(
            peak(&granted, None),
            20,
            "the budget is used, never exceeded"
        );
        assert_eq!(peak(&granted, Some(WriteKind::CreateTable)), 3);
        assert!(peak(&granted, Some(WriteKind::Namespace)) <= 16);
    }

    #[test]
    fn a_late_reservation_may_use_a_free_slot_before_queued_ones() {
        // Slots are times, not a queue position: a create waiting for its class does not block
        // an update that fits now.
        let mut b = WriteBudget::default();
        let l = limits(5, 1);
        b.reserve(WriteKind::CreateTable, 0, &l);
        assert_eq!(b.reserve(WriteKind::CreateTable, 1, &l), 60_000);
        assert_eq!(b.reserve(WriteKind::UpdateTable, 2, &l), 2);
        assert_eq!(b.used(2), 2);
    }
}
