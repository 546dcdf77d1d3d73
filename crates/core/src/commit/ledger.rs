//! The exactly-once ledger: every snapshot icepipe commits names, in its summary, the raw objects
//! (key + eTag) whose rows it added. A table "holds" an object when a snapshot in the ancestry of
//! its current state names it, so a rolled-back load can be replayed.

use std::collections::HashSet;

use iceberg::spec::TableMetadata;

use crate::raw::object::RawObjectId;
use crate::raw::summary::RAW_OBJECTS_PROPERTY;

/// Raw objects held by the current state of the table (main branch and its ancestors).
pub fn committed_objects(metadata: &TableMetadata) -> HashSet<RawObjectId> {
    let mut held = HashSet::new();
    for snapshot in ancestry(metadata) {
        if let Some(json) = snapshot
            .summary()
            .additional_properties
            .get(RAW_OBJECTS_PROPERTY)
        {
            // A summary we cannot parse was not written by us; it holds nothing we know of.
            if let Ok(objects) = serde_json::from_str::<Vec<RawObjectId>>(json) {
                held.extend(objects);
            }
        }
    }
    held
}

/// The raw objects one snapshot's summary names.
pub fn snapshot_objects(metadata: &TableMetadata, snapshot_id: i64) -> Vec<RawObjectId> {
    metadata
        .snapshot_by_id(snapshot_id)
        .and_then(|s| s.summary().additional_properties.get(RAW_OBJECTS_PROPERTY))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// Whether a snapshot id is the current snapshot or one of its ancestors.
pub fn in_ancestry(metadata: &TableMetadata, snapshot_id: i64) -> bool {
    ancestry(metadata).any(|s| s.snapshot_id() == snapshot_id)
}

/// The current snapshot, then its parent, and so on (stops where history was expired).
pub fn ancestry(metadata: &TableMetadata) -> impl Iterator<Item = &iceberg::spec::SnapshotRef> {
    let mut next = metadata.current_snapshot();
    std::iter::from_fn(move || {
        let current = next?;
        next = current
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id));
        Some(current)
    })
}

pub fn encode(objects: &[RawObjectId]) -> String {
    serde_json::to_string(objects).expect("strings always serialize")
}

/// What a table holds, as the exactly-once ledger knows it: the one question the reconciliation
/// sweep and the audit ask of the ledger, so that a ledger kept elsewhere (one that outlives
/// snapshot expiry) changes only this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableHoldings {
    held: HashSet<RawObjectId>,
}

impl TableHoldings {
    /// The holdings of a table's current state; a table that does not exist holds nothing.
    pub fn of(metadata: Option<&TableMetadata>) -> Self {
        Self {
            held: metadata.map(committed_objects).unwrap_or_default(),
        }
    }

    pub fn holds(&self, id: &RawObjectId) -> bool {
        self.held.contains(id)
    }

    /// Every raw object held, in no particular order.
    pub fn objects(&self) -> impl Iterator<Item = &RawObjectId> {
        self.held.iter()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
}
