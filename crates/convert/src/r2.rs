//! [`ObjectStore`] over an R2 bucket binding: the raw bucket (`RAW`) and, deployed, the catalog
//! bucket holding the table files (`CATALOG`, through [`R2Resolver`]).

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use icepipe_core::storage::{
    ObjectMeta, ObjectStore, ObjectWriter, StorageError, StorageResult, StoreResolver,
};
use worker::send::{SendFuture, SendWrapper};
use worker::{Bucket, Conditional, Data, MultipartUpload, Object, UploadedPart};

/// Multipart part size: R2 wants every part but the last to have the same size (min 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// R2's limit on parts per upload.
const MAX_PARTS: usize = 10_000;
/// Keys per list page (R2's maximum).
const LIST_PAGE: u32 = 1_000;

/// One R2 bucket binding. `name` is the bucket's name, for messages (`s3://<name>/<key>`).
#[derive(Clone)]
pub struct R2Store {
    bucket: SendWrapper<Bucket>,
    name: String,
}

impl std::fmt::Debug for R2Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("R2Store").field("name", &self.name).finish()
    }
}

impl R2Store {
    pub fn new(bucket: Bucket, name: impl Into<String>) -> Self {
        Self {
            bucket: SendWrapper::new(bucket),
            name: name.into(),
        }
    }

    fn error(&self, key: &str, error: worker::Error) -> StorageError {
        StorageError::other(self.describe(key), error)
    }

    fn not_found(&self, key: &str) -> StorageError {
        StorageError::NotFound {
            location: self.describe(key),
        }
    }

    async fn head_js(&self, key: &str) -> StorageResult<ObjectMeta> {
        match self.bucket.head(key).await {
            Ok(Some(object)) => Ok(meta(&object)),
            Ok(None) => Err(self.not_found(key)),
            Err(e) => Err(self.error(key, e)),
        }
    }

    async fn get_js(&self, key: &str, range: Option<Range<u64>>) -> StorageResult<Bytes> {
        let mut request = self.bucket.get(key);
        let expected = range.as_ref().map(|r| r.end - r.start);
        if let Some(range) = &range {
            request = request.range(worker::Range::OffsetWithLength {
                offset: range.start,
                length: range.end - range.start,
            });
        }
        let object = match request.execute().await {
            Ok(Some(object)) => object,
            Ok(None) => return Err(self.not_found(key)),
            Err(e) => return Err(self.error(key, e)),
        };
        let body = object
            .body()
            .ok_or_else(|| StorageError::other(self.describe(key), "R2 returned no body"))?;
        let bytes = body.bytes().await.map_err(|e| self.error(key, e))?;
        if let Some(expected) = expected {
            if bytes.len() as u64 != expected {
                return Err(StorageError::other(
                    self.describe(key),
                    format!(
                        "asked for {expected} bytes at {range:?}, got {}",
                        bytes.len()
                    ),
                ));
            }
        }
        Ok(Bytes::from(bytes))
    }

    async fn put_js(&self, key: &str, body: Bytes, if_absent: bool) -> StorageResult<()> {
        let mut request = self.bucket.put(key, Data::Bytes(Vec::from(body)));
        if if_absent {
            request = request.only_if(Conditional {
                etag_does_not_match: Some("*".into()),
                ..Default::default()
            });
        }
        match request.execute().await {
            Ok(Some(_)) => Ok(()),
            // R2 answers a failed condition with null.
            Ok(None) if if_absent => Err(StorageError::AlreadyExists {
                location: self.describe(key),
            }),
            Ok(None) => Err(StorageError::other(
                self.describe(key),
                "R2 refused the put",
            )),
            Err(e) => Err(self.error(key, e)),
        }
    }

    async fn delete_js(&self, key: &str) -> StorageResult<()> {
        self.bucket
            .delete(key)
            .await
            .map_err(|e| self.error(key, e))
    }

    async fn list_js(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = self.bucket.list().prefix(prefix).limit(LIST_PAGE);
            if let Some(cursor) = &cursor {
                request = request.cursor(cursor.clone());
            }
            let page = request.execute().await.map_err(|e| self.error(prefix, e))?;
            found.extend(page.objects().iter().map(meta));
            match page.cursor() {
                Some(next) if page.truncated() && cursor.as_ref() != Some(&next) => {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}

fn meta(object: &Object) -> ObjectMeta {
    ObjectMeta {
        key: object.key(),
        size: object.size(),
        etag: object.etag().trim_matches('"').to_string(),
        last_modified_ms: object.uploaded().as_millis() as i64,
    }
}

#[async_trait]
impl ObjectStore for R2Store {
    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.name)
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        SendFuture::new(self.head_js(key)).await
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
        if range.start >= range.end {
            return Ok(Bytes::new());
        }
        SendFuture::new(self.get_js(key, Some(range))).await
    }

    async fn get(&self, key: &str) -> StorageResult<Bytes> {
        SendFuture::new(self.get_js(key, None)).await
    }

    async fn put(&self, key: &str, body: Bytes) -> StorageResult<()> {
        SendFuture::new(self.put_js(key, body, false)).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
        SendFuture::new(self.put_js(key, body, true)).await
    }

    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(R2Writer {
            store: self.clone(),
            key: key.to_string(),
            buffer: Vec::new(),
            upload: None,
            parts: Vec::new(),
            size: 0,
            closed: false,
        }))
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        SendFuture::new(self.delete_js(key)).await
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        SendFuture::new(self.list_js(prefix)).await
    }
}

