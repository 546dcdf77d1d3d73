//! Object storage seam: the raw bucket and the table files are reached only through [`ObjectStore`].
//! Implementations: S3 over [`crate::http::HttpClient`] (native and Workers), R2 bindings (convert
//! Worker), the local file system (CLI). [`iceberg_io`] adapts any of them to the `iceberg` crate's
//! `Storage` so its Parquet and manifest writers write through us.

pub mod iceberg_io;
pub mod location;
pub mod memory;
pub mod paging;
pub mod parts;
pub mod s3;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use location::ObjectUrl;

/// What a HEAD (or list) tells about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// Entity tag without surrounding quotes.
    pub etag: String,
    /// Last modification, milliseconds since the epoch.
    pub last_modified_ms: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("object {location} not found")]
    NotFound { location: String },
    #[error("object {location} already exists")]
    AlreadyExists { location: String },
    #[error("access to {location} denied: {reason}")]
    Denied { location: String, reason: String },
    #[error("storage error on {location}: {reason}")]
    Other { location: String, reason: String },
}

impl StorageError {
    /// Whether the same request may succeed later: a missing, existing or forbidden object stays
    /// so until someone acts; anything else (5xx, a dropped connection) may pass.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Other { .. })
    }

    pub fn other(location: impl Into<String>, reason: impl fmt::Display) -> Self {
        StorageError::Other {
            location: location.into(),
            reason: reason.to_string(),
        }
    }
}

pub type StorageResult<T> = Result<T, StorageError>;

/// One bucket. Keys are bucket-relative, without a leading slash.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Human-readable location of a key, for messages (e.g. `s3://bucket/key`).
    fn describe(&self, key: &str) -> String;

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta>;

    /// Bytes `range` of the object; the range must lie within the object.
    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes>;

    /// The whole object.
    async fn get(&self, key: &str) -> StorageResult<Bytes>;

    /// Store a whole object in one request.
    async fn put(&self, key: &str, body: Bytes) -> StorageResult<()>;

    /// Store an object only if no object exists under the key (`If-None-Match: *`).
    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()>;

    /// Replace an object only if its current entity tag is `etag` (`If-Match`): the compare-and-swap
    /// that keeps two overlapping ingest runs from both advancing a cursor. A changed object fails
    /// with [`StorageError::AlreadyExists`] (HTTP 412), a missing one with [`StorageError::NotFound`].
    /// The default refuses, so a store without conditional writes can never silently overwrite.
    async fn put_if_match(&self, key: &str, body: Bytes, etag: &str) -> StorageResult<()> {
        let _ = (body, etag);
        Err(StorageError::other(
            self.describe(key),
            "this store does not support conditional (If-Match) writes",
        ))
    }

    /// A streaming writer for large objects (multipart upload where the backend has it).
    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>>;

    async fn delete(&self, key: &str) -> StorageResult<()>;

    /// Objects under a prefix, in key order.
    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>>;

    /// At most `limit` objects under `prefix` whose keys sort after `start_after`, in key order:
    /// a bounded, resumable walk of a large bucket. The default lists everything and slices;
    /// S3 and R2 stores ask the backend for the page only.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let mut objects: Vec<ObjectMeta> = self
            .list(prefix)
            .await?
            .into_iter()
            .filter(|o| start_after.is_none_or(|after| o.key.as_str() > after))
            .collect();
        let truncated = objects.len() > limit;
        objects.truncate(limit);
        Ok(ListPage { objects, truncated })
    }
}

/// One page of a bounded listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectMeta>,
    /// More objects follow the last one.
    pub truncated: bool,
}

/// Streams an object out in chunks; nothing is visible under the key until `finish` succeeds.
#[async_trait]
pub trait ObjectWriter: Send {
    async fn write(&mut self, chunk: Bytes) -> StorageResult<()>;
    /// Completes the object and returns its total size.
    async fn finish(&mut self) -> StorageResult<u64>;
    /// Drops what was uploaded so far.
    async fn abort(&mut self) -> StorageResult<()>;
}

/// Finds the store for a bucket named in an `s3://bucket/key` URL.
pub trait StoreResolver: Send + Sync + fmt::Debug {
    fn store_for_bucket(&self, bucket: &str) -> StorageResult<Arc<dyn ObjectStore>>;
}
