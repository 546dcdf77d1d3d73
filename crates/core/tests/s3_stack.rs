//! S3Store against a real S3 server (SeaweedFS from `scripts/stack`). Never skips: without the
//! stack's environment every test fails, so a green run always means the real server was used.
#![cfg(feature = "native")]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use icepipe_core::clock::{Clock, SystemClock};
use icepipe_core::http::{
    HttpClient, HttpError, HttpRequest, HttpResponse, Method, ReqwestHttpClient,
};
use icepipe_core::storage::s3::{S3Config, S3Store, MIN_PART_SIZE};
use icepipe_core::storage::{ObjectStore, StorageError};

mod support;

use support::s3_config as config;

const BUCKET: &str = "raw";
const MIB: usize = 1024 * 1024;

fn make_store(config: &S3Config) -> S3Store {
    S3Store::new(
        config,
        BUCKET,
        Arc::new(ReqwestHttpClient::new()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

/// Remembers (method, url, status) of every exchange, to check which requests were really sent.
#[derive(Debug, Default)]
struct Recorder {
    inner: ReqwestHttpClient,
    log: Mutex<Vec<(Method, String, u16)>>,
}

impl Recorder {
    fn take(&self) -> Vec<(Method, String, u16)> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

#[async_trait]
impl HttpClient for Recorder {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (method, url) = (request.method, request.url.clone());
        let response = self.inner.send(request).await?;
        self.log
            .lock()
            .unwrap()
            .push((method, url, response.status));
        Ok(response)
    }
}

async fn recorded_store() -> (S3Store, Arc<Recorder>) {
    store().await;
    let recorder = Arc::new(Recorder::default());
    let store = S3Store::new(&config(), BUCKET, recorder.clone(), Arc::new(SystemClock)).unwrap();
    (store, recorder)
}

/// A clock running behind, to show signatures use the injected clock.
#[derive(Debug)]
struct LateClock(Duration);

#[async_trait]
impl Clock for LateClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() - self.0.as_millis() as i64
    }
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}

/// The bucket exists and the store is ready; each test then works under its own prefix.
async fn store() -> S3Store {
    let store = make_store(&config());
    store.create_bucket().await.unwrap();
    store
}

/// Unique per test run and per test, so reruns never see old objects.
fn prefix(test: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| uuid::Uuid::new_v4().to_string());
    format!("icepipe-tests/{run}/{test}/")
}

/// Deterministic, non-repeating-looking content so misplaced bytes are noticed.
fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8)
        .collect::<Vec<_>>()
        .into()
}

#[tokio::test]
async fn put_get_head() {
    let store = store().await;
    let key = format!("{}a.bin", prefix("put_get_head"));
    let body = pattern(1000);
    let before = chrono::Utc::now().timestamp_millis();
    store.put(&key, body.clone()).await.unwrap();

    assert_eq!(store.get(&key).await.unwrap(), body);
    let meta = store.head(&key).await.unwrap();
    assert_eq!(meta.key, key);
    assert_eq!(meta.size, 1000);
    assert!(
        !meta.etag.is_empty() && !meta.etag.contains('"'),
        "{meta:?}"
    );
    // HTTP dates have second precision.
    assert!(
        (meta.last_modified_ms - before).abs() < 60_000,
        "{meta:?} vs {before}"
    );

    // The same content gives the same ETag (an MD5 for single PUTs).
    let other = format!("{}b.bin", prefix("put_get_head"));
    store.put(&other, body).await.unwrap();
    assert_eq!(store.head(&other).await.unwrap().etag, meta.etag);
}

#[tokio::test]
async fn empty_object() {
    let store = store().await;
    let key = format!("{}empty", prefix("empty_object"));
    store.put(&key, Bytes::new()).await.unwrap();
    assert!(store.get(&key).await.unwrap().is_empty());
    assert_eq!(store.head(&key).await.unwrap().size, 0);
}

#[tokio::test]
async fn ranged_reads() {
    let store = store().await;
    let key = format!("{}r.bin", prefix("ranged_reads"));
    let body = pattern(10_000);
    store.put(&key, body.clone()).await.unwrap();

    for range in [0..1, 0..10_000, 1234..5678, 9_999..10_000, 500..500] {
        let got = store.get_range(&key, range.clone()).await.unwrap();
        assert_eq!(
            got,
            body.slice(range.start as usize..range.end as usize),
            "{range:?}"
        );
    }
    // Past the end: S3 answers 416 or a short 206, both errors for us.
    assert!(store.get_range(&key, 9_000..11_000).await.is_err());
}

#[tokio::test]
async fn put_if_absent_only_once() {
    let store = store().await;
    let key = format!("{}once", prefix("put_if_absent"));
    store
        .put_if_absent(&key, Bytes::from_static(b"first"))
        .await
        .unwrap();
    let err = store
        .put_if_absent(&key, Bytes::from_static(b"second"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::AlreadyExists { location } if location == &format!("s3://{BUCKET}/{key}")),
        "{err:?}"
    );
    assert_eq!(store.get(&key).await.unwrap(), "first");
}

