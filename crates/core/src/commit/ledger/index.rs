//! The ledger index: one small JSON file per commit that names, per raw layout day, the segment
//! files holding that day's objects. The snapshot summary and a table property point at it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The replace load the table's rows come from, carried forward by every commit (snapshot
/// summaries alone forget it once history is expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceState {
    pub load: String,
    /// Snapshots whose files belong to the load (the overwrite that applied it, appends after it,
    /// and compactions of its files): an overwrite by a later object of the same load keeps them.
    pub snapshots: Vec<i64>,
}

/// One day's segments: `bases` (one per hash shard, merged) plus recent per-commit `deltas`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayEntry {
    pub shards: u32,
    /// Base segment of each shard (`None`: the shard holds nothing yet).
    pub bases: Vec<Option<String>>,
    pub base_objects: u64,
    pub base_bytes: u64,
    /// Per-commit delta files holding objects of this day (they may hold other days' too).
    pub deltas: Vec<String>,
    pub delta_objects: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerIndex {
    pub format: u32,
    pub table_uuid: String,
    /// The snapshot committed together with this index.
    pub snapshot_id: i64,
    /// Every object the table holds (an upper bound when legacy summaries overlapped).
    pub objects: u64,
    /// The delta naming exactly the objects `snapshot_id` added (`None`: it added none).
    pub added: Option<String>,
    #[serde(default)]
    pub replace: Option<ReplaceState>,
    pub days: BTreeMap<String, DayEntry>,
    /// Size of every delta file still referenced (by a day or as `added`).
    pub deltas: BTreeMap<String, u64>,
}

pub const FORMAT: u32 = 1;

impl LedgerIndex {
    /// Every file this index references (orphan removal keeps them).
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.days
            .values()
            .flat_map(|d| d.bases.iter().flatten())
            .chain(self.deltas.keys())
            .map(String::as_str)
    }

    /// Bytes of the segment files this index references.
    pub fn segment_bytes(&self) -> u64 {
        self.days.values().map(|d| d.base_bytes).sum::<u64>() + self.deltas.values().sum::<u64>()
    }

    /// Deltas no day references any more, except the one naming this commit's objects.
    pub fn drop_unreferenced_deltas(&mut self) {
        let referenced: std::collections::BTreeSet<&String> = self
            .days
            .values()
            .flat_map(|d| d.deltas.iter())
            .chain(self.added.iter())
            .collect();
        let keep: BTreeMap<String, u64> = self
            .deltas
            .iter()
            .filter(|(path, _)| referenced.contains(path))
            .map(|(p, s)| (p.clone(), *s))
            .collect();
        self.deltas = keep;
    }
}
