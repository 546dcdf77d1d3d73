//! In-memory [`ObjectStore`] and [`StoreResolver`] for unit tests: no I/O, no feature, no runtime.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::{ObjectMeta, ObjectStore, ObjectWriter, StorageError, StorageResult, StoreResolver};
use crate::clock::Clock;

/// Modification times start here (2024-01-01T00:00:00Z) and advance 1 ms per write, unless a
/// [`Clock`] is given: deterministic, and no `SystemTime::now` (which panics on wasm32).
const LOGICAL_EPOCH_MS: i64 = 1_704_067_200_000;

#[derive(Debug, Clone)]
struct Entry {
    body: Bytes,
    etag: String,
    last_modified_ms: i64,
}

#[derive(Debug)]
struct Shared {
    bucket: String,
    objects: Mutex<BTreeMap<String, Entry>>,
    clock: Option<Arc<dyn Clock>>,
    logical_ms: AtomicI64,
}

impl Shared {
    fn objects(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        // A panicking test thread must not turn every later access into a second panic.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    fn now_ms(&self) -> i64 {
        match &self.clock {
            Some(clock) => clock.now_ms(),
            None => self.logical_ms.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn entry(&self, body: Bytes) -> Entry {
        Entry {
            etag: content_etag(&body),
            body,
            last_modified_ms: self.now_ms(),
        }
    }

    fn get_entry(&self, key: &str) -> StorageResult<Entry> {
        self.objects()
            .get(key)
            .cloned()
            .ok_or_else(|| StorageError::NotFound {
                location: self.location(key),
            })
    }
}

/// Hex of the first 16 bytes of the SHA-256 of the content: stable, MD5-sized like S3's.
fn content_etag(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..16])
}

/// One in-memory bucket. Clones share the same objects.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

impl MemoryStore {
    /// An empty bucket named `bucket` (used only in messages) with a logical clock.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self::build(bucket.into(), None)
    }

    /// An empty bucket whose modification times come from `clock`.
    pub fn with_clock(bucket: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self::build(bucket.into(), Some(clock))
    }

    fn build(bucket: String, clock: Option<Arc<dyn Clock>>) -> Self {
        Self {
            shared: Arc::new(Shared {
                bucket,
                objects: Mutex::new(BTreeMap::new()),
                clock,
                logical_ms: AtomicI64::new(LOGICAL_EPOCH_MS),
            }),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.shared.bucket
    }

    /// All keys, in order: handy for assertions.
    pub fn keys(&self) -> Vec<String> {
        self.shared.objects().keys().cloned().collect()
    }

    fn meta(key: &str, entry: &Entry) -> ObjectMeta {
        ObjectMeta {
            key: key.to_string(),
            size: entry.body.len() as u64,
            etag: entry.etag.clone(),
            last_modified_ms: entry.last_modified_ms,
        }
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    fn describe(&self, key: &str) -> String {
        self.shared.location(key)
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        let entry = self.shared.get_entry(key)?;
        Ok(Self::meta(key, &entry))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
        let entry = self.shared.get_entry(key)?;
        let len = entry.body.len() as u64;
        if range.start > range.end || range.end > len {
            return Err(StorageError::other(
                self.describe(key),
                format!(
                    "range {}..{} outside object of {len} bytes",
                    range.start, range.end
                ),
            ));
        }
        Ok(entry.body.slice(range.start as usize..range.end as usize))
    }

    async fn get(&self, key: &str) -> StorageResult<Bytes> {
        Ok(self.shared.get_entry(key)?.body)
    }

    async fn put(&self, key: &str, body: Bytes) -> StorageResult<()> {
        let entry = self.shared.entry(body);
        self.shared.objects().insert(key.to_string(), entry);
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
        let entry = self.shared.entry(body);
        // Check and insert under one lock, like the conditional PUT it stands in for.
        let mut objects = self.shared.objects();
        if objects.contains_key(key) {
            return Err(StorageError::AlreadyExists {
                location: self.describe(key),
            });
        }
        objects.insert(key.to_string(), entry);
        Ok(())
    }

    async fn put_if_match(&self, key: &str, body: Bytes, etag: &str) -> StorageResult<()> {
        let entry = self.shared.entry(body);
        let mut objects = self.shared.objects();
        match objects.get(key) {
            None => Err(StorageError::NotFound {
                location: self.describe(key),
            }),
            Some(current) if current.etag != etag.trim_matches('"') => {
                Err(StorageError::AlreadyExists {
                    location: self.describe(key),
                })
            }
            Some(_) => {
                objects.insert(key.to_string(), entry);
                Ok(())
            }
        }
    }

    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(MemoryWriter {
            shared: self.shared.clone(),
            key: key.to_string(),
            buffer: Some(BytesMut::new()),
        }))
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        // Idempotent, like S3's DeleteObject.
        self.shared.objects().remove(key);
        Ok(())
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let objects = self.shared.objects();
        Ok(objects
            .range(prefix.to_string()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|(key, entry)| Self::meta(key, entry))
            .collect())
    }
}

/// Buffers everything; the object appears atomically on `finish`.
struct MemoryWriter {
    shared: Arc<Shared>,
    key: String,
    /// `None` once finished or aborted.
    buffer: Option<BytesMut>,
}

impl MemoryWriter {
    fn closed(&self) -> StorageError {
        StorageError::other(
            self.shared.location(&self.key),
            "writer already finished or aborted",
        )
    }
}

#[async_trait]
impl ObjectWriter for MemoryWriter {
    async fn write(&mut self, chunk: Bytes) -> StorageResult<()> {
        match &mut self.buffer {
            Some(buffer) => {
                buffer.extend_from_slice(&chunk);
                Ok(())
            }
            None => Err(self.closed()),
        }
    }

