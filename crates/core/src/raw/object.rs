//! A raw object, and its identity: the same key rewritten with new content is a new object.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::slice::ObjectSlice;
use crate::storage::{ObjectMeta, ObjectStore};

/// A raw object as the tables' ledger knows it (see [`crate::commit::ledger`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RawObjectId {
    pub key: String,
    pub etag: String,
}

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
