//! The column and nesting limits (`raw::limits`): the ingest refuses a record past them, naming
//! the limit, whether pushed (400, nothing stored) or pulled (the resource fails, its state stays),
//! and the converter refuses a raw file past them with a permanent error naming the limit. The
//! nesting limit is the same on both sides: what the ingest accepts, the converter takes.
#![cfg(feature = "native")]

mod ingest_common;

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, ListArray, RecordBatch};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use icepipe_core::convert::probe::probe;
use icepipe_core::ingest::load::LoadLimits;
use icepipe_core::ingest::push::{land_events, parse_events, EventStream, PushError};
use icepipe_core::raw::error_record::FailureKind;
use icepipe_core::raw::limits::{MAX_COLUMNS, MAX_NESTING_DEPTH};
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::memory::MemoryStore;
use icepipe_core::storage::ObjectStore;
use ingest_common::{config, serve, Harness};
use parquet::arrow::ArrowWriter;
use serde_json::{json, Map, Value};
use wiremock::MockServer;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn stream() -> EventStream {
    EventStream::undeclared("app", "events")
}

/// `{"id": 1, "field_0": 0, ...}` with `keys` keys.
fn wide_record(keys: usize) -> Value {
    let mut map = Map::new();
    map.insert("id".into(), json!(1));
    for k in 0..keys - 1 {
        map.insert(format!("field_{k:06}"), json!(k));
    }
    Value::Object(map)
}

/// `{"id": 1, "deep": [[...[1]...]]}`: `deep` nested `depth` levels.
fn deep_record(depth: usize) -> Value {
    let deep = (0..depth).fold(json!(1), |inner, _| json!([inner]));
    json!({"id": 1, "deep": deep})
}

async fn push(store: &Arc<MemoryStore>, events: Vec<Value>) -> Result<Vec<String>, PushError> {
    let limits = LoadLimits::with_part_bytes(1 << 20);
    land_events(store.clone(), &stream(), events, now(), limits)
        .await
        .map(|(_, report)| report.files)
}

async fn probe_key(store: &Arc<MemoryStore>, key: &str) -> Result<(), String> {
    let meta = store.head(key).await.unwrap();
    match probe(RawObject::from_meta(store.clone(), meta)).await {
        Ok(_) => Ok(()),
        Err(failure) => {
            assert_eq!(failure.kind, FailureKind::Permanent, "{failure:?}");
            Err(failure.reason)
        }
    }
}

/// A raw file written by another tool: one column of lists nested `depth` levels around an int.
async fn put_deep_file(store: &Arc<MemoryStore>, key: &str, depth: usize) {
    let mut array: ArrayRef = Arc::new(Int64Array::from(vec![7]));
    for _ in 0..depth {
        let field = Arc::new(Field::new("item", array.data_type().clone(), true));
        array = Arc::new(ListArray::new(
            field,
            OffsetBuffer::from_lengths([1]),
            array,
            None,
        ));
    }
    let schema = Schema::new(vec![Field::new("deep", array.data_type().clone(), true)]);
    put_batch(
        store,
        key,
        RecordBatch::try_new(Arc::new(schema), vec![array]).unwrap(),
    )
    .await;
}

async fn put_wide_file(store: &Arc<MemoryStore>, key: &str, columns: usize) {
    let fields: Vec<Field> = (0..columns)
        .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
        .collect();
    let arrays: Vec<ArrayRef> = (0..columns)
        .map(|i| Arc::new(Int64Array::from(vec![i as i64])) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap();
    put_batch(store, key, batch).await;
}

async fn put_batch(store: &Arc<MemoryStore>, key: &str, batch: RecordBatch) {
    let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    let body = writer.into_inner().unwrap();
    store.put(key, body.into()).await.unwrap();
}

#[tokio::test]
async fn a_push_past_the_column_limit_is_refused_naming_it_and_stores_nothing() {
    let store = Arc::new(MemoryStore::new("raw"));
    // icepipe adds 3 columns (_load_id, _loaded_at, _row_id): a record of MAX_COLUMNS - 3 keys fits.
    let files = push(&store, vec![wide_record(MAX_COLUMNS - 3)])
        .await
        .unwrap();
    assert_eq!(files.len(), 1);
    probe_key(&store, &files[0]).await.unwrap();

    let store = Arc::new(MemoryStore::new("raw"));
    // The first record makes 5 columns (3 of icepipe's, id, name): 2,043 more fit.
    let narrow = json!({"id": 1, "name": "fine"});
    let error = push(&store, vec![narrow, wide_record(100_000)])
        .await
        .unwrap_err();
    assert_eq!(error.status(), 400);
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        format!(
            "events for app/events not stored: record 1 of events, in table events, goes past \
             {MAX_COLUMNS} columns, the maximum per table (MAX_COLUMNS), at column field_002043"
        )
    );
    assert!(
        store.keys().is_empty(),
        "nothing of the push is stored: {:?}",
        store.keys()
    );
}

#[tokio::test]
async fn columns_added_over_several_records_count_too() {
    let store = Arc::new(MemoryStore::new("raw"));
    let limits = LoadLimits {
        part_bytes: 1 << 20,
        max_columns: 10,
    };
    // Each record brings 3 new keys: the third record would make 3 + 3 x 3 = 12 columns.
    let events: Vec<Value> = (0..3)
        .map(|i| json!({format!("a{i}"): 1, format!("b{i}"): 2, format!("c{i}"): 3}))
        .collect();
    let error = land_events(store.clone(), &stream(), events, now(), limits)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("record 2 of events, in table events, goes past 10 columns"),
        "{error}"
    );
    assert!(store.keys().is_empty());
}