/// Streams an object into R2: one put for objects under [`PART_SIZE`], a multipart upload of
/// equal [`PART_SIZE`] parts otherwise. At most one part is buffered.
struct R2Writer {
    store: R2Store,
    key: String,
    buffer: Vec<u8>,
    upload: Option<SendWrapper<MultipartUpload>>,
    /// (part number, etag) of the parts uploaded so far.
    parts: Vec<(u16, String)>,
    size: u64,
    closed: bool,
}

impl R2Writer {
    fn location(&self) -> String {
        self.store.describe(&self.key)
    }

    fn ensure_open(&self) -> StorageResult<()> {
        if self.closed {
            Err(StorageError::other(
                self.location(),
                "writer already finished or aborted",
            ))
        } else {
            Ok(())
        }
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> StorageResult<()> {
        if self.parts.len() >= MAX_PARTS {
            return Err(StorageError::other(
                self.location(),
                format!("more than {MAX_PARTS} parts"),
            ));
        }
        if self.upload.is_none() {
            let upload = self
                .store
                .bucket
                .create_multipart_upload(self.key.clone())
                .execute()
                .await
                .map_err(|e| self.store.error(&self.key, e))?;
            self.upload = Some(SendWrapper::new(upload));
        }
        let upload = self.upload.as_ref().expect("created above");
        // Bounded by MAX_PARTS, so it fits in u16.
        let number = (self.parts.len() + 1) as u16;
        let uploaded = upload
            .upload_part(number, Data::Bytes(part))
            .await
            .map_err(|e| self.store.error(&self.key, e))?;
        self.parts.push((number, uploaded.etag()));
        Ok(())
    }

    async fn write_js(&mut self, mut chunk: Bytes) -> StorageResult<()> {
        self.ensure_open()?;
        self.size += chunk.len() as u64;
        while !chunk.is_empty() {
            let part = if self.buffer.is_empty() && chunk.len() >= PART_SIZE {
                Vec::from(chunk.split_to(PART_SIZE))
            } else {
                if self.buffer.capacity() < PART_SIZE {
                    self.buffer.reserve_exact(PART_SIZE - self.buffer.len());
                }
                let take = (PART_SIZE - self.buffer.len()).min(chunk.len());
                self.buffer.extend_from_slice(&chunk.split_to(take));
                if self.buffer.len() < PART_SIZE {
                    break;
                }
                std::mem::take(&mut self.buffer)
            };
            if let Err(error) = self.upload_part(part).await {
                return Err(self.fail(error).await);
            }
        }
        Ok(())
    }

    async fn finish_js(&mut self) -> StorageResult<u64> {
        self.ensure_open()?;
        self.closed = true;
        let rest = std::mem::take(&mut self.buffer);
        if self.upload.is_none() {
            // Small object: one put.
            self.store.put_js(&self.key, rest.into(), false).await?;
            return Ok(self.size);
        }
        if !rest.is_empty() {
            if let Err(error) = self.upload_part(rest).await {
                return Err(self.fail(error).await);
            }
        }
        let upload = self.upload.take().expect("checked above");
        let parts = self
            .parts
            .iter()
            .map(|(number, etag)| UploadedPart::new(*number, etag.clone()));
        let SendWrapper(upload) = upload;
        if let Err(e) = upload.complete(parts).await {
            return Err(self.store.error(&self.key, e));
        }
        Ok(self.size)
    }

    async fn abort_js(&mut self) -> StorageResult<()> {
        self.closed = true;
        self.buffer = Vec::new();
        match self.upload.take() {
            Some(upload) => upload
                .abort()
                .await
                .map_err(|e| self.store.error(&self.key, e)),
            None => Ok(()),
        }
    }

    /// After a failure: close, drop the upload (best effort), return the original error.
    async fn fail(&mut self, error: StorageError) -> StorageError {
        let _ = self.abort_js().await;
        error
    }
}

#[async_trait]
impl ObjectWriter for R2Writer {
    async fn write(&mut self, chunk: Bytes) -> StorageResult<()> {
        SendFuture::new(self.write_js(chunk)).await
    }

    async fn finish(&mut self) -> StorageResult<u64> {
        SendFuture::new(self.finish_js()).await
    }

    async fn abort(&mut self) -> StorageResult<()> {
        SendFuture::new(self.abort_js()).await
    }
}

/// Table files through the `CATALOG` binding: every `s3://<bucket>/...` location resolves to it,
/// or, when the bucket name is configured (`CATALOG_BUCKET`), only locations in that bucket.
#[derive(Debug)]
pub struct R2Resolver {
    store: Arc<R2Store>,
    bucket: Option<String>,
}

impl R2Resolver {
    pub fn new(store: Arc<R2Store>, bucket: Option<String>) -> Self {
        Self { store, bucket }
    }
}

impl StoreResolver for R2Resolver {
    fn store_for_bucket(&self, bucket: &str) -> StorageResult<Arc<dyn ObjectStore>> {
        match &self.bucket {
            Some(expected) if expected != bucket => Err(StorageError::Denied {
                location: format!("s3://{bucket}/"),
                reason: format!(
                    "the table lives in bucket {bucket}, but the CATALOG binding is bucket {expected} \
                     (CATALOG_BUCKET): bind the table's bucket as CATALOG"
                ),
            }),
            _ => Ok(self.store.clone()),
        }
    }
}
