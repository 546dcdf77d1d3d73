//! [`ObjectStore`] over an R2 bucket binding: the raw bucket (`RAW`) and, deployed, the catalog
//! bucket holding the table files (`CATALOG`, through [`R2Resolver`]).

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use icepipe_core::storage::parts::{PartSink, PartWriter};
use icepipe_core::storage::{
    paging, ListPage, ObjectMeta, ObjectStore, ObjectWriter, StorageError, StorageResult,
    StoreResolver,
};
use worker::send::{SendFuture, SendWrapper};
use worker::{Bucket, Conditional, Data, MultipartUpload, Object, UploadedPart};

/// Multipart part size: R2 wants every part but the last to have the same size (min 5 MiB).
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Keys per list page (R2's maximum).
const LIST_PAGE: u32 = 1_000;

/// The precondition of a put.
#[derive(Clone, Copy)]
enum PutCondition<'a> {
    None,
    /// Only if no object has the key.
    Absent,
    /// Only if the object has this eTag.
    Matches(&'a str),
}

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

    async fn put_js(
        &self,
        key: &str,
        body: Bytes,
        condition: PutCondition<'_>,
    ) -> StorageResult<()> {
        let mut request = self.bucket.put(key, Data::Bytes(Vec::from(body)));
        match condition {
            PutCondition::None => {}
            PutCondition::Absent => {
                request = request.only_if(Conditional {
                    etag_does_not_match: Some("*".into()),
                    ..Default::default()
                })
            }
            PutCondition::Matches(etag) => {
                request = request.only_if(Conditional {
                    etag_matches: Some(etag.trim_matches('"').to_string()),
                    ..Default::default()
                })
            }
        }
        match request.execute().await {
            Ok(Some(_)) => Ok(()),
            // R2 answers a failed condition with null, for a changed object and a missing one
            // alike; the core's contract tells them apart, so look.
            Ok(None) => match condition {
                PutCondition::None => Err(StorageError::other(
                    self.describe(key),
                    "R2 refused the put",
                )),
                PutCondition::Absent => Err(StorageError::AlreadyExists {
                    location: self.describe(key),
                }),
                PutCondition::Matches(_) => match self.bucket.head(key).await {
                    Ok(None) => Err(self.not_found(key)),
                    Ok(Some(_)) => Err(StorageError::AlreadyExists {
                        location: self.describe(key),
                    }),
                    Err(e) => Err(self.error(key, e)),
                },
            },
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
        let mut found = self.list_after_js(prefix, None, usize::MAX).await?.objects;
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }

    async fn list_after_js(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let location = self.describe(prefix);
        paging::walk(
            &location,
            limit,
            LIST_PAGE as usize,
            |cursor, want| async move {
                let mut request = self.bucket.list().prefix(prefix).limit(want as u32);
                match cursor {
                    Some(cursor) => request = request.cursor(cursor),
                    None => {
                        if let Some(after) = start_after {
                            request = request.start_after(after);
                        }
                    }
                }
                let answer = request.execute().await.map_err(|e| self.error(prefix, e))?;
                Ok(paging::Page {
                    objects: answer.objects().iter().map(meta).collect(),
                    next: answer.cursor().filter(|_| answer.truncated()),
                })
            },
        )
        .await
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
        SendFuture::new(self.put_js(key, body, PutCondition::None)).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
        SendFuture::new(self.put_js(key, body, PutCondition::Absent)).await
    }

    async fn put_if_match(&self, key: &str, body: Bytes, etag: &str) -> StorageResult<()> {
        SendFuture::new(self.put_js(key, body, PutCondition::Matches(etag))).await
    }

    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        let upload = R2Upload {
            store: self.clone(),
            key: key.to_string(),
            upload: None,
            parts: Vec::new(),
        };
        Ok(Box::new(PartWriter::new(upload, PART_SIZE)))
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        SendFuture::new(self.delete_js(key)).await
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        SendFuture::new(self.list_js(prefix)).await
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> StorageResult<ListPage> {
        SendFuture::new(self.list_after_js(prefix, start_after, limit)).await
    }
}

/// One R2 multipart upload; [`PartWriter`] does the buffering (equal [`PART_SIZE`] parts).
struct R2Upload {
    store: R2Store,
    key: String,
    upload: Option<SendWrapper<MultipartUpload>>,
    /// (part number, etag) of the parts uploaded so far.
    parts: Vec<(u16, String)>,
}

impl R2Upload {
    async fn upload_part_js(&mut self, number: u16, part: Bytes) -> StorageResult<()> {
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
        let uploaded = upload
            .upload_part(number, Data::Bytes(part.into()))
            .await
            .map_err(|e| self.store.error(&self.key, e))?;
        self.parts.push((number, uploaded.etag()));
        Ok(())
    }

    async fn complete_js(&mut self) -> StorageResult<()> {
        let Some(SendWrapper(upload)) = self.upload.take() else {
            return Err(StorageError::other(
                self.location(),
                "no multipart upload to complete",
            ));
        };
        let parts = self
            .parts
            .iter()
            .map(|(number, etag)| UploadedPart::new(*number, etag.clone()));
        upload
            .complete(parts)
            .await
            .map(|_| ())
            .map_err(|e| self.store.error(&self.key, e))
    }

    async fn abort_js(&mut self) -> StorageResult<()> {
        match self.upload.take() {
            Some(upload) => upload
                .abort()
                .await
                .map_err(|e| self.store.error(&self.key, e)),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl PartSink for R2Upload {
    fn location(&self) -> String {
        self.store.describe(&self.key)
    }

    async fn put_whole(&mut self, body: Bytes) -> StorageResult<()> {
        SendFuture::new(self.store.put_js(&self.key, body, PutCondition::None)).await
    }

    async fn upload_part(&mut self, number: u16, part: Bytes) -> StorageResult<()> {
        SendFuture::new(self.upload_part_js(number, part)).await
    }

    async fn complete(&mut self) -> StorageResult<()> {
        SendFuture::new(self.complete_js()).await
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
