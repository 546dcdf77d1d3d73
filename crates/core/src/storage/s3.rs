//! [`ObjectStore`] for one S3 bucket (AWS, R2, SeaweedFS...) over any [`HttpClient`].
//!
//! Requests are signed by `rusty-s3` as presigned URLs (SigV4 in the query string, payload
//! `UNSIGNED-PAYLOAD`): sans-IO, so the same code runs over reqwest and over a Worker's fetch.
//! The signing time comes from our [`Clock`], never `SystemTime::now` (it panics on wasm32).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rusty_s3::actions::{
    CompleteMultipartUploadResponse, CreateMultipartUpload, ListObjectsV2, ListObjectsV2Response,
};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use super::paging;
use super::parts::{PartSink, PartWriter};
use super::{
    ListPage, ObjectMeta, ObjectStore, ObjectWriter, StorageError, StorageResult, StoreResolver,
};
use crate::clock::Clock;
use crate::http::{HttpClient, HttpRequest, HttpResponse, Method};

/// Multipart part size unless configured: few requests, modest memory (one part is buffered).
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// S3's minimum size for every part but the last.
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// S3's maximum number of parts in one upload.
/// Validity of a presigned URL. S3 checks it when the request arrives, so it only has to cover
/// clock skew and the time between signing and sending, not the transfer itself.
const SIGNATURE_TTL: Duration = Duration::from_secs(15 * 60);

/// Where and as whom to reach S3. Built by the runtime (the CLI reads the environment; core never does).
#[derive(Clone)]
pub struct S3Config {
    /// e.g. `http://127.0.0.1:8333` or `https://<account>.r2.cloudflarestorage.com`.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `endpoint/bucket/key` URLs instead of `bucket.endpoint/key` (needed for IP endpoints).
    pub path_style: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the secret: configs end up in logs.
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("path_style", &self.path_style)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct Inner {
    bucket: Bucket,
    credentials: Credentials,
    client: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    part_size: usize,
}

/// One S3 bucket. Cheap to clone (shared state behind an `Arc`).
#[derive(Debug, Clone)]
pub struct S3Store {
    inner: Arc<Inner>,
}

impl S3Store {
    pub fn new(
        config: &S3Config,
        bucket: &str,
        client: Arc<dyn HttpClient>,
        clock: Arc<dyn Clock>,
    ) -> StorageResult<Self> {
        let location = format!("s3://{bucket}/");
        let endpoint = url::Url::parse(&config.endpoint).map_err(|e| {
            StorageError::other(
                &location,
                format!("bad endpoint {:?}: {e}", config.endpoint),
            )
        })?;
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, bucket.to_string(), config.region.clone())
            .map_err(|e| StorageError::other(&location, format!("bad bucket or endpoint: {e}")))?;
        let credentials = Credentials::new(&config.access_key_id, &config.secret_access_key);
        Ok(Self {
            inner: Arc::new(Inner {
                bucket,
                credentials,
                client,
                clock,
                part_size: DEFAULT_PART_SIZE,
            }),
        })
    }

