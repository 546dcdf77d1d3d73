//! What converting raw objects did to one table: one type, filled by the commit (snapshot,
//! objects added, held or superseded, attempts, what an overwrite removed) and by the converter
//! (failures, table creation, schema changes, timings), printed by the CLI and logged per batch by
//! the convert Worker as it is.

use serde::Serialize;

use crate::raw::error_record::FailureKind;
use crate::raw::object::{RawObject, RawObjectId};
use crate::raw::slice::ObjectSlice;
use crate::storage::StorageError;

/// What one conversion did to one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableOutcome {
    pub table: String,
    /// The new snapshot, or `None` when nothing new was committed.
    pub snapshot_id: Option<i64>,
    pub metadata_location: Option<String>,
    /// Objects whose rows this call committed.
    pub objects: Vec<String>,
    /// Objects the table already held (duplicate deliveries): nothing written for them.
    pub skipped: Vec<String>,
    /// Objects of a replace load older than the table's (or than another in the call): skipped.
    pub superseded: Vec<SupersededObject>,
    pub failed: Vec<ObjectFailure>,
    /// Objects handed to the table's committer and not committed yet.
    pub pending: Vec<PendingObjectOutcome>,
    /// Slices and objects left for other invocations (the caller sends them on, then
    /// acknowledges what it was given).
    pub handed_on: Vec<HandedOn>,
    /// The replace load the snapshot applied (operation `overwrite`), if any.
    pub replace_load_id: Option<String>,
    /// Data files and rows the overwrite removed.
    pub removed_files: usize,
    pub removed_rows: u64,
    pub data_files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub created_table: bool,
    pub schema_changes: Vec<String>,
    pub commit_attempts: u32,
    /// Merge objects applied, one overwrite snapshot each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<MergedObject>,
    pub timings_ms: Timings,
}

/// A merge object the call applied, and what it did to the table.
#[derive(Debug, Clone, Serialize)]
pub struct MergedObject {
    pub object: String,
    pub snapshot_id: i64,
    pub stats: MergeStats,
}

/// An object handed to the committer whose commit is still to come (the pace, the catalog's
/// budget, a `Retry-After`, or other slices of it are still being converted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingObjectOutcome {
    /// The object's location (`s3://bucket/key` or a path).
    pub object: String,
    pub key: String,
    pub etag: String,
    pub slices_done: u32,
    pub slices: u32,
    /// When the committer expects to try (milliseconds since the epoch).
    pub next_attempt_ms: i64,
    /// What this call handed over for it (0 when it was pending before the call).
    pub data_files: usize,
    pub rows: u64,
    pub bytes: u64,
}

impl PendingObjectOutcome {
    pub fn id(&self) -> RawObjectId {
        RawObjectId {
            key: self.key.clone(),
            etag: self.etag.clone(),
        }
    }
}

/// Work a conversion planned but left to other invocations (continuation messages).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HandedOn {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub created_ms: i64,
    /// The slice to convert, or `None` for the whole object (deferred for lack of budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice: Option<ObjectSlice>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub load: i64,
    pub probe: i64,
    pub write: i64,
    pub commit: i64,
}

/// Why one raw object was not converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{object}: {reason}")]
pub struct ObjectFailure {
    /// The object's location (`s3://bucket/key` or a path).
    pub object: String,
    pub key: String,
    pub etag: String,
    pub kind: FailureKind,
    pub reason: String,
}

impl ObjectFailure {
    pub fn new(object: &RawObject, kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            object: object.location(),
            key: object.key.clone(),
            etag: object.etag.clone(),
            kind,
            reason: reason.into(),
        }
    }

    /// Classifies an error from reading or writing: storage trouble is transient, anything
    /// else (decoding, schema) is a property of the file.
    pub fn from_error(
        object: &RawObject,
        context: &str,
        err: &(dyn std::error::Error + 'static),
    ) -> Self {
        let kind = match crate::storage::iceberg_io::find_storage_error(err) {
            Some(StorageError::NotFound { .. }) => FailureKind::Permanent,
            Some(_) => FailureKind::Transient,
            None => FailureKind::Permanent,
        };
        Self::new(object, kind, format!("{context}: {}", error_chain(err)))
    }
}

/// An object of a replace load that a newer load supersedes: acknowledged, never committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupersededObject {
    /// The object's location (`s3://bucket/key` or a path).
    pub object: String,
    pub key: String,
    pub etag: String,
    pub load_id: String,
    pub by_load_id: String,
    pub reason: String,
}

impl SupersededObject {
    pub fn new(location: String, id: &RawObjectId, load_id: &str, by_load_id: &str) -> Self {
        Self {
            object: location,
            key: id.key.clone(),
            etag: id.etag.clone(),
            load_id: load_id.to_string(),
            by_load_id: by_load_id.to_string(),
            reason: format!("replace load {load_id} superseded by load {by_load_id}"),
        }
    }
}

/// "outer: inner: innermost", without repeating a message a wrapper already includes.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// What one merge did to the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MergeStats {
    /// Rows in the merge object, and the distinct keys they collapse to.
    pub rows_read: u64,
    pub keys: usize,
    /// Keys the object deletes.
    pub deletes: usize,
    /// Incoming keys the table already held a newer version of (left as they are).
    pub stale: usize,
    /// Rows added (new and updated keys).
    pub rows_added: u64,
    /// Table rows replaced or deleted.
    pub rows_removed: u64,
    /// Live data files of the table, those chosen by their bounds and read, and those rewritten.
    pub files_live: usize,
    pub files_read: usize,
    pub files_rewritten: usize,
    pub files_added: usize,
    /// Position delete files added (merge-on-read).
    #[serde(default)]
    pub delete_files_added: usize,
    /// With a merge key: groups the merge replaced, and groups the table held a newer load of
    /// (their rows did not land).
    #[serde(default)]
    pub groups_replaced: usize,
    #[serde(default)]
    pub groups_stale: usize,
}

/// How a merge object ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The table already holds the object (its ledger says so): nothing changed.
    Held,
    Applied {
        snapshot_id: i64,
        stats: MergeStats,
        attempts: u32,
    },
}
