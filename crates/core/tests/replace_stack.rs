//! The `replace` write disposition against the real SeaweedFS catalog: a replace load swaps the
//! table's rows in one `overwrite` snapshot (parts of one load accumulate across calls, older loads
//! disappear), a late part of an older load is superseded, appends keep appending, a commit that
//! meets a concurrent one works out its deletions again, and a queue batch reports superseded
//! objects as such.
#![cfg(feature = "native")]
// Expected rows are lists of id ranges, often of one range.
#![allow(clippy::single_range_in_vec_init)]

mod support;

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{ManifestContentType, ManifestStatus, Operation, Snapshot, TableMetadata};
use icepipe_core::batch::{run_batch, BatchSettings, Incoming, Note, RedeliveryDelay};
use icepipe_core::commit::outcome::TableOutcome;
use icepipe_core::convert::Converter;
use icepipe_core::raw::footer::{LOAD_ID_KEY, WRITE_DISPOSITION_KEY};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::notification::Notification;
use icepipe_core::raw::object::RawObject;
use icepipe_core::raw::summary::REPLACE_LOAD_PROPERTY;
use icepipe_core::storage::ObjectStore;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use support::*;

/// Load ids sort by time: A < B < C.
const LOAD_A: &str = "20261124T080000000Z-aaaaaaaa";
const LOAD_B: &str = "20261124T090000000Z-bbbbbbbb";
const LOAD_C: &str = "20261124T100000000Z-cccccccc";

fn rows(ids: Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("row {i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(ids)) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
    ])
    .unwrap()
}

/// Parquet as the ingest writes it: the load id and disposition in the footer.
fn ingest_parquet(batch: &RecordBatch, load_id: &str, disposition: &str) -> Bytes {
    let footer = vec![
        KeyValue::new(LOAD_ID_KEY.to_string(), load_id.to_string()),
        KeyValue::new(WRITE_DISPOSITION_KEY.to_string(), disposition.to_string()),
    ];
    parquet_with_footer(batch, footer)
}

/// Raw objects of one test, at the raw layout's keys.
struct Raw {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Raw {
    fn new(source: &str) -> Self {
        Self {
            store: raw_store(),
            prefix: format!("sources/{source}/items/year=2026/month=11/day=24"),
        }
    }

    async fn put(&self, name: &str, body: Bytes) -> RawObject {
        raw_object(self.store.clone(), &format!("{}/{name}", self.prefix), body).await
    }

    /// Part `part` of replace load `load`.
    async fn replace(&self, load: &str, part: u32, ids: Range<i64>) -> RawObject {
        let body = ingest_parquet(&rows(ids), load, "replace");
        self.put(&format!("{load}-{part:04}.parquet"), body).await
    }

