//! A resource's schema kept across loads (`_state/<source>/<resource>.schema.json`): a value that
//! no longer fits its column goes to a variant column (or is refused / discarded, by the
//! resource's `schema_contract`), colliding keys keep their columns whatever order they arrive in,
//! and each load reports what it renamed, widened, varied or discarded.
#![cfg(feature = "native")]

mod ingest_common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::RecordBatch;
use arrow_schema::DataType;
use chrono::{DateTime, Duration, Utc};
use icepipe_core::ingest::config::Nesting;
use icepipe_core::ingest::json_arrow::contract::{ResourceSchema, SchemaContract};
use icepipe_core::ingest::load::{load_schema, LoadLimits, LoadTarget, LoadWriter};
use icepipe_core::ingest::parquet_out::PartError;
use icepipe_core::ingest::push::{land_events, parse_events, EventStream, PushError};
use icepipe_core::ingest::run::ResourceReport;
use icepipe_core::ingest::state::StateError;
use icepipe_core::raw::footer::WriteDisposition;
use icepipe_core::raw::reserved::schema_key;
use icepipe_core::storage::memory::MemoryStore;
use icepipe_core::storage::ObjectStore;
use ingest_common::{ints, read_parquet, strings};
use serde_json::{json, Value};

const T0: &str = "2026-11-24T10:00:00Z";

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(T0)
        .unwrap()
        .with_timezone(&Utc)
        + Duration::minutes(minutes)
}

fn stream(contract: SchemaContract) -> EventStream {
    EventStream {
        contract,
        ..EventStream::undeclared("app", "m")
    }
}

/// One push of `events` as load number `n`; its report.
async fn load(
    store: &Arc<MemoryStore>,
    contract: SchemaContract,
    n: i64,
    events: Value,
) -> Result<ResourceReport, PushError> {
    let events = events.as_array().unwrap().clone();
    let limits = LoadLimits::with_part_bytes(1 << 20);
    land_events(store.clone(), &stream(contract), events, at(n), limits)
        .await
        .map(|(_, report)| report)
}

/// The first load of the tests that start from a recorded `n: long`.
async fn first_load(store: &Arc<MemoryStore>, contract: SchemaContract) {
    load(store, contract, 0, json!([{"id": 1, "n": 5}]))
        .await
        .unwrap();
}

/// The only batch of the file a load wrote for table `m`.
async fn file(store: &MemoryStore, report: &ResourceReport) -> RecordBatch {
    assert_eq!(report.files.len(), 1, "{report:?}");
    let (batches, _) = read_parquet(store, &report.files[0]).await;
    assert_eq!(batches.len(), 1);
    batches.into_iter().next().unwrap()
}

fn columns(batch: &RecordBatch) -> Vec<(String, DataType)> {
    batch
        .schema()
        .fields()
        .iter()
        .filter(|f| !f.name().starts_with("_"))
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect()
}

fn doubles(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

#[tokio::test]
async fn int_then_float_lands_the_float_in_a_variant_column_and_the_column_stays_long() {
    let store = Arc::new(MemoryStore::new("raw"));
    let first = load(
        &store,
        SchemaContract::Evolve,
        0,
        json!([{"id": 1, "n": 5}]),
    )
    .await
    .unwrap();
    assert!(first.schema_changes.is_empty(), "{first:?}");
    let f1 = file(&store, &first).await;
    assert_eq!(
        columns(&f1),
        [
            ("id".into(), DataType::Int64),
            ("n".into(), DataType::Int64)
        ]
    );

    let second = load(
        &store,
        SchemaContract::Evolve,
        1,
        json!([{"id": 2, "n": 1.5}, {"id": 3, "n": 6}]),
    )
    .await
    .unwrap();
    assert_eq!(
        second.schema_changes,
        ["varied: values of m.n that do not fit its long went to n__v_double"]
    );
    let f2 = file(&store, &second).await;
    assert_eq!(
        columns(&f2),
        [
            ("id".into(), DataType::Int64),
            ("n".into(), DataType::Int64),
            ("n__v_double".into(), DataType::Float64)
        ]
    );
    assert_eq!(ints(std::slice::from_ref(&f2), "n"), [None, Some(6)]);
    assert_eq!(doubles(&f2, "n__v_double"), [Some(1.5), None]);

    // The third load keeps both columns and their types; nothing changes any more.
    let third = load(
        &store,
        SchemaContract::Evolve,
        2,
        json!([{"id": 4, "n": 2.5}, {"id": 5, "n": 7}]),
    )
    .await
    .unwrap();
    assert!(third.schema_changes.len() == 1, "{third:?}");
    let f3 = file(&store, &third).await;
    assert_eq!(columns(&f3), columns(&f2));
    assert_eq!(doubles(&f3, "n__v_double"), [Some(2.5), None]);

    let recorded: ResourceSchema =
        serde_json::from_slice(&store.get(&schema_key("app", "m")).await.unwrap()).unwrap();
    let names: Vec<&str> = recorded.tables["m"]
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "_load_id",
            "_loaded_at",
            "_row_id",
            "id",
            "n",
            "n__v_double"
        ]
    );
}

#[tokio::test]
async fn a_new_column_widens_within_its_first_load_and_says_so() {
    let store = Arc::new(MemoryStore::new("raw"));
    let report = load(
        &store,
        SchemaContract::Evolve,
        0,
        json!([{"x": 1}, {"x": 2.5}]),
    )
    .await
    .unwrap();
    assert_eq!(report.schema_changes, ["widened: m.x from long to double"]);
    assert_eq!(
        doubles(&file(&store, &report).await, "x"),
        [Some(1.0), Some(2.5)]
    );
}

