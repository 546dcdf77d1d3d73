//! Shared pieces of the integration tests: the local stack's settings (a test that needs the
//! stack fails, never skips, without it), Parquet fixtures, and a fault-injecting HTTP client.
#![allow(dead_code)]

pub mod layouts;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::RecordBatch;
use async_trait::async_trait;
use bytes::Bytes;
use futures::future::BoxFuture;
use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use icepipe_core::catalog::{CatalogAuth, CatalogConfig, RestCatalog};
use icepipe_core::clock::{Clock, SystemClock};
use icepipe_core::commit::ledger::{table_holdings, RawObjectId, TableHoldings};
use icepipe_core::committer::local::LocalSettings;
use icepipe_core::convert::{ConvertOptions, Converter, OnInvalid};
use icepipe_core::http::{
    HttpClient, HttpError, HttpRequest, HttpResponse, Method, ReqwestHttpClient,
};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::s3::{S3Config, S3Resolver};
use icepipe_core::storage::{iceberg_io, ObjectStore, StoreResolver};
use parquet::arrow::ArrowWriter;

pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: start the stack: scripts/stack start && source .icepipe/stack.env"
        )
    })
}

pub fn catalog_config() -> CatalogConfig {
    CatalogConfig {
        uri: env("ICEPIPE_CATALOG_URI"),
        warehouse: env("ICEPIPE_WAREHOUSE"),
        auth: CatalogAuth::from_credential(&env("ICEPIPE_CATALOG_CREDENTIAL"))
            .expect("ICEPIPE_CATALOG_CREDENTIAL is id:secret"),
    }
}

pub fn s3_config() -> S3Config {
    S3Config {
        endpoint: env("ICEPIPE_S3_ENDPOINT"),
        region: std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: env("AWS_ACCESS_KEY_ID"),
        secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
        path_style: true,
    }
}

pub fn http() -> Arc<dyn HttpClient> {
    Arc::new(ReqwestHttpClient::with_timeout(Duration::from_secs(30)))
}

/// The system clock as a `&'static dyn Clock` (committer contexts borrow their clock).
pub static SYSTEM_CLOCK: SystemClock = SystemClock;

pub fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

pub async fn catalog_over(http: Arc<dyn HttpClient>) -> Arc<RestCatalog> {
    Arc::new(
        RestCatalog::connect(http, clock(), catalog_config())
            .await
            .expect("connect to the local catalog"),
    )
}

/// The `FileIO` over the local stack's S3 (table files and ledger files).
pub fn table_file_io() -> FileIO {
    let resolver = Arc::new(S3Resolver::new(s3_config(), http(), clock()));
    iceberg_io::file_io(resolver as Arc<dyn StoreResolver>)
}

/// Which of `ids` the table holds according to its ledger.
pub async fn holdings(meta: &TableMetadata, ids: &[RawObjectId]) -> TableHoldings {
    table_holdings(&table_file_io(), meta, ids)
        .await
        .expect("the table's ledger reads")
}

/// A converter on the local stack whose catalog requests go through `http`.
pub async fn converter_over(http: Arc<dyn HttpClient>) -> Converter {
    Converter::local(
        catalog_over(http).await,
        table_file_io(),
        clock(),
        local_settings(),
        ConvertOptions {
            on_invalid: OnInvalid::Skip,
            budget_bytes: None,
        },
    )
}

/// The CLI's commit settings with a short pace: these tests make a few commits per table, far
/// below the catalog's limits, and a lost race should not cost them seconds.
pub fn local_settings() -> LocalSettings {
    let mut settings = LocalSettings::default();
    settings.committer.interval_ms = 200;
    settings.max_wait = Duration::from_secs(120);
    settings
}

/// `total-records` of the current snapshot.
pub fn total_records(meta: &TableMetadata) -> u64 {
    meta.current_snapshot()
        .unwrap()
        .summary()
        .additional_properties["total-records"]
        .parse()
        .unwrap()
}

/// The local stack's raw bucket.
pub fn raw_store() -> Arc<dyn ObjectStore> {
    S3Resolver::new(s3_config(), http(), clock())
        .store_for_bucket(&env("ICEPIPE_RAW_BUCKET"))
        .unwrap()
}

/// A fresh table `it.<suite>.<test>_<unique>` for one test of one suite.
pub fn suite_table(suite: &str, test: &str) -> TableName {
    TableName {
        namespace: vec!["it".into(), suite.into()],
        name: unique(test),
    }
}