#[tokio::test]
async fn multipart_writer_round_trip() {
    let (store, recorder) = recorded_store().await;
    let store = store.with_part_size(MIN_PART_SIZE);
    let key = format!("{}big.bin", prefix("multipart"));
    let body = pattern(12 * MIB + 12_345);

    let mut writer = store.writer(&key).await.unwrap();
    // Odd chunk sizes so part boundaries fall inside chunks.
    for chunk in body.chunks(700_001) {
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(writer.finish().await.unwrap(), body.len() as u64);
    let sent: Vec<_> = recorder
        .take()
        .into_iter()
        .map(|(method, url, status)| {
            let kind = if url.contains("uploads=") {
                "create"
            } else if url.contains("partNumber=") {
                "part"
            } else {
                "complete"
            };
            (method, kind, status)
        })
        .collect();
    assert_eq!(
        sent,
        [
            (Method::Post, "create", 200),
            (Method::Put, "part", 200),
            (Method::Put, "part", 200),
            (Method::Put, "part", 200),
            (Method::Post, "complete", 200),
        ]
    );

    let meta = store.head(&key).await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
    // S3 ETags of multipart objects end in "-<parts>": 12 MiB at 5 MiB parts is 3 parts.
    assert!(meta.etag.ends_with("-3"), "{meta:?}");
    assert!(store.get(&key).await.unwrap() == body, "content differs");
    let tail = store
        .get_range(&key, (11 * MIB) as u64..body.len() as u64)
        .await
        .unwrap();
    assert!(tail == body.slice(11 * MIB..), "tail differs");
}

#[tokio::test]
async fn aborted_writer_leaves_nothing() {
    let store = store().await.with_part_size(MIN_PART_SIZE);
    let key = format!("{}aborted.bin", prefix("aborted_writer"));
    let mut writer = store.writer(&key).await.unwrap();
    writer.write(pattern(6 * MIB)).await.unwrap();
    writer.abort().await.unwrap();
    assert!(matches!(
        store.head(&key).await.unwrap_err(),
        StorageError::NotFound { .. }
    ));
}

#[tokio::test]
async fn small_writer_object_is_single_put() {
    let (store, recorder) = recorded_store().await;
    let key = format!("{}small.txt", prefix("small_writer"));
    let mut writer = store.writer(&key).await.unwrap();
    writer.write(Bytes::from_static(b"hello ")).await.unwrap();
    writer.write(Bytes::from_static(b"world")).await.unwrap();
    assert_eq!(writer.finish().await.unwrap(), 11);
    let sent = recorder.take();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, Method::Put);
    assert!(!sent[0].1.contains("uploadId"), "{sent:?}");

    assert_eq!(store.get(&key).await.unwrap(), "hello world");
    // A multipart ETag would end in "-1".
    let meta = store.head(&key).await.unwrap();
    assert!(!meta.etag.contains('-'), "{meta:?}");
}

#[tokio::test]
async fn list_paginates_past_1000_keys() {
    let (store, recorder) = recorded_store().await;
    let prefix = prefix("list");
    let keys: Vec<String> = (0..1100).map(|i| format!("{prefix}k{i:05}")).collect();
    futures::stream::iter(keys.iter())
        .map(|key| store.put(key, Bytes::from_static(b"x")))
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    // An odd key, to check the url-encoded listing is decoded.
    let odd = format!("{prefix}odd key+plus&amp.txt");
    store.put(&odd, Bytes::from_static(b"odd")).await.unwrap();

    recorder.take();
    let listed = store.list(&prefix).await.unwrap();
    assert_eq!(listed.len(), 1101);
    let pages = recorder.take();
    assert_eq!(
        pages.len(),
        2,
        "expected two ListObjectsV2 pages: {pages:?}"
    );
    assert!(pages[1].1.contains("continuation-token="), "{pages:?}");
    let mut expected = keys.clone();
    expected.push(odd.clone());
    expected.sort();
    let listed_keys: Vec<_> = listed.iter().map(|m| m.key.clone()).collect();
    assert_eq!(listed_keys, expected);
    assert!(listed.iter().all(|m| m.size > 0 && !m.etag.is_empty()));
    assert_eq!(store.get(&odd).await.unwrap(), "odd");

    assert!(store
        .list(&format!("{prefix}nothing-here/"))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn delete_then_not_found() {
    let store = store().await;
    let key = format!("{}gone", prefix("delete"));
    store.put(&key, Bytes::from_static(b"x")).await.unwrap();
    store.delete(&key).await.unwrap();
    for err in [
        store.head(&key).await.unwrap_err(),
        store.get(&key).await.unwrap_err(),
    ] {
        assert!(
            matches!(&err, StorageError::NotFound { location } if location.ends_with(&key)),
            "{err:?}"
        );
    }
    // Deleting again is not an error.
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn wrong_secret_is_denied() {
    let good = store().await;
    let key = format!("{}secret", prefix("denied"));
    good.put(&key, Bytes::from_static(b"x")).await.unwrap();

    let mut config = config();
    config.secret_access_key.push_str("-wrong");
    let bad = make_store(&config);
    match bad.get(&key).await.unwrap_err() {
        StorageError::Denied { location, reason } => {
            assert!(location.ends_with(&key));
            assert!(reason.contains("403"), "{reason}");
            assert!(reason.contains("SignatureDoesNotMatch"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        bad.put(&key, Bytes::from_static(b"y")).await.unwrap_err(),
        StorageError::Denied { .. }
    ));
    assert_eq!(good.get(&key).await.unwrap(), "x");
}

#[tokio::test]
async fn signing_uses_the_injected_clock() {
    let good = store().await;
    let key = format!("{}clock", prefix("clock"));
    good.put(&key, Bytes::from_static(b"x")).await.unwrap();

    // Signed two hours ago with a 15 minute validity: expired on arrival.
    let late = S3Store::new(
        &config(),
        BUCKET,
        Arc::new(ReqwestHttpClient::new()),
        Arc::new(LateClock(Duration::from_secs(2 * 3600))),
    )
    .unwrap();
    let err = late.get(&key).await.unwrap_err();
    assert!(matches!(err, StorageError::Denied { .. }), "{err:?}");
}
