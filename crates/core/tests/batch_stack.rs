//! One queue batch end to end on the real stack (what the convert Worker runs per batch): duplicate
//! deliveries, two tables, a corrupt object, a layout violation, a delete, a malformed body, a
//! redelivery of the whole batch, and a catalog that cannot be reached.
#![cfg(feature = "native")]

mod support;

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use icepipe_core::batch::{
    run_batch, BatchReport, BatchSettings, Disposition, Incoming, RedeliveryDelay,
};
use icepipe_core::catalog::{CatalogError, TableSummary};
use icepipe_core::convert::ConvertError;
use icepipe_core::raw::error_record::ErrorRecord;
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::notification::{Notification, DELETE_OBJECT};
use icepipe_core::storage::ObjectStore;
use support::*;

fn rows(ids: std::ops::Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("row {i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(ids)) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
    ])
    .unwrap()
}

/// Puts the object and returns the notification R2 would send for it.
async fn put(store: &Arc<dyn ObjectStore>, key: &str, body: bytes::Bytes) -> Notification {
    store.put(key, body).await.unwrap();
    let meta = store.head(key).await.unwrap();
    Notification::for_object(
        "acc",
        "raw",
        key,
        meta.size,
        &meta.etag,
        meta.last_modified_ms,
    )
}

/// One batch with a converter on the local stack.
async fn run_on_stack(
    incoming: Vec<Incoming>,
    raw: &Arc<dyn ObjectStore>,
    settings: &BatchSettings,
) -> BatchReport {
    run_batch(
        incoming,
        raw.clone(),
        clock().as_ref(),
        settings,
        || async { Ok(converter_over(http()).await) },
    )
    .await
}

fn deliveries(notifications: &[(Notification, u32)]) -> Vec<Incoming> {
    notifications
        .iter()
        .enumerate()
        .map(|(i, (n, attempts))| Incoming {
            message_id: format!("m{i}"),
            attempts: *attempts,
            body: Ok(n.clone()),
        })
        .collect()
}

#[tokio::test]
async fn a_batch_lands_once_per_table_and_records_what_cannot_land() {
    let root = unique("batch");
    let raw = raw_store();
    let key = |source: &str, resource: &str, n: u32| {
        format!("sources/{source}/{resource}/year=2026/month=11/day=24/{root}-{n}.parquet")
    };
    let orders: Vec<Notification> = futures::future::join_all((0..3).map(|i| {
        let raw = raw.clone();
        let k = key("shop", "orders", i);
        async move {
            let ids = i64::from(i) * 100..i64::from(i + 1) * 100;
            put(&raw, &k, parquet_bytes(&rows(ids))).await
        }
    }))
    .await;
    let users = put(&raw, &key("shop", "users", 0), parquet_bytes(&rows(0..7))).await;
    let corrupt = put(
        &raw,
        &key("shop", "orders", 9),
        bytes::Bytes::from_static(b"PAR1 not really"),
    )
    .await;
    let off_layout = put(
        &raw,
        &format!("sources/shop/orders/{root}.parquet"),
        parquet_bytes(&rows(0..1)),
    )
    .await;
    let mut delete = users.clone();
    delete.action = DELETE_OBJECT.into();

    // Every order delivered three times, some on later attempts.
    let mut batch: Vec<(Notification, u32)> = Vec::new();
    for attempt in 1..=3 {
        for n in &orders {
            batch.push((n.clone(), attempt));
        }
    }
    batch.push((users.clone(), 1));
    batch.push((corrupt.clone(), 2));
    batch.push((off_layout.clone(), 1));
    batch.push((delete, 1));
    let mut incoming = deliveries(&batch);
    incoming.push(Incoming {
        message_id: "junk".into(),
        attempts: 1,
        body: Err("not an R2 event notification".into()),
    });
    let settings = BatchSettings {
        namespace_root: root.clone(),
        redelivery: RedeliveryDelay::default(),
    };

    let report = run_on_stack(incoming.clone(), &raw, &settings).await;
    assert_eq!(
        report.dispositions,
        vec![Disposition::Ack; incoming.len()],
        "{:?}",
        report.reasons
    );
    assert_eq!(report.reasons[0], "committed");
    assert_eq!(report.reasons[9], "committed");
    assert_eq!(report.reasons[10], "error_recorded");
    assert_eq!(report.reasons[11], "error_recorded");
    assert_eq!(report.reasons[12], "deleted");
    assert_eq!(report.reasons[13], "malformed");
    assert_eq!(report.rows, 307);
    assert_eq!(report.tables.len(), 2);
    assert!(report
        .tables
        .iter()
        .all(|t| t.outcome.snapshot_id.is_some() && t.outcome.created_table));

    let catalog = catalog_over(http()).await;
    let orders_table = TableName::parse(&format!("{root}.shop.orders")).unwrap();
    let loaded = catalog.load_table(&orders_table.to_ident()).await.unwrap();
    let summary = TableSummary::of(&orders_table.to_ident(), &loaded);
    assert_eq!((summary.snapshot_count, summary.rows), (1, 300));
    let all = catalog
        .summarize_tables_under(Some(&orders_table.namespace_ident()))
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");

    // The corrupt object and the layout violation are recorded; replaying reads them back.
    let records: Vec<_> = report
        .errors
        .iter()
        .filter_map(|e| e.record.clone())
        .collect();
    assert_eq!(records.len(), 2, "{:?}", report.errors);
    for record_key in &records {
        let record = ErrorRecord::parse(&raw.get(record_key).await.unwrap()).unwrap();
        assert!(record.key.contains(&root));
        raw.delete(record_key).await.unwrap();
    }

    // The whole batch again (a redelivery): nothing new, everything acknowledged.
    let again = run_on_stack(incoming.clone(), &raw, &settings).await;
    assert_eq!(again.dispositions, vec![Disposition::Ack; incoming.len()]);
    assert_eq!(again.reasons[0], "already_held");
    assert_eq!(again.rows, 0);
    let loaded = catalog.load_table(&orders_table.to_ident()).await.unwrap();
    assert_eq!(loaded.metadata.snapshots().count(), 1);

    // The catalog is down: objects are retried with a delay growing with the attempt.
    let down = run_batch(
        incoming,
        raw.clone(),
        clock().as_ref(),
        &settings,
        || async {
            Err(ConvertError::Catalog(CatalogError::Unreachable {
                uri: "http://127.0.0.1:1".into(),
                warehouse: "w".into(),
                operation: "read the catalog config".into(),
                reason: "connection refused".into(),
            }))
        },
    )
    .await;
    assert_eq!(
        down.dispositions[0],
        Disposition::Retry { delay_seconds: 30 }
    );
    assert_eq!(
        down.dispositions[3],
        Disposition::Retry { delay_seconds: 60 }
    );
    assert_eq!(
        down.dispositions[10],
        Disposition::Retry { delay_seconds: 60 }
    );
    assert_eq!(
        down.dispositions[12],
        Disposition::Ack,
        "deletes need no catalog"
    );
    for record_key in records {
        raw.delete(&record_key).await.unwrap();
    }
}
