//! Raw files in other writers' Parquet layouts through the converter, on the real catalog and
//! S3: every row of each legacy layout lands; a file whose pages hold fewer rows than its footer
//! declares is refused, named (row group and column), and never held by the ledger, so a fixed
//! copy can still land. The readers' side of the same files: tests/e2e/test_layouts.py.
#![cfg(feature = "native")]

mod support;

use icepipe_core::commit::ledger::TableHoldings;
use icepipe_core::raw::error_record::FailureKind;
use support::layouts::{flat, legacy_layouts, overstate_rows};
use support::*;

#[tokio::test]
async fn every_legacy_layout_lands_every_row() {
    let converter = converter_over(http()).await;
    let prefix = unique("layouts");
    for layout in legacy_layouts() {
        let key = format!("tests/{prefix}/{}.parquet", layout.name);
        let object = raw_object(raw_store(), &key, layout.parquet()).await;
        let table = suite_table("layouts", layout.name);
        let outcome = converter
            .convert(&table, vec![object.clone()])
            .await
            .unwrap();
        assert!(
            outcome.failed.is_empty(),
            "{}: {:?}",
            layout.name,
            outcome.failed
        );
        assert_eq!(
            outcome.rows,
            layout.rows(),
            "{}: rows committed",
            layout.name
        );
        let metadata = metadata(&table).await;
        assert_eq!(total_records(&metadata), layout.rows(), "{}", layout.name);
        assert!(TableHoldings::of(Some(&metadata)).holds(&object.id()));
    }
}

#[tokio::test]
async fn pages_holding_fewer_rows_than_the_footer_declares_are_refused_and_not_held() {
    let converter = converter_over(http()).await;
    let prefix = unique("overstated");
    let table = suite_table("layouts", "overstated");
    let good = raw_object(
        raw_store(),
        &format!("tests/{prefix}/good.parquet"),
        flat().parquet(),
    )
    .await;
    // Row group 1 holds 3 rows; its footer says 5.
    let damaged = raw_object(
        raw_store(),
        &format!("tests/{prefix}/damaged.parquet"),
        overstate_rows(&flat().parquet(), 1, 2),
    )
    .await;
    let outcome = converter
        .convert(&table, vec![good.clone(), damaged.clone()])
        .await
        .unwrap();

    let [failure] = &outcome.failed[..] else {
        panic!("one failure expected: {:?}", outcome.failed);
    };
    assert_eq!(failure.kind, FailureKind::Permanent);
    assert_eq!(failure.key, damaged.key);
    for part in [
        "row group 1: columns id, name:",
        "declares 5 rows but its pages hold 3",
    ] {
        assert!(failure.reason.contains(part), "{part}: {}", failure.reason);
    }
    assert_eq!(outcome.rows, 6, "the good object still lands");
    let metadata = metadata(&table).await;
    assert_eq!(total_records(&metadata), 6);
    let held = TableHoldings::of(Some(&metadata));
    assert!(held.holds(&good.id()));
    assert!(
        !held.holds(&damaged.id()),
        "a refused object must never be held"
    );
}