#[tokio::test]
async fn the_nesting_limit_is_the_same_for_the_ingest_and_the_converter() {
    let store = Arc::new(MemoryStore::new("raw"));
    // At the limit: the ingest accepts it and the converter takes the file it wrote.
    let files = push(&store, vec![deep_record(MAX_NESTING_DEPTH)])
        .await
        .unwrap();
    probe_key(&store, &files[0]).await.unwrap();
    // One level more: the ingest refuses it, naming the limit, and stores nothing.
    let store = Arc::new(MemoryStore::new("raw"));
    let error = push(&store, vec![deep_record(MAX_NESTING_DEPTH + 1)])
        .await
        .unwrap_err();
    assert_eq!(error.status(), 400);
    assert_eq!(
        error.to_string(),
        "events for app/events not stored: field \"deep\" of record 0 of events is nested 33 \
         levels deep (lists and objects inside one another), more than the maximum of 32 \
         (MAX_NESTING_DEPTH)"
    );
    assert!(store.keys().is_empty());
    // ... and the converter refuses such a file written by another tool, naming the same limit,
    // also far past where the Arrow schema in its footer can no longer be read back (~60).
    put_deep_file(&store, "sources/x/deep/at.parquet", MAX_NESTING_DEPTH).await;
    probe_key(&store, "sources/x/deep/at.parquet")
        .await
        .unwrap();
    for depth in [MAX_NESTING_DEPTH + 1, 62] {
        let key = format!("sources/x/deep/{depth}.parquet");
        put_deep_file(&store, &key, depth).await;
        let reason = probe_key(&store, &key).await.unwrap_err();
        assert_eq!(
            reason,
            format!(
                "column deep of the raw file is nested {depth} levels deep (lists and objects \
                 inside one another), more than the maximum of 32 (MAX_NESTING_DEPTH)"
            )
        );
    }
    // serde_json stops at 128 levels: a body nested deeper is not JSON to the ingest.
    let deeper = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
    assert!(parse_events(deeper.as_bytes()).is_err());
}

#[tokio::test]
async fn the_converter_refuses_a_raw_file_past_the_column_limit() {
    let store = Arc::new(MemoryStore::new("raw"));
    put_wide_file(&store, "sources/x/wide/ok.parquet", MAX_COLUMNS).await;
    probe_key(&store, "sources/x/wide/ok.parquet")
        .await
        .unwrap();
    put_wide_file(&store, "sources/x/wide/over.parquet", MAX_COLUMNS + 1).await;
    let reason = probe_key(&store, "sources/x/wide/over.parquet")
        .await
        .unwrap_err();
    assert_eq!(
        reason,
        format!(
            "the raw file ({} columns) goes past {MAX_COLUMNS} columns, the maximum per table \
             (MAX_COLUMNS), at column c{MAX_COLUMNS}",
            MAX_COLUMNS + 1
        )
    );
}

#[tokio::test]
async fn a_pulled_record_past_a_limit_fails_its_resource_naming_it() {
    let server = MockServer::start().await;
    serve(
        &server,
        "/deep",
        json!([{"id": 1}, deep_record(MAX_NESTING_DEPTH + 1)]),
    )
    .await;
    serve(&server, "/fine", json!([{"id": 1}])).await;
    let config = config(
        &server.uri(),
        r#"
        [sources.api_test.resources.deep]
        path = "/deep"
        [sources.api_test.resources.fine]
        path = "/fine"
        "#,
    );
    let harness = Harness::new();
    let report = harness.run(&config, None).await;
    assert_eq!(report.status(), 502);
    let deep = report
        .resources
        .iter()
        .find(|r| r.resource == "deep")
        .unwrap();
    let error = deep.error.as_deref().unwrap();
    assert!(
        error.contains("nested 33 levels deep") && error.contains("(MAX_NESTING_DEPTH)"),
        "{error}"
    );
    let fine = report
        .resources
        .iter()
        .find(|r| r.resource == "fine")
        .unwrap();
    assert_eq!((fine.rows, fine.error.as_deref()), (1, None));
}

#[tokio::test]
async fn recorded_columns_and_variant_columns_count_towards_the_limit_in_later_loads() {
    let store = Arc::new(MemoryStore::new("raw"));
    let limits = LoadLimits {
        part_bytes: 1 << 20,
        max_columns: 6,
    };
    let stream = stream();
    let land = |events: Value| {
        let events = events.as_array().unwrap().clone();
        land_events(store.clone(), &stream, events, now(), limits)
    };
    // 3 of icepipe's columns, n and a: 5 recorded.
    land(json!([{"n": 5, "a": 1}])).await.unwrap();
    // Two new keys in a later load: 7 columns.
    let error = land(json!([{"b": 1, "c": 2}])).await.unwrap_err();
    assert!(
        error.to_string().contains("goes past 6 columns")
            && error.to_string().ends_with("at column c"),
        "{error}"
    );
    // 1.5 does not fit the long n: its variant n__v_double is the 6th column.
    land(json!([{"n": 1.5}])).await.unwrap();
    // A bool would need n__v_bool, a 7th.
    let error = land(json!([{"n": true}])).await.unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("goes past 6 columns, the maximum per table (MAX_COLUMNS), at column n"),
        "{error}"
    );
}
