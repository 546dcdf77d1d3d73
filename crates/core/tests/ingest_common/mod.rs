//! Shared pieces of the ingest tests: a controllable clock, a run helper over `MemoryStore`,
//! and Parquet read-back.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use icepipe_core::clock::ManualClock;
use icepipe_core::http::retry::RetryPolicy;
use icepipe_core::http::ReqwestHttpClient;
use icepipe_core::ingest::load::LoadLimits;
use icepipe_core::ingest::{
    run_source, Fetcher, IngestConfig, IngestContext, RunReport, StaticSecrets,
};
use icepipe_core::storage::memory::MemoryStore;
use icepipe_core::storage::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Serves `body` as JSON for GET `/items` when query parameter `param` is `value`.
pub async fn serve_page(server: &MockServer, param: &str, value: &str, body: serde_json::Value) {
    Mock::given(path("/items"))
        .and(query_param(param, value))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// 2024-06-01T12:00:00Z: where the tests' clock starts (files land under day=01).
pub const START_MS: i64 = 1_717_243_200_000;

/// Serves `body` as JSON for GET `route` (any query).
pub async fn serve(server: &MockServer, route: &str, body: serde_json::Value) {
    Mock::given(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

/// One source `api_test` at `base_url`, with `body` appended (auth, paginator, resources).
pub fn config(base_url: &str, body: &str) -> IngestConfig {
    let text = format!("[sources.api_test]\nbase_url = \"{base_url}\"\n{body}");
    IngestConfig::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub struct Harness {
    pub store: MemoryStore,
    pub clock: Arc<ManualClock>,
    pub secrets: StaticSecrets,
    pub part_bytes: usize,
    pub max_columns: usize,
}

impl Harness {
    pub fn new() -> Self {
        Self {
            store: MemoryStore::new("raw"),
            clock: Arc::new(ManualClock::new(START_MS)),
            secrets: StaticSecrets::default(),
            part_bytes: icepipe_core::ingest::DEFAULT_PART_BYTES,
            max_columns: icepipe_core::raw::limits::MAX_COLUMNS,
        }
    }

    /// What a run or a push talks to: this harness's store, clock and secrets.
    pub fn context(&self) -> IngestContext {
        IngestContext {
            fetcher: Fetcher {
                http: Arc::new(ReqwestHttpClient::with_timeout(Duration::from_secs(10))),
                clock: self.clock.clone(),
                retry: RetryPolicy::api_default(),
            },
            store: Arc::new(self.store.clone()),
            secrets: Arc::new(self.secrets.clone()),
            limits: LoadLimits {
                part_bytes: self.part_bytes,
                max_columns: self.max_columns,
            },
        }
    }

    pub async fn run(&self, config: &IngestConfig, resource: Option<&str>) -> RunReport {
        run_source(
            &self.context(),
            config.source("api_test").unwrap(),
            resource,
        )
        .await
        .unwrap()
    }

    /// Runs every resource and asserts that all of them succeeded.
    pub async fn run_ok(&self, config: &IngestConfig) -> RunReport {
        let report = self.run(config, None).await;
        assert!(report.is_success(), "{report:?}");
        report
    }

    /// Every row of every file of `table` in the store, as one batch per file.
    pub async fn read_table(&self, table: &str) -> Vec<RecordBatch> {
        let prefix = format!("sources/api_test/{table}/");
        let mut batches = Vec::new();
        for key in self
            .store
            .keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
        {
            batches.extend(read_parquet(&self.store, &key).await.0);
        }
        batches
    }
}

/// The batches and key-value metadata of one Parquet object.
pub async fn read_parquet(
    store: &MemoryStore,
    key: &str,
) -> (Vec<RecordBatch>, HashMap<String, String>) {
    let bytes = store.get(key).await.unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, metadata)
}

/// Total rows of some batches.
pub fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// The values of one column across batches, read by `read` from each batch's array.
fn column<T>(batches: &[RecordBatch], name: &str, read: impl Fn(&dyn Array) -> Vec<T>) -> Vec<T> {
    batches
        .iter()
        .flat_map(|b| {
            read(
                b.column_by_name(name)
                    .unwrap_or_else(|| panic!("no column {name}")),
            )
        })
        .collect()
}

/// The values of an Int64 column across batches.
pub fn ints(batches: &[RecordBatch], name: &str) -> Vec<Option<i64>> {
    column(batches, name, |a| {
        a.as_primitive::<Int64Type>().iter().collect()
    })
}

/// The values of a Utf8 column across batches.
pub fn strings(batches: &[RecordBatch], name: &str) -> Vec<Option<String>> {
    column(batches, name, |a| {
        a.as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    })
}
