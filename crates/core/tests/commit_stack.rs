//! The exactly-once commit against the real SeaweedFS catalog, with faults injected around the
//! commit request: stale parents, commits that applied behind a 5xx or a timeout, commits that
//! did not apply, and concurrent converters.
#![cfg(feature = "native")]

mod support;

use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use icepipe_core::commit::ledger::committed_objects;
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::RawObject;
use support::*;

const ROWS: i64 = 500;

fn batch(ids: Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("row {i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(ids)) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
    ])
    .unwrap()
}

/// `count` raw objects of [`ROWS`] rows each, with distinct ids.
async fn objects(test: &str, count: i64) -> Vec<RawObject> {
    let store = raw_store();
    let prefix = unique(test);
    let mut out = Vec::new();
    for i in 0..count {
        let body = parquet_bytes(&batch(i * ROWS..(i + 1) * ROWS));
        out.push(raw_object(store.clone(), &format!("tests/{prefix}/{i}.parquet"), body).await);
    }
    out
}

fn table(test: &str) -> TableName {
    suite_table("commit", test)
}

#[tokio::test]
async fn many_objects_land_in_one_snapshot_with_their_ledger() {
    let table = table("batch");
    let objects = objects("batch", 5).await;
    let converter = converter_over(http()).await;
    let outcome = converter.convert(&table, objects.clone()).await.unwrap();
    assert!(outcome.created_table);
    assert_eq!(outcome.objects.len(), 5);
    assert_eq!(outcome.rows, 5 * ROWS as u64);
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 1);
    assert_eq!(total_records(&meta), 5 * ROWS as u64);
    let held = committed_objects(&meta);
    assert!(objects.iter().all(|o| held.contains(&o.id())));

    // Delivered again: nothing new.
    let again = converter.convert(&table, objects).await.unwrap();
    assert_eq!(again.snapshot_id, None);
    assert_eq!(again.skipped.len(), 5);
    assert_eq!(metadata(&table).await.snapshots().count(), 1);
}

#[tokio::test]
async fn a_stale_parent_is_retried_on_the_new_parent() {
    let table = table("stale");
    let objs = objects("stale", 3).await;
    let plain = converter_over(http()).await;
    plain.convert(&table, vec![objs[0].clone()]).await.unwrap();

    // Between our load and our commit, another converter commits object 1.
    let (competitor, t, o) = (plain.clone(), table.clone(), objs[1].clone());
    let faulty = FaultyHttp::new(Fault::RunFirst(Box::pin(async move {
        let outcome = competitor.convert(&t, vec![o]).await.unwrap();
        assert!(outcome.snapshot_id.is_some());
    })));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let outcome = converter
        .convert(&table, vec![objs[2].clone()])
        .await
        .unwrap();
    assert!(outcome.snapshot_id.is_some());
    assert_eq!(
        outcome.commit_attempts, 2,
        "409 then success on the new parent"
    );
    assert_eq!(faulty.commit_requests(), 2);

    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 3);
    assert_eq!(total_records(&meta), 3 * ROWS as u64);
    let held = committed_objects(&meta);
    assert!(objs.iter().all(|o| held.contains(&o.id())));
}

async fn applied_behind_a_failure_is_not_duplicated(test: &str, fault: Fault) {
    let table = table(test);
    let objs = objects(test, 2).await;
    let faulty = FaultyHttp::new(fault);
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let outcome = converter.convert(&table, objs.clone()).await.unwrap();
    assert!(
        outcome.snapshot_id.is_some(),
        "the reload finds our snapshot"
    );
    assert_eq!(outcome.objects.len(), 2);
    assert_eq!(
        faulty.commit_requests(),
        1,
        "no second commit after the applied one"
    );
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 1);
    assert_eq!(meta.current_snapshot_id(), outcome.snapshot_id);
    assert_eq!(total_records(&meta), 2 * ROWS as u64);
}

#[tokio::test]
async fn a_commit_applied_behind_a_503_is_not_duplicated() {
    applied_behind_a_failure_is_not_duplicated("applied503", Fault::ApplyThenStatus(503)).await;
}

#[tokio::test]
async fn a_commit_applied_behind_a_timeout_is_not_duplicated() {
    applied_behind_a_failure_is_not_duplicated("appliedtimeout", Fault::ApplyThenTimeout).await;
}

#[tokio::test]
async fn a_commit_rejected_with_500_is_retried_and_lands_once() {
    let table = table("rejected");
    let objs = objects("rejected", 1).await;
    let faulty = FaultyHttp::new(Fault::RejectWith(500));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let outcome = converter.convert(&table, objs).await.unwrap();
    assert_eq!(outcome.commit_attempts, 2);
    assert_eq!(faulty.commit_requests(), 2);
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 1);
    assert_eq!(total_records(&meta), ROWS as u64);
}

#[tokio::test]
async fn the_same_object_converted_concurrently_lands_once() {
    let table = table("race");
    let objs = objects("race", 1).await;
    let (a, b) = (converter_over(http()).await, converter_over(http()).await);
    let (ra, rb) = tokio::join!(
        a.convert(&table, objs.clone()),
        b.convert(&table, objs.clone())
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        [ra.snapshot_id.is_some(), rb.snapshot_id.is_some()]
            .iter()
            .filter(|x| **x)
            .count(),
        1,
        "exactly one converter commits: {ra:?} {rb:?}"
    );
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 1);
    assert_eq!(total_records(&meta), ROWS as u64);
}