    /// Multipart part size for [`ObjectStore::writer`]; raised to [`MIN_PART_SIZE`] if smaller.
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        Arc::make_mut(&mut self.inner).part_size = part_size.max(MIN_PART_SIZE);
        self
    }

    pub fn part_size(&self) -> usize {
        self.inner.part_size
    }

    pub fn bucket_name(&self) -> &str {
        self.inner.bucket.name()
    }

    /// Creates the bucket; succeeds if we already own it. For tests and local tooling.
    pub async fn create_bucket(&self) -> StorageResult<()> {
        let action = self.inner.bucket.create_bucket(&self.inner.credentials);
        let url = self.sign(&action, "")?;
        let body = action.body();
        let response = self
            .send("", HttpRequest::new(Method::Put, url).body(body))
            .await?;
        if response.is_success() {
            return Ok(());
        }
        if response.status == 409
            && s3_error_code(&response).as_deref() == Some("BucketAlreadyOwnedByYou")
        {
            return Ok(());
        }
        Err(status_error(self.describe(""), &response))
    }

    /// Presigned URL for `action`, signed at the clock's current time.
    fn sign<'a>(&self, action: &impl S3Action<'a>, key: &str) -> StorageResult<String> {
        let now_ms = self.inner.clock.now_ms();
        let time = jiff::Timestamp::from_millisecond(now_ms).map_err(|e| {
            StorageError::other(self.describe(key), format!("clock gave {now_ms} ms: {e}"))
        })?;
        Ok(action.sign_with_time(SIGNATURE_TTL, &time).to_string())
    }

    /// Sends a request; transport failures become [`StorageError::Other`] naming the object.
    async fn send(&self, key: &str, request: HttpRequest) -> StorageResult<HttpResponse> {
        self.inner
            .client
            .send(request)
            .await
            .map_err(|e| StorageError::other(self.describe(key), e))
    }

    /// Sends and turns any non-2xx status into the matching [`StorageError`].
    async fn send_ok(&self, key: &str, request: HttpRequest) -> StorageResult<HttpResponse> {
        let response = self.send(key, request).await?;
        if response.is_success() {
            Ok(response)
        } else {
            Err(status_error(self.describe(key), &response))
        }
    }

    /// One PutObject, optionally conditional (`If-None-Match: *` or `If-Match: "<etag>"`); a
    /// failed condition is a 412, which becomes AlreadyExists in status_error.
    async fn put_with(
        &self,
        key: &str,
        body: Bytes,
        condition: Option<(&str, String)>,
    ) -> StorageResult<()> {
        self.check_key(key)?;
        let action = self
            .inner
            .bucket
            .put_object(Some(&self.inner.credentials), key);
        let url = self.sign(&action, key)?;
        let mut request = HttpRequest::new(Method::Put, url).body(body);
        if let Some((name, value)) = condition {
            request = request.header(name, value);
        }
        self.send_ok(key, request).await?;
        Ok(())
    }

    /// rusty-s3 turns `.`/`..` segments into other paths and an empty key into the bucket itself.
    fn check_key(&self, key: &str) -> StorageResult<()> {
        if key.is_empty()
            || key
                .split('/')
                .any(|segment| segment == "." || segment == "..")
        {
            return Err(StorageError::other(
                self.describe(key),
                "invalid key (empty, or with a '.' or '..' segment)",
            ));
        }
        Ok(())
    }

    async fn list_request(
        &self,
        prefix: &str,
        token: Option<&str>,
        start_after: Option<&str>,
        max_keys: Option<usize>,
    ) -> StorageResult<ListObjectsV2Response> {
        let mut action = self
            .inner
            .bucket
            .list_objects_v2(Some(&self.inner.credentials));
        action.with_prefix(prefix);
        if let Some(token) = token {
            action.with_continuation_token(token);
        }
        if let Some(after) = start_after {
            action.with_start_after(after);
        }
        if let Some(max_keys) = max_keys {
            action.with_max_keys(max_keys);
        }
        let url = self.sign(&action, prefix)?;
        let response = self
            .send_ok(prefix, HttpRequest::new(Method::Get, url))
            .await?;
        let text = String::from_utf8_lossy(&response.body);
        ListObjectsV2::parse_response(&text).map_err(|e| {
            StorageError::other(
                self.describe(prefix),
                format!(
                    "unreadable ListObjectsV2 answer ({e}): {}",
                    response.body_snippet()
                ),
            )
        })
    }
}

#[async_trait]
impl ObjectStore for S3Store {
    fn describe(&self, key: &str) -> String {
        format!("s3://{}/{}", self.inner.bucket.name(), key)
    }

