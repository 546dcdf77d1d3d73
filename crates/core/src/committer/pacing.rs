//! When a table may be written to next: at most one catalog write per `interval`, never before a
//! `Retry-After` runs out. Pure state, no clock: callers pass `now_ms`.
//!
//! R2 Data Catalog allows 20 `updateTable` calls per table per 60 s and counts every attempt, so
//! the pace applies to attempts (a lost race costs a slot like a success does), not to successes.

use serde::{Deserialize, Serialize};

/// Pacing state of one table (persisted by the coordinator, so a restart keeps the pace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pacer {
    /// When the last write attempt was sent.
    pub last_attempt_ms: Option<i64>,
    /// No attempt before this time (a `429`'s `Retry-After`).
    pub blocked_until_ms: i64,
    /// A slot of the catalog-wide budget already reserved for the next attempt (so waiting for
    /// it does not reserve another).
    #[serde(default)]
    pub reserved_slot_ms: Option<i64>,
}

impl Pacer {
    /// The earliest time at or after `now_ms` at which an attempt may be sent.
    pub fn next_slot(&self, now_ms: i64, interval_ms: i64) -> i64 {
        let paced = self
            .last_attempt_ms
            .map_or(i64::MIN, |last| last.saturating_add(interval_ms));
        now_ms.max(paced).max(self.blocked_until_ms)
    }

    /// Whether an attempt may be sent now.
    pub fn ready(&self, now_ms: i64, interval_ms: i64) -> bool {
        self.next_slot(now_ms, interval_ms) <= now_ms
    }

    /// An attempt is sent now: it uses up the pace and any reserved budget slot.
    pub fn record_attempt(&mut self, now_ms: i64) {
        self.last_attempt_ms = Some(now_ms);
        self.reserved_slot_ms = None;
    }

    /// The catalog said to wait: nothing before `now + retry_after`.
    pub fn block_for(&mut self, now_ms: i64, retry_after_ms: i64) {
        self.blocked_until_ms = self
            .blocked_until_ms
            .max(now_ms.saturating_add(retry_after_ms));
    }

    /// Attempts this pace allows in any 60 s window (for messages and checks of the settings).
    pub fn attempts_per_minute(interval_ms: i64) -> i64 {
        if interval_ms <= 0 {
            i64::MAX
        } else {
            // An attempt at 0, interval, 2*interval, ... inside [0, 60 s).
            (60_000 - 1) / interval_ms + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_table_may_be_written_at_once() {
        let p = Pacer::default();
        assert_eq!(p.next_slot(1_000, 5_000), 1_000);
        assert!(p.ready(1_000, 5_000));
    }

    #[test]
    fn attempts_are_spaced_by_the_interval() {
        let mut p = Pacer::default();
        p.record_attempt(10_000);
        assert_eq!(p.next_slot(11_000, 5_000), 15_000);
        assert!(!p.ready(14_999, 5_000));
        assert!(p.ready(15_000, 5_000));
        assert_eq!(p.next_slot(20_000, 5_000), 20_000);
    }

    #[test]
    fn retry_after_wins_over_the_interval_and_never_shrinks() {
        let mut p = Pacer::default();
        p.record_attempt(10_000);
        p.block_for(10_000, 60_000);
        assert_eq!(p.next_slot(11_000, 5_000), 70_000);
        p.block_for(12_000, 1_000);
        assert_eq!(
            p.blocked_until_ms, 70_000,
            "a shorter wait does not undo a longer one"
        );
    }

    #[test]
    fn attempts_per_minute_of_an_interval() {
        assert_eq!(Pacer::attempts_per_minute(5_000), 12);
        assert_eq!(Pacer::attempts_per_minute(3_000), 20);
        assert_eq!(Pacer::attempts_per_minute(2_999), 21);
        assert_eq!(Pacer::attempts_per_minute(60_000), 1);
        assert_eq!(Pacer::attempts_per_minute(0), i64::MAX);
    }
}