/// The table's current metadata, loaded through a fresh catalog client.
pub async fn metadata(table: &TableName) -> TableMetadata {
    catalog_over(http())
        .await
        .load_table(&table.to_ident())
        .await
        .unwrap()
        .metadata
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

pub fn parquet_bytes(batch: &RecordBatch) -> Bytes {
    parquet_with_footer(batch, Vec::new())
}

/// Parquet with `footer` in its key-value metadata (as the ingest writes a load's files).
pub fn parquet_with_footer(
    batch: &RecordBatch,
    footer: Vec<parquet::file::metadata::KeyValue>,
) -> Bytes {
    let properties = (!footer.is_empty()).then(|| {
        parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(footer))
            .build()
    });
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), properties).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
    Bytes::from(buf)
}

/// The manifests `snapshot`'s manifest list names.
pub async fn manifest_list(
    file_io: &FileIO,
    meta: &TableMetadata,
    snapshot: &iceberg::spec::Snapshot,
) -> Vec<iceberg::spec::ManifestFile> {
    let bytes = file_io
        .new_input(snapshot.manifest_list())
        .unwrap()
        .read()
        .await
        .unwrap();
    iceberg::spec::ManifestList::parse_with_version(&bytes, meta.format_version())
        .unwrap()
        .consume_entries()
        .into_iter()
        .collect()
}

/// The rows of every live data file of the current snapshot, without the rows position delete
/// files delete (applied here independently of icepipe's own code, by the spec: same path, a
/// data sequence number not above the delete file's; the delete file's rows must be sorted by
/// path and position). An equality delete manifest fails the test.
pub async fn live_batches(file_io: &FileIO, meta: &TableMetadata) -> Vec<RecordBatch> {
    use std::collections::HashMap;

    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use iceberg::spec::{DataContentType, ManifestContentType};

    let read = |path: String| async move {
        let bytes = file_io.new_input(&path).unwrap().read().await.unwrap();
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    };
    let snapshot = meta.current_snapshot().unwrap();
    let mut data = Vec::new();
    // (path, position) -> the sequence number of the delete file that deletes it.
    let mut deleted: HashMap<(String, i64), i64> = HashMap::new();
    for manifest in manifest_list(file_io, meta, snapshot).await {
        let loaded = manifest.load_manifest(file_io).await.unwrap();
        for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
            let sequence = entry.sequence_number().unwrap();
            match manifest.content {
                ManifestContentType::Data => {
                    data.push((entry.file_path().to_string(), sequence));
                }
                ManifestContentType::Deletes => {
                    assert_eq!(
                        entry.data_file().content_type(),
                        DataContentType::PositionDeletes,
                        "no equality deletes"
                    );
                    let mut previous: Option<(String, i64)> = None;
                    for batch in read(entry.file_path().to_string()).await {
                        let paths = batch
                            .column_by_name("file_path")
                            .unwrap()
                            .as_string::<i32>();
                        let positions = batch
                            .column_by_name("pos")
                            .unwrap()
                            .as_primitive::<Int64Type>();
                        for i in 0..batch.num_rows() {
                            let key = (paths.value(i).to_string(), positions.value(i));
                            assert!(
                                previous.as_ref().is_none_or(|p| *p < key),
                                "{} is not sorted by file_path, pos at {key:?}",
                                entry.file_path()
                            );
                            previous = Some(key.clone());
                            deleted.insert(key, sequence);
                        }
                    }
                }
            }
        }
    }
    let mut batches = Vec::new();
    for (path, sequence) in &data {
        let mut position = 0i64;
        for batch in read(path.clone()).await {
            let keep: Vec<bool> = (0..batch.num_rows() as i64)
                .map(|row| {
                    deleted
                        .get(&(path.clone(), position + row))
                        .is_none_or(|delete_sequence| sequence > delete_sequence)
                })
                .collect();
            position += batch.num_rows() as i64;
            let keep = arrow_array::BooleanArray::from(keep);
            batches.push(arrow_select::filter::filter_record_batch(&batch, &keep).unwrap());
        }
    }
    batches
}

/// Sets table properties through the catalog (a table's maintenance settings, its merge mode).
pub async fn set_properties(table: &TableName, properties: &[(&str, &str)]) {
    let updates = properties
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    catalog_over(http())
        .await
        .commit_table(
            &table.to_ident(),
            vec![],
            vec![iceberg::TableUpdate::SetProperties { updates }],
        )
        .await
        .unwrap();
}

/// Rows the current snapshot's summary says are live: total records less position deletes.
pub fn live_records(meta: &TableMetadata) -> u64 {
    let summary = &meta
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    let total = |key: &str| -> u64 { summary.get(key).map_or(0, |v| v.parse().unwrap()) };
    total("total-records") - total("total-position-deletes")
}

/// Puts `body` into `store` and describes it as a raw object.
pub async fn raw_object(store: Arc<dyn ObjectStore>, key: &str, body: Bytes) -> RawObject {
    store.put(key, body).await.unwrap();
    let meta = store.head(key).await.unwrap();
    RawObject::from_meta(store, meta)
}

