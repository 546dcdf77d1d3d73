//! What converters hand to a table's committer, and what it answers: the protocol between the
//! convert Worker's queue consumers and the table's Durable Object (JSON), and between the CLI's
//! converter and its in-process committer (the same types, never serialized).

use serde::{Deserialize, Serialize};

pub use crate::commit::outcome::{MergeOutcome, MergeStats};
use crate::raw::object::RawObjectId;
use crate::raw::slice::ObjectSlice;

/// Which part of a raw object's rows a handoff carries. Large objects are converted in several
/// invocations; the object commits once every slice has been handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Slice {
    /// 0-based.
    pub index: u32,
    /// How many slices the object was planned in (1: the whole object).
    pub count: u32,
}

impl Slice {
    pub const WHOLE: Slice = Slice { index: 0, count: 1 };

    pub fn is_whole(&self) -> bool {
        self.count <= 1
    }
}

impl From<&ObjectSlice> for Slice {
    fn from(slice: &ObjectSlice) -> Self {
        Slice {
            index: slice.index,
            count: slice.count,
        }
    }
}

impl Default for Slice {
    fn default() -> Self {
        Slice::WHOLE
    }
}

/// One slice of one raw object, written as data files, waiting to be committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffObject {
    pub id: RawObjectId,
    /// `Some(load id)` when the object belongs to a `replace` load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_load: Option<String>,
    #[serde(default)]
    pub slice: Slice,
    /// The table schema and partition spec the files were written with.
    pub schema_id: i32,
    pub spec_id: i32,
    /// Each data file as Iceberg's JSON form (`serialize_data_file_to_json`): the manifest entry
    /// the committer writes, with metrics and partition values, without re-reading the file.
    pub data_files: Vec<String>,
    pub rows: u64,
    pub bytes: u64,
}

/// What a committer knows of a raw object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ObjectState {
    /// Never handed over (or forgotten after a restart with empty storage): convert it.
    Unknown,
    /// Handed over, waiting for its commit (or for its other slices).
    Pending {
        slices_done: u32,
        slices: u32,
        /// When the committer expects to try next (milliseconds since the epoch).
        next_attempt_ms: i64,
    },
    /// Its rows are in this snapshot.
    Committed { snapshot_id: i64 },
    /// The table already held it (a redelivery, a replay, a concurrent converter).
    AlreadyHeld,
    /// It belongs to a replace load that a newer load supersedes: never committed.
    Superseded { load: String, by_load: String },
    /// A slice failed for good: nothing of the object is committed.
    Failed { reason: String },
    /// Its data files no longer fit the table (a concurrent schema change by another writer):
    /// convert it again.
    Reconvert { reason: String },
}

impl ObjectState {
    /// Whether the object's fate is settled (its messages can be acknowledged or recorded).
    pub fn is_decided(&self) -> bool {
        matches!(
            self,
            ObjectState::Committed { .. }
                | ObjectState::AlreadyHeld
                | ObjectState::Superseded { .. }
                | ObjectState::Failed { .. }
        )
    }
}

/// An object and its state, in answers that cover several objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    pub id: RawObjectId,
    #[serde(flatten)]
    pub state: ObjectState,
}

/// What a snapshot that committed submitted objects did besides adding them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub snapshot_id: i64,
    /// The replace load an overwrite applied, and the files and rows it removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_load_id: Option<String>,
    #[serde(default)]
    pub removed_files: usize,
    #[serde(default)]
    pub removed_rows: u64,
}

/// The answer to a submit: every object's state, the snapshots that committed them, and how many
/// commit requests were sent while the caller waited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    pub objects: Vec<ObjectReport>,
    #[serde(default)]
    pub snapshots: Vec<SnapshotSummary>,
    pub attempts: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_as_tagged_json() {
        let report = ObjectReport {
            id: RawObjectId {
                key: "sources/s/r/year=2026/month=11/day=30/a.parquet".into(),
                etag: "e1".into(),
            },
            state: ObjectState::Pending {
                slices_done: 2,
                slices: 5,
                next_attempt_ms: 1_000,
            },
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["state"], "pending");
        assert_eq!(json["slices_done"], 2);
        assert_eq!(json["id"]["etag"], "e1");
        let back: ObjectReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
        assert!(!back.state.is_decided());
        assert!(ObjectState::AlreadyHeld.is_decided());
    }

    #[test]
    fn a_handoff_without_slice_is_the_whole_object() {
        let json = r#"{"id":{"key":"k","etag":"e"},"schema_id":0,"spec_id":0,"data_files":[],"rows":0,"bytes":0}"#;
        let h: HandoffObject = serde_json::from_str(json).unwrap();
        assert_eq!(h.slice, Slice::WHOLE);
        assert!(h.slice.is_whole());
        assert_eq!(h.replace_load, None);
    }
}