    async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
        self.check_key(key)?;
        let action = self
            .inner
            .bucket
            .head_object(Some(&self.inner.credentials), key);
        let url = self.sign(&action, key)?;
        let response = self
            .send_ok(key, HttpRequest::new(Method::Head, url))
            .await?;
        head_meta(key, &response).map_err(|reason| StorageError::other(self.describe(key), reason))
    }

    async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
        self.check_key(key)?;
        if range.start > range.end {
            return Err(StorageError::other(
                self.describe(key),
                format!("inverted range {}..{}", range.start, range.end),
            ));
        }
        // `bytes=a-b` cannot express an empty range.
        if range.start == range.end {
            return Ok(Bytes::new());
        }
        let action = self
            .inner
            .bucket
            .get_object(Some(&self.inner.credentials), key);
        let url = self.sign(&action, key)?;
        let request = HttpRequest::new(Method::Get, url)
            .header("range", format!("bytes={}-{}", range.start, range.end - 1));
        let response = self.send_ok(key, request).await?;
        let expected = range.end - range.start;
        // A 200 means the server ignored Range; accept it only if the whole object is exactly the range.
        let whole_object_is_range = response.status == 200 && range.start == 0;
        if response.status != 206 && !whole_object_is_range {
            return Err(StorageError::other(
                self.describe(key),
                format!(
                    "ranged read {}..{} answered HTTP {} instead of 206",
                    range.start, range.end, response.status
                ),
            ));
        }
        if response.body.len() as u64 != expected {
            return Err(StorageError::other(
                self.describe(key),
                format!(
                    "ranged read {}..{} returned {} bytes instead of {expected}",
                    range.start,
                    range.end,
                    response.body.len()
                ),
            ));
        }
        Ok(response.body)
    }

    async fn get(&self, key: &str) -> StorageResult<Bytes> {
        self.check_key(key)?;
        let action = self
            .inner
            .bucket
            .get_object(Some(&self.inner.credentials), key);
        let url = self.sign(&action, key)?;
        Ok(self
            .send_ok(key, HttpRequest::new(Method::Get, url))
            .await?
            .body)
    }

    async fn put(&self, key: &str, body: Bytes) -> StorageResult<()> {
        self.put_with(key, body, None).await
    }

    async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
        self.put_with(key, body, Some(("if-none-match", "*".to_string())))
            .await
    }

    async fn put_if_match(&self, key: &str, body: Bytes, etag: &str) -> StorageResult<()> {
        let etag = format!("\"{}\"", etag.trim_matches('"'));
        self.put_with(key, body, Some(("if-match", etag))).await
    }

    async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
        self.check_key(key)?;
        let upload = S3Upload {
            store: self.clone(),
            key: key.to_string(),
            upload_id: None,
            etags: Vec::new(),
        };
        Ok(Box::new(PartWriter::new(upload, self.inner.part_size)))
    }

    async fn delete(&self, key: &str) -> StorageResult<()> {
        self.check_key(key)?;
        let action = self
            .inner
            .bucket
            .delete_object(Some(&self.inner.credentials), key);
        let url = self.sign(&action, key)?;
        let response = self
            .send(key, HttpRequest::new(Method::Delete, url))
            .await?;
        // Idempotent like S3 itself (which answers 204 for a missing key); some servers say 404.
        if response.is_success() || response.status == 404 {
            Ok(())
        } else {
            Err(status_error(self.describe(key), &response))
        }
    }

    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> StorageResult<ListPage> {
        let location = self.describe(prefix);
        paging::walk(&location, limit, 1000, |token, want| {
            let location = location.clone();
            async move {
                let answer = self
                    .list_request(prefix, token.as_deref(), start_after, Some(want))
                    .await?;
                let objects = answer
                    .contents
                    .into_iter()
                    .map(list_meta)
                    .collect::<Result<_, _>>()
                    .map_err(|reason| StorageError::other(location, reason))?;
                Ok(paging::Page {
                    objects,
                    next: answer.next_continuation_token,
                })
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
        let mut objects = self.list_after(prefix, None, usize::MAX).await?.objects;
        // S3 already lists in key order; sorting keeps the contract even for servers that do not.
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }
}

/// Multipart writer: buffers up to one part, uploads full parts as they fill, and falls back to
/// a single PUT when the whole object fits in one part. Parts are cut at exactly `part_size`
/// (R2 requires all parts but the last to have the same size).
///
/// Dropping it unfinished leaves an incomplete upload behind (no async drop); call `abort`.
/// One S3 multipart upload; [`PartWriter`] does the buffering.
struct S3Upload {
    store: S3Store,
    key: String,
    /// Set once the multipart upload is created (on the first full part).
    upload_id: Option<String>,
    /// ETags of uploaded parts, in part-number order.
    etags: Vec<String>,
}

impl S3Upload {
    async fn create_upload(&mut self) -> StorageResult<String> {
        let store = &self.store;
        let action = CreateMultipartUpload::new(
            &store.inner.bucket,
            Some(&store.inner.credentials),
            &self.key,
        );
        let url = store.sign(&action, &self.key)?;
        let response = store
            .send_ok(&self.key, HttpRequest::new(Method::Post, url))
            .await?;
        let text = String::from_utf8_lossy(&response.body);
        let parsed = CreateMultipartUpload::parse_response(&text).map_err(|e| {
            StorageError::other(
                self.location(),
                format!(
                    "unreadable CreateMultipartUpload answer ({e}): {}",
                    response.body_snippet()
                ),
            )
        })?;
        Ok(parsed.upload_id().to_string())
    }
}

#[async_trait]
impl PartSink for S3Upload {
    fn location(&self) -> String {
        self.store.describe(&self.key)
    }

    async fn put_whole(&mut self, body: Bytes) -> StorageResult<()> {
        // Small object: one PUT is cheaper than create + part + complete.
        self.store.put(&self.key, body).await
    }

    async fn upload_part(&mut self, part_number: u16, part: Bytes) -> StorageResult<()> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let id = self.create_upload().await?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let store = &self.store;
        let action = store.inner.bucket.upload_part(
            Some(&store.inner.credentials),
            &self.key,
            part_number,
            &upload_id,
        );
        let url = store.sign(&action, &self.key)?;
        let response = store
            .send_ok(&self.key, HttpRequest::new(Method::Put, url).body(part))
            .await?;
        let etag = response.header("etag").ok_or_else(|| {
            StorageError::other(
                self.location(),
                format!("part {part_number} uploaded without an ETag in the answer"),
            )
        })?;
        self.etags.push(etag.to_string());
        Ok(())
    }

    async fn complete(&mut self) -> StorageResult<()> {
        let Some(upload_id) = self.upload_id.clone() else {
            return Err(StorageError::other(
                self.location(),
                "no multipart upload to complete",
            ));
        };
        let store = &self.store;
        let action = store.inner.bucket.complete_multipart_upload(
            Some(&store.inner.credentials),
            &self.key,
            &upload_id,
            self.etags.iter().map(String::as_str),
        );
        let url = store.sign(&action, &self.key)?;
        let body = action.body();
        let response = store
            .send_ok(&self.key, HttpRequest::new(Method::Post, url).body(body))
            .await?;
        // S3 may answer 200 and still fail: the body then holds an <Error>.
        let text = String::from_utf8_lossy(&response.body);
        CompleteMultipartUploadResponse::parse(&text).map_err(|_| {
            StorageError::other(
                self.location(),
                format!(
                    "CompleteMultipartUpload failed: {}",
                    s3_error_reason(&response)
                ),
            )
        })?;
        self.upload_id = None;
        Ok(())
    }

    /// Drops the multipart upload, if any. 404 means it is already gone.
    async fn abort(&mut self) -> StorageResult<()> {
        let Some(upload_id) = self.upload_id.take() else {
            return Ok(());
        };
        let store = &self.store;
        let action = store.inner.bucket.abort_multipart_upload(
            Some(&store.inner.credentials),
            &self.key,
            &upload_id,
        );
        let url = store.sign(&action, &self.key)?;
        let response = store
            .send(&self.key, HttpRequest::new(Method::Delete, url))
            .await?;
        if response.is_success() || response.status == 404 {
            Ok(())
        } else {
            Err(status_error(self.location(), &response))
        }
    }
}

/// Resolves any bucket to an [`S3Store`] sharing one config, HTTP client and clock.
#[derive(Debug)]
pub struct S3Resolver {
    config: S3Config,
    client: Arc<dyn HttpClient>,
    clock: Arc<dyn Clock>,
    part_size: usize,
    stores: Mutex<HashMap<String, Arc<S3Store>>>,
}

impl S3Resolver {
    pub fn new(config: S3Config, client: Arc<dyn HttpClient>, clock: Arc<dyn Clock>) -> Self {
        Self {
            config,
            client,
            clock,
            part_size: DEFAULT_PART_SIZE,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// Part size given to every store it builds (see [`S3Store::with_part_size`]).
    pub fn with_part_size(mut self, part_size: usize) -> Self {
        self.part_size = part_size;
        self
    }

    /// The concrete store of a bucket (cached), for callers that need S3-only methods.
    pub fn s3_store(&self, bucket: &str) -> StorageResult<Arc<S3Store>> {
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(store) = stores.get(bucket) {
            return Ok(store.clone());
        }
        let store = Arc::new(
            S3Store::new(
                &self.config,
                bucket,
                self.client.clone(),
                self.clock.clone(),
            )?
            .with_part_size(self.part_size),
        );
        stores.insert(bucket.to_string(), store.clone());
        Ok(store)
    }
}

impl StoreResolver for S3Resolver {
    fn store_for_bucket(&self, bucket: &str) -> StorageResult<Arc<dyn ObjectStore>> {
        Ok(self.s3_store(bucket)?)
    }
}

// --- response parsing -------------------------------------------------------------------------

/// Maps a non-2xx answer to our error kinds, naming the location.
fn status_error(location: String, response: &HttpResponse) -> StorageError {
    match response.status {
        404 => StorageError::NotFound { location },
        401 | 403 => StorageError::Denied {
            location,
            reason: s3_error_reason(response),
        },
        412 => StorageError::AlreadyExists { location },
        _ => StorageError::Other {
            location,
            reason: s3_error_reason(response),
        },
    }
}

/// `HTTP 403 AccessDenied: message` from an S3 `<Error>` body, else the status and a body snippet.
fn s3_error_reason(response: &HttpResponse) -> String {
    let text = String::from_utf8_lossy(&response.body);
    match (xml_text(&text, "Code"), xml_text(&text, "Message")) {
        (Some(code), Some(message)) => format!("HTTP {} {code}: {message}", response.status),
        (Some(code), None) => format!("HTTP {} {code}", response.status),
        _ => {
            let snippet = response.body_snippet();
            if snippet.is_empty() {
                format!("HTTP {}", response.status)
            } else {
                format!("HTTP {}: {snippet}", response.status)
            }
        }
    }
}

fn s3_error_code(response: &HttpResponse) -> Option<String> {
    xml_text(&String::from_utf8_lossy(&response.body), "Code")
}

/// Text of the first `<tag>...</tag>`; enough for S3's flat `<Error>` documents.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    let text = xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    Some(text.trim().to_string())
}

fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

fn head_meta(key: &str, response: &HttpResponse) -> Result<ObjectMeta, String> {
    let size = response
        .header("content-length")
        .ok_or("HEAD answer without Content-Length")?
        .trim()
        .parse::<u64>()
        .map_err(|e| format!("bad Content-Length: {e}"))?;
    let etag = unquote(response.header("etag").ok_or("HEAD answer without ETag")?);
    let last_modified = response
        .header("last-modified")
        .ok_or("HEAD answer without Last-Modified")?;
    // HTTP dates (IMF-fixdate, "Wed, 21 Oct 2015 07:28:00 GMT") are a subset of RFC 2822.
    let last_modified_ms = chrono::DateTime::parse_from_rfc2822(last_modified.trim())
        .map_err(|e| format!("bad Last-Modified {last_modified:?}: {e}"))?
        .timestamp_millis();
    Ok(ObjectMeta {
        key: key.to_string(),
        size,
        etag,
        last_modified_ms,
    })
}

fn list_meta(
    content: rusty_s3::actions::list_objects_v2::ListObjectsContent,
) -> Result<ObjectMeta, String> {
    let last_modified_ms = match content.last_modified.as_deref() {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text.trim())
            .map_err(|e| format!("bad LastModified {text:?} for {}: {e}", content.key))?
            .timestamp_millis(),
        None => 0,
    };
    Ok(ObjectMeta {
        size: content.size.unwrap_or(0),
        etag: content.etag.as_deref().map(unquote).unwrap_or_default(),
        last_modified_ms,
        key: content.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
        HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn maps_statuses() {
        let loc = || "s3://b/k".to_string();
        assert!(matches!(
            status_error(loc(), &response(404, &[], "")),
            StorageError::NotFound { location } if location == "s3://b/k"
        ));
        let denied = status_error(
            loc(),
            &response(
                403,
                &[],
                "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access &amp; Denied</Message></Error>",
            ),
        );
        match denied {
            StorageError::Denied { reason, .. } => {
                assert_eq!(reason, "HTTP 403 AccessDenied: Access & Denied")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            status_error(loc(), &response(412, &[], "")),
            StorageError::AlreadyExists { .. }
        ));
        match status_error(loc(), &response(500, &[], "boom")) {
            StorageError::Other { reason, .. } => assert_eq!(reason, "HTTP 500: boom"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_head_answer() {
        let meta = head_meta(
            "k",
            &response(
                200,
                &[
                    ("content-length", "42"),
                    ("etag", "\"abc\""),
                    ("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT"),
                ],
                "",
            ),
        )
        .unwrap();
        assert_eq!(meta.size, 42);
        assert_eq!(meta.etag, "abc");
        assert_eq!(meta.last_modified_ms, 1_445_412_480_000);
    }

    #[test]
    fn redacts_secret_in_debug() {
        let config = S3Config {
            endpoint: "http://x".into(),
            region: "r".into(),
            access_key_id: "id".into(),
            secret_access_key: "very-secret".into(),
            path_style: true,
        };
        assert!(!format!("{config:?}").contains("very-secret"));
    }
}