    /// An object not written by our ingest (no footer metadata): appended.
    async fn plain(&self, name: &str, ids: Range<i64>) -> RawObject {
        self.put(&format!("{name}.parquet"), parquet_bytes(&rows(ids)))
            .await
    }
}

fn table(test: &str) -> TableName {
    suite_table("replace", test)
}

fn summary_value(snapshot: &Snapshot, key: &str) -> Option<String> {
    snapshot.summary().additional_properties.get(key).cloned()
}

fn summary_count(snapshot: &Snapshot, key: &str) -> u64 {
    summary_value(snapshot, key).map_or(0, |v| v.parse().unwrap())
}

/// What a snapshot's manifests say, entry by entry.
#[derive(Debug, Default)]
struct ManifestCounts {
    live_files: u64,
    live_rows: u64,
    deleted_files: u64,
    deleted_rows: u64,
    /// Deleted by this very snapshot (DELETED entries carrying its id).
    deleted_here: BTreeSet<String>,
    live_paths: Vec<String>,
}

async fn manifest_counts(
    file_io: &FileIO,
    meta: &TableMetadata,
    snapshot: &Snapshot,
) -> ManifestCounts {
    let mut counts = ManifestCounts::default();
    for manifest in manifest_list(file_io, meta, snapshot).await {
        assert_eq!(manifest.content, ManifestContentType::Data);
        let loaded = manifest.load_manifest(file_io).await.unwrap();
        for entry in loaded.entries() {
            match entry.status() {
                ManifestStatus::Deleted => {
                    counts.deleted_files += 1;
                    counts.deleted_rows += entry.record_count();
                    if entry.snapshot_id() == Some(snapshot.snapshot_id()) {
                        counts.deleted_here.insert(entry.file_path().to_string());
                    }
                }
                _ => {
                    counts.live_files += 1;
                    counts.live_rows += entry.record_count();
                    counts.live_paths.push(entry.file_path().to_string());
                }
            }
        }
    }
    counts
}

/// The `id`s of every live row of the current snapshot, read from the data files.
async fn live_ids(file_io: &FileIO, meta: &TableMetadata) -> Vec<i64> {
    let counts = manifest_counts(file_io, meta, meta.current_snapshot().unwrap()).await;
    let mut ids = Vec::new();
    for path in counts.live_paths {
        let bytes = file_io.new_input(&path).unwrap().read().await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column_by_name("id").unwrap();
            let values = column.as_any().downcast_ref::<Int64Array>().unwrap();
            ids.extend(values.values().iter().copied());
        }
    }
    ids.sort_unstable();
    ids
}

fn ids(ranges: &[Range<i64>]) -> Vec<i64> {
    let mut all: Vec<i64> = ranges.iter().flat_map(|r| r.clone()).collect();
    all.sort_unstable();
    all
}

/// The current snapshot is an overwrite (or append) whose summary matches its manifests.
async fn check_current(
    converter: &Converter,
    table: &TableName,
    operation: Operation,
    replace_load: &str,
    expected: &[Range<i64>],
) -> TableMetadata {
    let meta = metadata(table).await;
    let current = meta.current_snapshot().unwrap();
    assert_eq!(current.summary().operation, operation, "{current:?}");
    assert_eq!(
        summary_value(current, REPLACE_LOAD_PROPERTY).as_deref(),
        Some(replace_load)
    );
    let counts = manifest_counts(&converter.file_io, &meta, current).await;
    assert_eq!(
        summary_count(current, "total-data-files"),
        counts.live_files
    );
    assert_eq!(summary_count(current, "total-records"), counts.live_rows);
    assert_eq!(
        summary_count(current, "deleted-data-files"),
        counts.deleted_here.len() as u64,
        "{:?}",
        current.summary()
    );
    assert_eq!(
        live_ids(&converter.file_io, &meta).await,
        ids(expected),
        "the table holds exactly these rows"
    );
    meta
}

fn assert_committed(outcome: &TableOutcome, objects: &[&RawObject]) {
    assert!(outcome.snapshot_id.is_some(), "{outcome:?}");
    let expected: BTreeSet<String> = objects.iter().map(|o| o.location()).collect();
    let got: BTreeSet<String> = outcome.objects.iter().cloned().collect();
    assert_eq!(got, expected, "{outcome:?}");
}

