//! What a table's coordinator tells `GET /tables`: the objects it holds pending (slices so far),
//! the attempt in flight, and counters of its rounds and catalog writes (the bill and the rate).

use serde::{Deserialize, Serialize};

use super::handoff::ObjectReport;
use super::store::InFlight;
use super::table::{RoundOutcome, RoundReport};

/// Commit times kept for the per-minute rate.
const RECENT: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCounters {
    pub rounds: u64,
    /// Commit requests sent to the catalog (each counts against the table's 20 per minute).
    pub commit_requests: u64,
    /// Snapshots committed.
    pub commits: u64,
    pub lost_races: u64,
    pub rate_limited: u64,
    pub outcomes_unknown: u64,
    pub failed_rounds: u64,
    /// Table loads by rounds (reads: not rate limited, but billed).
    pub loads: u64,
    pub tables_created: u64,
    pub schema_updates: u64,
    pub objects_committed: u64,
    pub rows_committed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_commit_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Send times of the most recent commit requests.
    #[serde(default)]
    pub recent_requests_ms: Vec<i64>,
}

impl CommitCounters {
    pub fn add_round(&mut self, report: &RoundReport, now_ms: i64) {
        self.rounds += 1;
        self.loads += u64::from(report.loaded);
        if report.sent {
            self.commit_requests += 1;
            self.recent_requests_ms.push(now_ms);
            let excess = self.recent_requests_ms.len().saturating_sub(RECENT);
            self.recent_requests_ms.drain(..excess);
        }
        match report.outcome {
            RoundOutcome::Committed | RoundOutcome::AppliedEarlier if report.objects > 0 => {
                self.commits += u64::from(report.outcome == RoundOutcome::Committed);
                self.objects_committed += report.objects as u64;
                self.rows_committed += report.rows;
                self.last_commit_ms = Some(now_ms);
            }
            RoundOutcome::LostRace => self.lost_races += 1,
            RoundOutcome::RateLimited => self.rate_limited += 1,
            RoundOutcome::OutcomeUnknown => self.outcomes_unknown += 1,
            RoundOutcome::Failed => {
                self.failed_rounds += 1;
                self.last_error = report.detail.clone();
            }
            _ => {}
        }
    }

    /// Commit requests sent in the minute before `now_ms`.
    pub fn requests_last_minute(&self, now_ms: i64) -> usize {
        self.recent_requests_ms
            .iter()
            .filter(|t| **t > now_ms - 60_000)
            .count()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitterStatus {
    pub table: String,
    /// Objects handed over and not committed yet (slices done / total).
    pub pending: Vec<ObjectReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_round_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<InFlight>,
    pub counters: CommitCounters,
}

#[cfg(test)]
mod tests {
    use super::*;
    use iceberg::TableIdent;

    fn round(outcome: RoundOutcome, sent: bool, objects: usize) -> RoundReport {
        let mut report = RoundReport::new(&TableIdent::from_strs(["a", "t"]).unwrap(), outcome);
        report.sent = sent;
        report.loaded = true;
        report.objects = objects;
        report.rows = objects as u64 * 10;
        report
    }

    #[test]
    fn counts_requests_commits_and_the_last_minute() {
        let mut c = CommitCounters::default();
        c.add_round(&round(RoundOutcome::Committed, true, 3), 1_000);
        c.add_round(&round(RoundOutcome::LostRace, true, 0), 6_000);
        c.add_round(&round(RoundOutcome::Committed, true, 2), 11_000);
        c.add_round(&round(RoundOutcome::Waiting, false, 0), 12_000);
        assert_eq!((c.commit_requests, c.commits, c.lost_races), (3, 2, 1));
        assert_eq!((c.objects_committed, c.rows_committed), (5, 50));
        assert_eq!(c.last_commit_ms, Some(11_000));
        assert_eq!(c.requests_last_minute(61_500), 2);
        assert_eq!(c.rounds, 4);
    }
}
