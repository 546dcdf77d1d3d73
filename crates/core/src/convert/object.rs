//! A raw object to convert, and what can go wrong with one.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::slicing::ObjectSlice;
use crate::commit::ledger::RawObjectId;
use crate::storage::{ObjectMeta, ObjectStore, StorageError};

/// One raw Parquet object, as a notification or a listing describes it.
#[derive(Debug, Clone)]
pub struct RawObject {
    pub store: Arc<dyn ObjectStore>,
    pub key: String,
    pub size: u64,
    pub etag: String,
    /// When the object was created (notification `eventTime` or `Last-Modified`): the
    /// `_loaded_at` of its rows when the file does not carry one.
    pub created_ms: i64,
    /// Only this slice of its row groups (a continuation); `None`: the whole object, sliced by
    /// the converter if it is too large for one invocation.
    pub slice: Option<ObjectSlice>,
}

impl RawObject {
    pub fn from_meta(store: Arc<dyn ObjectStore>, meta: ObjectMeta) -> Self {
        Self {
            store,
            key: meta.key,
            size: meta.size,
            etag: meta.etag,
            created_ms: meta.last_modified_ms,
            slice: None,
        }
    }

    /// The slice index this work item converts (`None`: the whole object).
    pub fn slice_index(&self) -> Option<u32> {
        self.slice.as_ref().map(|s| s.index)
    }

    pub fn id(&self) -> RawObjectId {
        RawObjectId {
            key: self.key.clone(),
            etag: self.etag.clone(),
        }
    }

    /// Where the object is, for messages: `s3://bucket/key`, a path, ...
    pub fn location(&self) -> String {
        self.store.describe(&self.key)
    }

    /// A short stable digest of (key, eTag): names this object's data files and its default
    /// `_load_id`, so a redelivery rewrites the same files instead of leaving orphans.
    pub fn digest(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(self.key.as_bytes());
        hash.update([0u8]);
        hash.update(self.etag.as_bytes());
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Whether trying again later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The object itself is the problem (not Parquet, corrupt, lossy schema change, layout).
    Permanent,
    /// Storage or catalog trouble: the same object may convert on a later attempt.
    Transient,
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