#[tokio::test]
async fn a_newer_replace_load_swaps_the_rows_and_older_parts_are_superseded() {
    let table = table("swap");
    let raw = Raw::new(&unique("swap"));
    let converter = converter_over(http()).await;

    // Load A, two parts in one call.
    let a1 = raw.replace(LOAD_A, 1, 0..100).await;
    let a2 = raw.replace(LOAD_A, 2, 100..200).await;
    let outcome = converter
        .convert(&table, vec![a1.clone(), a2.clone()])
        .await
        .unwrap();
    assert_committed(&outcome, &[&a1, &a2]);
    assert_eq!(outcome.replace_load_id.as_deref(), Some(LOAD_A));
    check_current(&converter, &table, Operation::Overwrite, LOAD_A, &[0..200]).await;

    // Load B's first part: A is gone in the same snapshot.
    let b1 = raw.replace(LOAD_B, 1, 1000..1050).await;
    let outcome = converter.convert(&table, vec![b1.clone()]).await.unwrap();
    assert_committed(&outcome, &[&b1]);
    assert_eq!((outcome.removed_files, outcome.removed_rows), (2, 200));
    let meta = check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_B,
        &[1000..1050],
    )
    .await;
    let current = meta.current_snapshot().unwrap();
    assert_eq!(summary_count(current, "deleted-records"), 200);
    assert_eq!(summary_count(current, "added-records"), 50);

    // Load B's second part, in another call: B's parts accumulate.
    let b2 = raw.replace(LOAD_B, 2, 1050..1100).await;
    let outcome = converter.convert(&table, vec![b2.clone()]).await.unwrap();
    assert_committed(&outcome, &[&b2]);
    assert_eq!(outcome.removed_files, 0);
    check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_B,
        &[1000..1100],
    )
    .await;
    let snapshots = metadata(&table).await.snapshots().count();

    // Late: a redelivered part of A (the ledger holds it) and a part of A never seen before.
    let a3 = raw.replace(LOAD_A, 3, 200..300).await;
    let outcome = converter
        .convert(&table, vec![a1.clone(), a3.clone()])
        .await
        .unwrap();
    assert_eq!(outcome.snapshot_id, None, "{outcome:?}");
    assert_eq!(outcome.skipped, [a1.location()]);
    assert_eq!(outcome.superseded.len(), 1, "{outcome:?}");
    let superseded = &outcome.superseded[0];
    assert_eq!(superseded.object, a3.location());
    assert_eq!(
        (superseded.load_id.as_str(), superseded.by_load_id.as_str()),
        (LOAD_A, LOAD_B)
    );
    assert!(
        superseded
            .reason
            .contains(&format!("superseded by load {LOAD_B}")),
        "{}",
        superseded.reason
    );
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), snapshots, "no new snapshot");
    assert_eq!(
        live_ids(&converter.file_io, &meta).await,
        ids(&[1000..1100])
    );
}

#[tokio::test]
async fn the_newest_load_in_one_call_wins() {
    let table = table("one_call");
    let raw = Raw::new(&unique("one_call"));
    let converter = converter_over(http()).await;
    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    let b1 = raw.replace(LOAD_B, 1, 100..110).await;
    let b2 = raw.replace(LOAD_B, 2, 110..120).await;
    let outcome = converter
        .convert(&table, vec![b1.clone(), a1.clone(), b2.clone()])
        .await
        .unwrap();
    assert_committed(&outcome, &[&b1, &b2]);
    assert_eq!(outcome.superseded.len(), 1);
    assert_eq!(outcome.superseded[0].object, a1.location());
    check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_B,
        &[100..120],
    )
    .await;
    assert_eq!(metadata(&table).await.snapshots().count(), 1);
}