    async fn finish(&mut self) -> StorageResult<u64> {
        let body = self.buffer.take().ok_or_else(|| self.closed())?.freeze();
        let size = body.len() as u64;
        let entry = self.shared.entry(body);
        self.shared.objects().insert(self.key.clone(), entry);
        Ok(size)
    }

    async fn abort(&mut self) -> StorageResult<()> {
        self.buffer = None;
        Ok(())
    }
}

/// Resolves any bucket name to a [`MemoryStore`], creating it on first use.
#[derive(Debug, Default)]
pub struct MemoryResolver {
    buckets: Mutex<BTreeMap<String, Arc<MemoryStore>>>,
}

impl MemoryResolver {
    pub fn new() -> Self {
        Self::default()
    }

    /// The store of `bucket` (created if new), to seed or inspect objects in tests.
    pub fn bucket(&self, bucket: &str) -> Arc<MemoryStore> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        buckets
            .entry(bucket.to_string())
            .or_insert_with(|| Arc::new(MemoryStore::new(bucket)))
            .clone()
    }
}

impl StoreResolver for MemoryResolver {
    fn store_for_bucket(&self, bucket: &str) -> StorageResult<Arc<dyn ObjectStore>> {
        Ok(self.bucket(bucket))
    }
}

/// A bucket whose writes (`put`, `put_if_absent`) fail with a transient error, as a storage
/// outage would, while reads work: for tests of what a failed write does (error records that
/// cannot be written, events that cannot land).
#[derive(Debug, Clone)]
pub struct FailingWrites(pub MemoryStore);

#[async_trait]
impl ObjectStore for FailingWrites {
    fn describe(&self, key: &str) -> String {
        self.0.describe(key)
    }
    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        self.0.head(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
        self.0.get_range(key, range).await
    }
    async fn get(&self, key: &str) -> StorageResult<Bytes> {
        self.0.get(key).await
    }
    async fn put(&self, key: &str, _: Bytes) -> StorageResult<()> {
        Err(StorageError::other(self.describe(key), "HTTP 503"))
    }
    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
        self.put(key, body).await
    }
    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        self.0.writer(key).await
    }
    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.0.delete(key).await
    }
    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        self.0.list(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn put_get_head_range_list_delete() {
        block_on(async {
            let store = MemoryStore::new("b");
            store
                .put("a/1", Bytes::from_static(b"hello"))
                .await
                .unwrap();
            store.put("a/2", Bytes::from_static(b"x")).await.unwrap();
            store.put("b/1", Bytes::from_static(b"y")).await.unwrap();

            assert_eq!(store.get("a/1").await.unwrap(), "hello");
            assert_eq!(store.get_range("a/1", 1..4).await.unwrap(), "ell");
            assert!(store.get_range("a/1", 3..9).await.is_err());
            let meta = store.head("a/1").await.unwrap();
            assert_eq!(meta.size, 5);
            assert_eq!(meta.etag, content_etag(b"hello"));
            assert_eq!(meta.etag.len(), 32);

            let listed: Vec<_> = store
                .list("a/")
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.key)
                .collect();
            assert_eq!(listed, ["a/1", "a/2"]);

            store.delete("a/1").await.unwrap();
            store.delete("a/1").await.unwrap();
            let err = store.head("a/1").await.unwrap_err();
            assert!(matches!(err, StorageError::NotFound { location } if location == "s3://b/a/1"));
        });
    }

    #[test]
    fn put_if_absent_refuses_second_write() {
        block_on(async {
            let store = MemoryStore::new("b");
            store
                .put_if_absent("k", Bytes::from_static(b"1"))
                .await
                .unwrap();
            let err = store
                .put_if_absent("k", Bytes::from_static(b"2"))
                .await
                .unwrap_err();
            assert!(matches!(err, StorageError::AlreadyExists { .. }));
            assert_eq!(store.get("k").await.unwrap(), "1");
        });
    }

    #[test]
    fn writer_commits_only_on_finish() {
        block_on(async {
            let store = MemoryStore::new("b");
            let mut writer = store.writer("w").await.unwrap();
            writer.write(Bytes::from_static(b"ab")).await.unwrap();
            writer.write(Bytes::from_static(b"cd")).await.unwrap();
            assert!(store.head("w").await.is_err());
            assert_eq!(writer.finish().await.unwrap(), 4);
            assert_eq!(store.get("w").await.unwrap(), "abcd");
            assert!(writer.write(Bytes::from_static(b"e")).await.is_err());

            let mut aborted = store.writer("gone").await.unwrap();
            aborted.write(Bytes::from_static(b"zz")).await.unwrap();
            aborted.abort().await.unwrap();
            assert!(store.head("gone").await.is_err());
        });
    }

    #[test]
    fn later_writes_are_newer() {
        block_on(async {
            let store = MemoryStore::new("b");
            store.put("k", Bytes::from_static(b"1")).await.unwrap();
            let first = store.head("k").await.unwrap().last_modified_ms;
            store.put("k", Bytes::from_static(b"2")).await.unwrap();
            assert!(store.head("k").await.unwrap().last_modified_ms > first);
        });
    }

    #[test]
    fn resolver_shares_buckets() {
        block_on(async {
            let resolver = MemoryResolver::new();
            resolver
                .bucket("raw")
                .put("k", Bytes::from_static(b"v"))
                .await
                .unwrap();
            let store = resolver.store_for_bucket("raw").unwrap();
            assert_eq!(store.get("k").await.unwrap(), "v");
            assert!(resolver
                .store_for_bucket("other")
                .unwrap()
                .head("k")
                .await
                .is_err());
        });
    }
}
