//! The reconciliation sweep on the real catalog and S3: bounded pages resumed from the stored
//! cursor (S3 `start-after` + `max-keys`), and each raw object's standing: held, recorded in
//! `_errors/`, too young, or unaccounted (what the Worker queues).
#![cfg(feature = "native")]

mod support;

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch};
use icepipe_core::raw::error_record::{ErrorRecord, FailureKind};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::RawObject;
use icepipe_core::raw::reserved::RECONCILE_CURSOR_KEY;
use icepipe_core::reconcile::{load_cursor, save_cursor, sweep, sweep_prefix, SweepOptions};
use support::*;

fn batch(first: i64) -> RecordBatch {
    RecordBatch::try_from_iter([(
        "id",
        Arc::new(Int64Array::from_iter_values(first..first + 10)) as _,
    )])
    .unwrap()
}

#[tokio::test]
async fn sweeps_page_by_page_and_finds_what_no_table_accounts_for() {
    let raw = raw_store();
    let source = unique("src");
    let root = unique("rec");
    let mut objects: Vec<RawObject> = Vec::new();
    for i in 0..5 {
        let key = format!(
            "sources/{source}/events/year=2026/month=02/day=0{}/p{i}.parquet",
            i + 1
        );
        objects.push(raw_object(raw.clone(), &key, parquet_bytes(&batch(i * 10))).await);
    }
    let table = TableName::parse(&format!("{root}.{source}.events")).unwrap();
    converter_over(http())
        .await
        .convert(&table, objects[..2].to_vec())
        .await
        .unwrap();
    // Object 2 failed before: its error record accounts for it.
    let failed = &objects[2];
    let record = ErrorRecord::new(
        &failed.key,
        &failed.etag,
        FailureKind::Permanent,
        "test: recorded",
        failed.created_ms,
        failed.created_ms,
    );
    raw.put(&record.object_key(), record.to_json().into())
        .await
        .unwrap();

    let catalog = catalog_over(http()).await;
    let options = SweepOptions {
        namespace_root: root.clone(),
        prefix: sweep_prefix(Some(&format!("{source}/"))),
        limit: 2,
        min_age_ms: 0,
    };
    let now = clock().now_ms();
    let mut after: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let report = sweep(&raw, &catalog, &options, after.as_deref(), now)
            .await
            .unwrap();
        after = report.next_after.clone();
        let done = report.pass_complete;
        pages.push(report);
        if done {
            break;
        }
    }
    assert_eq!(
        pages.iter().map(|p| p.examined).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    let total =
        |f: fn(&icepipe_core::reconcile::SweepReport) -> usize| pages.iter().map(f).sum::<usize>();
    assert_eq!(total(|p| p.held), 2);
    assert_eq!(total(|p| p.recorded), 1);
    let unaccounted: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.unaccounted.iter().map(|u| u.key.as_str()))
        .collect();
    assert_eq!(
        unaccounted,
        [objects[3].key.as_str(), objects[4].key.as_str()]
    );
    assert!(pages[1].unaccounted[0].table == table.to_string());

    // Objects younger than the minimum age are left to their notification.
    let young = SweepOptions {
        min_age_ms: 3_600_000,
        limit: 10,
        ..options.clone()
    };
    let report = sweep(&raw, &catalog, &young, None, now).await.unwrap();
    assert_eq!((report.too_young, report.unaccounted.len()), (5, 0));

    // The cursor survives between runs in the raw bucket's _state/.
    let first = sweep(&raw, &catalog, &options, None, now).await.unwrap();
    let stored = save_cursor(raw.as_ref(), &Default::default(), &first, now)
        .await
        .unwrap();
    assert_eq!(load_cursor(raw.as_ref()).await.unwrap(), stored);
    assert_eq!(stored.after.as_deref(), Some(objects[1].key.as_str()));
    raw.delete(RECONCILE_CURSOR_KEY).await.unwrap();
}