#[tokio::test]
async fn appends_keep_appending_and_belong_to_the_current_replace_load() {
    let table = table("appends");
    let raw = Raw::new(&unique("appends"));
    let converter = converter_over(http()).await;

    // A replace part and an append in one call: one overwrite snapshot with both.
    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    let x = raw.plain("x", 100..110).await;
    let outcome = converter
        .convert(&table, vec![a1.clone(), x.clone()])
        .await
        .unwrap();
    assert_committed(&outcome, &[&a1, &x]);
    check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_A,
        &[0..10, 100..110],
    )
    .await;

    // A plain append, and a file the ingest wrote as an append: appended, A carried forward.
    let y = raw.plain("y", 200..210).await;
    let z = raw
        .put(
            "z.parquet",
            ingest_parquet(&rows(300..310), LOAD_B, "append"),
        )
        .await;
    let outcome = converter
        .convert(&table, vec![y.clone(), z.clone()])
        .await
        .unwrap();
    assert_committed(&outcome, &[&y, &z]);
    assert_eq!(outcome.replace_load_id, None);
    check_current(
        &converter,
        &table,
        Operation::Append,
        LOAD_A,
        &[0..10, 100..110, 200..210, 300..310],
    )
    .await;

    // A's second part keeps what came with or after A, and adds its rows.
    let a2 = raw.replace(LOAD_A, 2, 10..20).await;
    let outcome = converter.convert(&table, vec![a2.clone()]).await.unwrap();
    assert_committed(&outcome, &[&a2]);
    assert_eq!(outcome.removed_files, 0);
    check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_A,
        &[0..20, 100..110, 200..210, 300..310],
    )
    .await;

    // Load B replaces all of it.
    let b1 = raw.replace(LOAD_B, 1, 1000..1010).await;
    let outcome = converter.convert(&table, vec![b1.clone()]).await.unwrap();
    assert_committed(&outcome, &[&b1]);
    assert_eq!((outcome.removed_files, outcome.removed_rows), (5, 50));
    check_current(
        &converter,
        &table,
        Operation::Overwrite,
        LOAD_B,
        &[1000..1010],
    )
    .await;
}

#[tokio::test]
async fn a_retry_after_a_concurrent_commit_removes_what_the_new_parent_holds() {
    let table = table("retry");
    let raw = Raw::new(&unique("retry"));
    let plain = converter_over(http()).await;
    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    plain.convert(&table, vec![a1]).await.unwrap();

    // Between our load and our commit, another converter appends.
    let z = raw.plain("z", 500..510).await;
    let (competitor, t) = (plain.clone(), table.clone());
    let faulty = FaultyHttp::new(Fault::RunFirst(Box::pin(async move {
        let outcome = competitor.convert(&t, vec![z]).await.unwrap();
        assert!(outcome.snapshot_id.is_some());
    })));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let b1 = raw.replace(LOAD_B, 1, 1000..1010).await;
    let outcome = converter.convert(&table, vec![b1.clone()]).await.unwrap();
    assert_committed(&outcome, &[&b1]);
    assert_eq!(outcome.commit_attempts, 2, "409, then the new parent");
    assert_eq!(faulty.commit_requests(), 2);
    assert_eq!(
        (outcome.removed_files, outcome.removed_rows),
        (2, 20),
        "A's file and the concurrent append"
    );
    check_current(&plain, &table, Operation::Overwrite, LOAD_B, &[1000..1010]).await;
    assert_eq!(metadata(&table).await.snapshots().count(), 3);
}

#[tokio::test]
async fn a_newer_load_committed_concurrently_supersedes_ours_on_retry() {
    let table = table("overtaken");
    let raw = Raw::new(&unique("overtaken"));
    let plain = converter_over(http()).await;
    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    plain.convert(&table, vec![a1]).await.unwrap();

    let c1 = raw.replace(LOAD_C, 1, 2000..2010).await;
    let (competitor, t) = (plain.clone(), table.clone());
    let faulty = FaultyHttp::new(Fault::RunFirst(Box::pin(async move {
        let outcome = competitor.convert(&t, vec![c1]).await.unwrap();
        assert!(outcome.snapshot_id.is_some());
    })));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let b1 = raw.replace(LOAD_B, 1, 1000..1010).await;
    let x = raw.plain("x", 100..110).await;
    let outcome = converter
        .convert(&table, vec![b1.clone(), x.clone()])
        .await
        .unwrap();
    // B lost to C while we were writing; the append still lands, on top of C.
    assert_committed(&outcome, &[&x]);
    assert_eq!(outcome.superseded.len(), 1, "{outcome:?}");
    assert_eq!(outcome.superseded[0].object, b1.location());
    assert_eq!(outcome.superseded[0].by_load_id, LOAD_C);
    assert_eq!(outcome.commit_attempts, 2);
    check_current(
        &plain,
        &table,
        Operation::Append,
        LOAD_C,
        &[100..110, 2000..2010],
    )
    .await;
}