#[tokio::test]
async fn colliding_keys_keep_their_columns_over_three_loads_in_any_order() {
    let store = Arc::new(MemoryStore::new("raw"));
    // `user_id`, `userId` and `UserID` all normalize to `user_id`; each load meets them first in
    // another order (the value says which key it came from).
    let loads = [
        json!([{"user_id": 1}, {"userId": 2}]),
        json!([{"UserID": 3}, {"userId": 2}, {"user_id": 1}]),
        json!([{"userId": 2, "UserID": 3}, {"user_id": 1}]),
    ];
    let mut reports = Vec::new();
    for (n, events) in loads.into_iter().enumerate() {
        let report = load(&store, SchemaContract::Evolve, n as i64, events)
            .await
            .unwrap();
        let batch = file(&store, &report).await;
        for (column, key_value) in [("user_id", 1), ("user_id_2", 2), ("user_id_3", 3)] {
            let values = match batch.column_by_name(column) {
                Some(_) => ints(std::slice::from_ref(&batch), column),
                None => continue,
            };
            assert!(
                values.iter().flatten().all(|v| *v == key_value),
                "load {n}: column {column} holds {values:?}"
            );
        }
        reports.push(report.schema_changes);
    }
    assert_eq!(
        reports[0],
        [r#"renamed: key "userId" of m is column user_id_2 (its name was taken)"#]
    );
    assert_eq!(
        reports[1],
        [r#"renamed: key "UserID" of m is column user_id_3 (its name was taken)"#]
    );
    assert!(reports[2].is_empty(), "{:?}", reports[2]);
}

#[tokio::test]
async fn freeze_refuses_a_new_key_or_a_value_that_does_not_fit_and_stores_nothing() {
    let store = Arc::new(MemoryStore::new("raw"));
    first_load(&store, SchemaContract::Freeze).await;
    let before = store.keys();
    for (events, reason) in [
        (json!([{"id": 2, "n": 1.5}]), "1.5 does not fit m.n (long)"),
        (
            json!([{"id": 2, "extra": true}]),
            r#"key "extra" of m has no column"#,
        ),
    ] {
        let error = load(&store, SchemaContract::Freeze, 1, events)
            .await
            .unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.to_string(),
            format!(
                "events for app/m not stored: record 0 of m: {reason}, and the resource's \
                 schema_contract is freeze"
            )
        );
        assert_eq!(store.keys(), before);
    }
}

#[tokio::test]
async fn discard_value_drops_what_does_not_fit_and_lands_the_rows() {
    let store = Arc::new(MemoryStore::new("raw"));
    first_load(&store, SchemaContract::DiscardValue).await;
    let report = load(
        &store,
        SchemaContract::DiscardValue,
        1,
        json!([{"id": 2, "n": 1.5, "extra": "x"}, {"id": 3, "n": 6}]),
    )
    .await
    .unwrap();
    assert_eq!(
        report.schema_changes,
        [
            "discarded: values of m.extra (the key has no column)",
            "discarded: values of m.n (double does not fit long)"
        ]
    );
    let batch = file(&store, &report).await;
    assert_eq!(
        columns(&batch),
        [
            ("id".into(), DataType::Int64),
            ("n".into(), DataType::Int64)
        ]
    );
    assert_eq!(ints(std::slice::from_ref(&batch), "n"), [None, Some(6)]);
}

#[tokio::test]
async fn of_two_loads_that_change_the_schema_at_once_the_second_writes_nothing() {
    let store = Arc::new(MemoryStore::new("raw"));
    let snapshot = load_schema(store.clone(), "app", "m").await.unwrap();
    let writer = |n: i64| {
        LoadWriter::new(
            store.clone(),
            LoadTarget {
                source: "app",
                resource: "m",
                nesting: Nesting::ChildTables,
                primary_key: &[],
                disposition: WriteDisposition::Append,
                contract: SchemaContract::Evolve,
                merge: None,
            },
            &format!("load-{n}"),
            at(n),
            LoadLimits::with_part_bytes(1 << 20),
            snapshot.clone(),
        )
    };
    let (mut a, mut b) = (writer(0), writer(1));
    a.push(json!({"n": 5})).unwrap();
    b.push(json!({"n": 1.5})).unwrap();
    a.flush().await.unwrap();
    match b.flush().await {
        Err(PartError::Schema(e @ StateError::Conflict { .. })) => assert!(e.is_transient()),
        other => panic!("expected a schema conflict, got {other:?}"),
    }
    assert!(b.files().is_empty());
    assert_eq!(a.files().len(), 1);
    // Retried from the stored schema, the second load's value goes to the variant column.
    let report = load(&store, SchemaContract::Evolve, 2, json!([{"n": 1.5}]))
        .await
        .unwrap();
    assert_eq!(
        report.schema_changes,
        ["varied: values of m.n that do not fit its long went to n__v_double"]
    );
}

#[tokio::test]
async fn integers_beyond_i64_land_as_their_exact_digits_and_past_2_pow_53_as_exact_longs() {
    let store = Arc::new(MemoryStore::new("raw"));
    let events = parse_events(
        br#"[{"id": 1, "big": 123456789012345678901234567890, "exact": 9007199254740993}]"#,
    )
    .unwrap();
    let limits = LoadLimits::with_part_bytes(1 << 20);
    let (_, report) = land_events(
        store.clone(),
        &stream(SchemaContract::Evolve),
        events,
        at(0),
        limits,
    )
    .await
    .unwrap();
    let batch = file(&store, &report).await;
    assert_eq!(
        strings(std::slice::from_ref(&batch), "big"),
        [Some("123456789012345678901234567890".to_string())]
    );
    assert_eq!(
        ints(std::slice::from_ref(&batch), "exact"),
        [Some(9_007_199_254_740_993)]
    );
}
