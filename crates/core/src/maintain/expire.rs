//! Snapshot expiry with Iceberg's ExpireSnapshots semantics: every branch keeps its newest
//! `min-snapshots-to-keep` ancestors and every ancestor younger than `max-snapshot-age-ms`; tagged
//! snapshots are kept; snapshots on no ref are kept while younger than the age limit; the rest
//! are removed. Files only the removed snapshots referenced are deleted after the commit (as R2's
//! managed expiration does); the ledger keeps what they recorded.

use std::collections::{BTreeSet, HashSet};

use iceberg::spec::{SnapshotReference, SnapshotRetention, TableMetadata};

use super::settings::MaintenanceSettings;

/// The refs of a table (the `iceberg` crate keeps them private; their JSON is the contract).
pub fn refs(metadata: &TableMetadata) -> Vec<(String, SnapshotReference)> {
    let Ok(value) = serde_json::to_value(metadata) else {
        return Vec::new();
    };
    value
        .get("refs")
        .and_then(|r| {
            serde_json::from_value::<std::collections::HashMap<String, SnapshotReference>>(
                r.clone(),
            )
            .ok()
        })
        .map(|m| m.into_iter().collect())
        .unwrap_or_default()
}

/// Most snapshots one expiry step removes (the oldest first): the step's cleanup reads each one's
/// manifest list, and a Worker invocation has a bounded number of subrequests.
pub const MAX_SNAPSHOTS_PER_STEP: usize = 200;

/// Snapshot ids to remove, oldest first (all of them; a step takes the first
/// [`MAX_SNAPSHOTS_PER_STEP`]).
pub fn snapshots_to_expire(
    metadata: &TableMetadata,
    settings: &MaintenanceSettings,
    now_ms: i64,
) -> Vec<i64> {
    let mut keep: HashSet<i64> = HashSet::new();
    let mut on_refs: HashSet<i64> = HashSet::new();
    for (_, reference) in refs(metadata) {
        match reference.retention {
            SnapshotRetention::Tag { .. } => {
                keep.insert(reference.snapshot_id);
                on_refs.insert(reference.snapshot_id);
            }
            SnapshotRetention::Branch {
                min_snapshots_to_keep,
                max_snapshot_age_ms,
                ..
            } => {
                let min_keep = min_snapshots_to_keep
                    .map_or(settings.min_snapshots_to_keep, |v| v.max(1) as usize);
                let cutoff = now_ms - max_snapshot_age_ms.unwrap_or(settings.max_snapshot_age_ms);
                let mut next = metadata.snapshot_by_id(reference.snapshot_id);
                let mut kept = 0usize;
                while let Some(snapshot) = next {
                    on_refs.insert(snapshot.snapshot_id());
                    if kept < min_keep || snapshot.timestamp_ms() >= cutoff {
                        keep.insert(snapshot.snapshot_id());
                    }
                    kept += 1;
                    next = snapshot
                        .parent_snapshot_id()
                        .and_then(|id| metadata.snapshot_by_id(id));
                }
            }
        }
    }
    if let Some(current) = metadata.current_snapshot_id() {
        keep.insert(current);
    }
    let cutoff = now_ms - settings.max_snapshot_age_ms;
    let mut expire: Vec<(i64, i64)> = metadata
        .snapshots()
        .filter(|s| !keep.contains(&s.snapshot_id()))
        // Not on any ref (an abandoned attempt, a rolled-back branch): kept while young.
        .filter(|s| on_refs.contains(&s.snapshot_id()) || s.timestamp_ms() < cutoff)
        .map(|s| (s.timestamp_ms(), s.snapshot_id()))
        .collect();
    expire.sort();
    expire.into_iter().map(|(_, id)| id).collect()
}

/// Files of the removed snapshots that the remaining table state does not reference.
pub fn unreferenced(candidates: BTreeSet<String>, referenced: &BTreeSet<String>) -> Vec<String> {
    candidates
        .into_iter()
        .filter(|f| !referenced.contains(f))
        .collect()
}