#[tokio::test]
async fn a_batch_acknowledges_superseded_objects_as_superseded() {
    let root = unique("replace_batch");
    let source = unique("src");
    let raw = Raw::new(&source);
    let settings = BatchSettings {
        namespace_root: root.clone(),
        redelivery: RedeliveryDelay::default(),
    };
    let batch = |objects: Vec<&RawObject>| -> Vec<Incoming> {
        objects
            .iter()
            .enumerate()
            .map(|(i, o)| Incoming {
                message_id: format!("m{i}"),
                attempts: 1,
                body: Ok(Notification::for_object(
                    "acc",
                    "raw",
                    &o.key,
                    o.size,
                    &o.etag,
                    o.created_ms,
                )),
            })
            .collect()
    };
    let run = |incoming: Vec<Incoming>| {
        let (raw, settings) = (raw.store.clone(), settings.clone());
        async move {
            run_batch(incoming, raw, clock().as_ref(), &settings, || async {
                Ok(converter_over(http()).await)
            })
            .await
        }
    };

    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    let b1 = raw.replace(LOAD_B, 1, 100..110).await;
    let report = run(batch(vec![&a1])).await;
    assert_eq!(report.reasons, ["committed"]);
    let report = run(batch(vec![&b1])).await;
    assert_eq!(report.reasons, ["committed"]);
    assert_eq!(
        report.tables[0].outcome.replace_load_id.as_deref(),
        Some(LOAD_B)
    );
    assert_eq!(report.tables[0].outcome.removed_files, 1);

    let a2 = raw.replace(LOAD_A, 2, 10..20).await;
    let report = run(batch(vec![&a2, &a1])).await;
    assert_eq!(report.reasons, ["superseded", "already_held"]);
    assert_eq!(report.acked, 2);
    let t = &report.tables[0].outcome;
    assert_eq!(
        (t.snapshot_id, t.superseded.len(), t.skipped.len()),
        (None, 1, 1)
    );
    let superseded: Vec<&Note> = report
        .notes
        .iter()
        .filter(|n| matches!(n, Note::Superseded { .. }))
        .collect();
    assert_eq!(superseded.len(), 1, "{:?}", report.notes);
    let line = serde_json::to_value(superseded[0]).unwrap();
    assert_eq!(line["event"], "superseded");
    assert_eq!(line["key"], a2.key.as_str());
    assert_eq!(line["by_load_id"], LOAD_B);

    let table = TableName::parse(&format!("{root}.{source}.items")).unwrap();
    let meta = metadata(&table).await;
    assert_eq!(meta.snapshots().count(), 2);
    let file_io = converter_over(http()).await.file_io;
    assert_eq!(live_ids(&file_io, &meta).await, ids(&[100..110]));
}

#[tokio::test]
async fn an_overwrite_applied_behind_a_503_is_not_repeated() {
    let table = table("applied");
    let raw = Raw::new(&unique("applied"));
    let plain = converter_over(http()).await;
    let a1 = raw.replace(LOAD_A, 1, 0..10).await;
    plain.convert(&table, vec![a1]).await.unwrap();

    let faulty = FaultyHttp::new(Fault::ApplyThenStatus(503));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let b1 = raw.replace(LOAD_B, 1, 1000..1010).await;
    let outcome = converter.convert(&table, vec![b1.clone()]).await.unwrap();
    assert_committed(&outcome, &[&b1]);
    assert_eq!(faulty.commit_requests(), 1, "the reload finds our snapshot");
    assert_eq!(outcome.replace_load_id.as_deref(), Some(LOAD_B));
    assert_eq!((outcome.removed_files, outcome.removed_rows), (1, 10));
    check_current(&plain, &table, Operation::Overwrite, LOAD_B, &[1000..1010]).await;
    assert_eq!(metadata(&table).await.snapshots().count(), 2);
}