/// What to do to the first commit request that passes through [`FaultyHttp`].
pub enum Fault {
    /// Run something (e.g. a competing commit) first, then send the commit.
    RunFirst(BoxFuture<'static, ()>),
    /// Send the commit (it applies), then report this status as if the answer was a failure.
    ApplyThenStatus(u16),
    /// Send the commit (it applies), then report a timeout.
    ApplyThenTimeout,
    /// Do not send the commit; answer this status.
    RejectWith(u16),
    /// Do not send the commit; answer as R2 Data Catalog does over a rate limit.
    RateLimited { retry_after_seconds: u64 },
    /// Do not send the commit; answer as R2 Data Catalog does when it lost a race after its
    /// requirement checks passed.
    ConcurrentUpdate,
}

/// Wraps a real client; the first commit (POST .../tables/<name>) meets the fault.
#[derive(Clone)]
pub struct FaultyHttp {
    inner: Arc<dyn HttpClient>,
    fault: Arc<tokio::sync::Mutex<Option<Fault>>>,
    pub commits: Arc<Mutex<u32>>,
}

impl std::fmt::Debug for FaultyHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultyHttp")
    }
}

impl FaultyHttp {
    pub fn new(fault: Fault) -> Self {
        Self {
            inner: http(),
            fault: Arc::new(tokio::sync::Mutex::new(Some(fault))),
            commits: Arc::new(Mutex::new(0)),
        }
    }

    pub fn commit_requests(&self) -> u32 {
        *self.commits.lock().unwrap()
    }
}

fn is_commit(request: &HttpRequest) -> bool {
    request.method == Method::Post
        && request
            .url
            .rsplit_once("/tables/")
            .is_some_and(|(_, name)| !name.is_empty() && !name.contains('/'))
}

#[async_trait]
impl HttpClient for FaultyHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if !is_commit(&request) {
            return self.inner.send(request).await;
        }
        *self.commits.lock().unwrap() += 1;
        let fault = self.fault.lock().await.take();
        let url = request.url.clone();
        let failed = |status: u16| HttpResponse {
            status,
            headers: vec![],
            body: Bytes::from_static(
                b"{\"error\":{\"message\":\"injected\",\"type\":\"ServiceFailure\",\"code\":500}}",
            ),
        };
        match fault {
            None => self.inner.send(request).await,
            Some(Fault::RunFirst(before)) => {
                before.await;
                self.inner.send(request).await
            }
            Some(Fault::ApplyThenStatus(status)) => {
                let real = self.inner.send(request).await?;
                assert!(
                    real.is_success(),
                    "the real commit failed: {}",
                    real.body_snippet()
                );
                Ok(failed(status))
            }
            Some(Fault::ApplyThenTimeout) => {
                let real = self.inner.send(request).await?;
                assert!(
                    real.is_success(),
                    "the real commit failed: {}",
                    real.body_snippet()
                );
                Err(HttpError::Timeout { url })
            }
            Some(Fault::RejectWith(status)) => Ok(failed(status)),
            Some(Fault::RateLimited {
                retry_after_seconds,
            }) => Ok(HttpResponse {
                status: 429,
                headers: vec![("Retry-After".into(), retry_after_seconds.to_string())],
                body: Bytes::from_static(
                    b"{\"error\":{\"message\":\"Too many requests\",\"type\":\"TooManyRequestsException\",\"code\":429}}",
                ),
            }),
            Some(Fault::ConcurrentUpdate) => Ok(HttpResponse {
                status: 400,
                headers: vec![],
                body: Bytes::from_static(
                    b"{\"error\":{\"message\":\"Concurrent update to the table\",\"type\":\"ConcurrentUpdateError\",\"code\":400}}",
                ),
            }),
        }
    }
}

/// Rows `ids` as `id` (long) and `name` (string) columns.
pub fn id_batch(ids: std::ops::Range<i64>) -> RecordBatch {
    use arrow_array::{Int64Array, StringArray};
    let names: Vec<String> = ids.clone().map(|i| format!("row {i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(ids)) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
    ])
    .unwrap()
}

/// `count` raw objects of `rows` rows each ([`id_batch`], distinct ids), under a unique prefix.
pub async fn id_objects(test: &str, count: i64, rows: i64) -> Vec<RawObject> {
    let store = raw_store();
    let prefix = unique(test);
    let mut out = Vec::new();
    for i in 0..count {
        let body = parquet_bytes(&id_batch(i * rows..(i + 1) * rows));
        out.push(raw_object(store.clone(), &format!("tests/{prefix}/{i}.parquet"), body).await);
    }
    out
}
