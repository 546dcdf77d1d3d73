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
        object_digest(&self.key, &self.etag)
    }
}

/// 16 hex digits of SHA-256 over (key, eTag): the prefix of the object's data file names.
pub fn object_digest(key: &str, etag: &str) -> String {
    key_etag_hash(key, etag, 8)
}

/// The first `bytes` bytes of SHA-256 over (key, eTag), in hex: what is named after one raw
/// object's content (its data files, its error record).
pub(crate) fn key_etag_hash(key: &str, etag: &str, bytes: usize) -> String {
    let mut hash = Sha256::new();
    hash.update(key.as_bytes());
    hash.update([0u8]);
    hash.update(etag.as_bytes());
    hex::encode(&hash.finalize()[..bytes])
}

/// The object digest a data file is named after (`<digest>-<part>.parquet`, see
/// [`RawObject::digest`]), or `None` for files icepipe did not name (compaction, other writers).
pub fn data_file_digest(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next()?;
    let (digest, rest) = name.split_once('-')?;
    let part = rest.strip_suffix(".parquet")?;
    let named = digest.len() == 16
        && digest.bytes().all(|b| b.is_ascii_hexdigit())
        && part.len() == 5
        && part.bytes().all(|b| b.is_ascii_digit());
    named.then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_are_traced_to_their_object_by_name() {
        let digest = object_digest("sources/a/b/year=2026/month=01/day=02/x.parquet", "e1");
        let path =
            format!("s3://warehouse/ns/t/data/_loaded_at_day=2026-01-02/{digest}-00003.parquet");
        assert_eq!(data_file_digest(&path), Some(digest.as_str()));
        assert_eq!(
            data_file_digest("s3://w/t/data/compacted-00001-abc.parquet"),
            None
        );
        assert_eq!(data_file_digest("s3://w/t/data/00000-0-uuid.parquet"), None);
    }
}
