//! The `merge` write disposition against the real SeaweedFS catalog behind the R2 rules layer:
//! updates and deletes end as the current state, the newest version wins whatever the arrival
//! order, redeliveries change nothing, merges racing each other and an append all land, and
//! only the data files holding affected keys are read and rewritten (copy-on-write) or get
//! position deletes (merge-on-read); with a `merge_key`, a load restates whole groups (rows gone
//! upstream leave, an older load of a group changes nothing, only the groups' files are read).
//! Every scenario runs in both `write.merge.mode`s; rows are
//! read with position deletes applied by the spec (support::live_batches), independently of
//! icepipe's own code.
#![cfg(feature = "native")]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use bytes::Bytes;
use iceberg::spec::{Operation, TableMetadata};
use icepipe_core::commit::outcome::{MergeStats, TableOutcome};
use icepipe_core::convert::Converter;
use icepipe_core::merge::mode::{MergeMode, MERGE_MODE_PROPERTY};
use icepipe_core::raw::footer::{LoadFooter, MergeKeys};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::ObjectStore;
use support::*;

/// One row of a merge file: (id, version, deleted).
type Row = (i64, i64, bool);

fn keys() -> MergeKeys {
    MergeKeys {
        primary_key: vec!["id".into()],
        version_column: "version".into(),
        hard_delete_column: Some("deleted".into()),
        merge_key: Vec::new(),
    }
}

fn batch(rows: &[Row]) -> RecordBatch {
    let names: Vec<String> = rows
        .iter()
        .map(|(id, v, _)| format!("row {id} v{v}"))
        .collect();
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as _,
        ),
        ("name", Arc::new(StringArray::from(names)) as _),
        (
            "version",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))) as _,
        ),
        (
            "deleted",
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.2)))) as _,
        ),
    ])
    .unwrap()
}

/// Parquet as the ingest writes a merge load.
fn merge_parquet(rows: &[Row], load: &str) -> Bytes {
    let footer = LoadFooter::of_merge_load(load, "src", "items", keys());
    parquet_with_footer(&batch(rows), footer.key_values())
}

struct Raw {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Raw {
    fn new() -> Self {
        Self {
            store: raw_store(),
            prefix: format!(
                "sources/{}/items/year=2026/month=11/day=30",
                unique("merge")
            ),
        }
    }

    async fn merge(&self, name: &str, rows: &[Row]) -> RawObject {
        let key = format!("{}/{name}.parquet", self.prefix);
        raw_object(self.store.clone(), &key, merge_parquet(rows, name)).await
    }

    /// `days` files without a footer disposition, `per_day` new keys each at version 1 (day `d`
    /// holds ids `d * per_day..(d + 1) * per_day`).
    async fn days(&self, days: i64, per_day: i64) -> Vec<RawObject> {
        let mut objects = Vec::new();
        for day in 0..days {
            let rows: Vec<Row> = (day * per_day..(day + 1) * per_day)
                .map(|id| (id, 1, false))
                .collect();
            objects.push(self.append(&format!("day{day:02}"), &rows).await);
        }
        objects
    }

    /// A file without a footer disposition: appended as it is.
    async fn append(&self, name: &str, rows: &[Row]) -> RawObject {
        let key = format!("{}/{name}.parquet", self.prefix);
        raw_object(self.store.clone(), &key, parquet_bytes(&batch(rows))).await
    }
}

fn table(test: &str, mode: MergeMode) -> TableName {
    let suffix = match mode {
        MergeMode::CopyOnWrite => "cow",
        MergeMode::MergeOnRead => "mor",
    };
    suite_table("merge", &format!("{test}_{suffix}"))
}

/// Sets the table's merge mode (the table exists once its first file is converted).
async fn use_mode(table: &TableName, mode: MergeMode) {
    set_properties(table, &[(MERGE_MODE_PROPERTY, mode.as_str())]).await;
}

/// Each scenario as a test per merge mode.
macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod copy_on_write {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::MergeMode::CopyOnWrite).await
            })*
        }
        mod merge_on_read {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::MergeMode::MergeOnRead).await
            })*
        }
    };
}

in_both_modes!(
    updates_and_deletes_end_as_the_current_state,
    the_newest_version_wins_whatever_the_order_and_redeliveries_change_nothing,
    merges_racing_each_other_and_an_append_all_land,
    only_files_holding_affected_keys_are_read_and_changed,
    a_merge_that_loses_its_race_prepares_again_on_the_new_parent,
    a_deleted_key_stays_deleted_for_older_upserts_and_returns_with_a_newer_one,
    rows_deleted_by_position_are_not_in_the_table_for_later_merges,
    a_group_reload_removes_rows_gone_upstream_and_keeps_other_groups,
    an_older_load_of_a_group_converted_after_a_newer_one_changes_nothing,
    a_merge_key_on_a_partition_like_column_touches_only_the_files_of_its_groups,
);

async fn convert(
    converter: &Converter,
    table: &TableName,
    objects: Vec<RawObject>,
) -> TableOutcome {
    let outcome = converter.convert(table, objects).await.unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    outcome
}

/// Every live row of the current snapshot: id -> (version, name), read from the data files;
/// panics on a key held twice.
async fn live_rows(meta: &TableMetadata) -> BTreeMap<i64, (i64, String)> {
    let mut rows = BTreeMap::new();
    for batch in live_batches(&table_file_io(), meta).await {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let versions = batch
            .column_by_name("version")
            .unwrap()
            .as_primitive::<Int64Type>();
        let names = batch.column_by_name("name").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            let row = (versions.value(i), names.value(i).to_string());
            let old = rows.insert(ids.value(i), row);
            assert!(old.is_none(), "id {} is held twice", ids.value(i));
        }
    }
    rows
}

fn expected(rows: &[(i64, i64)]) -> BTreeMap<i64, (i64, String)> {
    rows.iter()
        .map(|&(id, v)| (id, (v, format!("row {id} v{v}"))))
        .collect()
}

/// The table's rows are exactly `want` (id, version), and the summary counts as many.
async fn assert_holds(meta: &TableMetadata, want: &[(i64, i64)]) {
    assert_eq!(live_rows(meta).await, expected(want));
    assert_eq!(live_records(meta), want.len() as u64);
}

fn merged_stats(outcome: &TableOutcome) -> &MergeStats {
    assert_eq!(outcome.merged.len(), 1, "{outcome:?}");
    &outcome.merged[0].stats
}

async fn updates_and_deletes_end_as_the_current_state(mode: MergeMode) {
    let converter = converter_over(http()).await;
    let table = table("current_state", mode);
    let raw = Raw::new();
    let first: Vec<Row> = (0..100).map(|id| (id, 1, false)).collect();
    let outcome = convert(&converter, &table, vec![raw.merge("L1", &first).await]).await;
    use_mode(&table, mode).await;
    assert_eq!(merged_stats(&outcome).rows_added, 100);

    // Updates of 10..20, deletes of 30..35, a key updated twice in one file, a new key, and a
    // delete of a key the table never held.
    let mut second: Vec<Row> = (10..20).map(|id| (id, 2, false)).collect();
    second.extend((30..35).map(|id| (id, 2, true)));
    second.extend([
        (50, 3, false),
        (50, 2, false),
        (100, 1, false),
        (500, 1, true),
    ]);
    let outcome = convert(&converter, &table, vec![raw.merge("L2", &second).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!((stats.rows_read, stats.keys, stats.deletes), (19, 18, 6));
    assert_eq!((stats.rows_added, stats.rows_removed), (12, 16));

    let meta = metadata(&table).await;
    let current = meta.current_snapshot().unwrap();
    assert_eq!(current.summary().operation, Operation::Overwrite);
    let mut want: Vec<(i64, i64)> = (0..100)
        .filter(|id| !(30..35).contains(id))
        .map(|id| (id, if (10..20).contains(&id) { 2 } else { 1 }))
        .collect();
    want.retain(|r| r.0 != 50);
    want.extend([(50, 3), (100, 1)]);
    assert_eq!(live_rows(&meta).await, expected(&want));
    assert_eq!(live_records(&meta), want.len() as u64);
}

async fn the_newest_version_wins_whatever_the_order_and_redeliveries_change_nothing(
    mode: MergeMode,
) {
    let converter = converter_over(http()).await;
    let table = table("out_of_order", mode);
    let raw = Raw::new();
    let newer: Vec<Row> = (0..10)
        .map(|id| (id, 5, false))
        .chain([(20, 5, true)])
        .collect();
    let mut older: Vec<Row> = (0..10).map(|id| (id, 3, false)).collect();
    older.extend([(11, 3, false), (5, 9, true)]);
    let newer = raw.merge("L-newer", &newer).await;
    let older = raw.merge("L-older", &older).await;
    convert(&converter, &table, vec![newer.clone()]).await;
    use_mode(&table, mode).await;
    let outcome = convert(&converter, &table, vec![older.clone()]).await;
    // 0..10 are newer in the table (but 5, deleted at version 9); 11 is new.
    assert_eq!(merged_stats(&outcome).stale, 9);
    let want: Vec<(i64, i64)> = (0..10)
        .filter(|id| *id != 5)
        .map(|id| (id, 5))
        .chain([(11, 3)])
        .collect();
    let meta = metadata(&table).await;
    assert_eq!(live_rows(&meta).await, expected(&want));

    // Every file three more times, alone and together: the table holds them, nothing changes.
    let snapshot = meta.current_snapshot_id();
    for _ in 0..3 {
        for objects in [
            vec![older.clone()],
            vec![newer.clone()],
            vec![newer.clone(), older.clone()],
        ] {
            let outcome = convert(&converter, &table, objects.clone()).await;
            assert_eq!(outcome.skipped.len(), objects.len(), "{outcome:?}");
            assert!(outcome.merged.is_empty());
        }
        // A fresh converter (another process) knows nothing but the ledger.
        let other = converter_over(http()).await;
        convert(&other, &table, vec![older.clone()]).await;
    }
    let meta = metadata(&table).await;
    assert_eq!(meta.current_snapshot_id(), snapshot);
    assert_eq!(live_rows(&meta).await, expected(&want));
}

async fn merges_racing_each_other_and_an_append_all_land(mode: MergeMode) {
    let table = table("race", mode);
    let raw = Raw::new();
    let setup = converter_over(http()).await;
    let base: Vec<Row> = (0..300).map(|id| (id, 1, false)).collect();
    convert(&setup, &table, vec![raw.merge("L0", &base).await]).await;
    use_mode(&table, mode).await;

    let a: Vec<Row> = (0..100).map(|id| (id, 2, false)).collect();
    let b: Vec<Row> = (100..200).map(|id| (id, 2, id % 10 == 0)).collect();
    let appended: Vec<Row> = (1000..1010).map(|id| (id, 1, false)).collect();
    let (a, b, appended) = (
        raw.merge("La", &a).await,
        raw.merge("Lb", &b).await,
        raw.append("plain", &appended).await,
    );
    // Three converters of their own (three processes): each commits through its own committer,
    // so they race at the catalog and the losers prepare again on the new parent.
    let (ca, cb, cc) = (
        converter_over(http()).await,
        converter_over(http()).await,
        converter_over(http()).await,
    );
    let (oa, ob, oc) = tokio::join!(
        convert(&ca, &table, vec![a]),
        convert(&cb, &table, vec![b]),
        convert(&cc, &table, vec![appended]),
    );
    assert_eq!(oa.merged.len() + ob.merged.len(), 2);
    assert_eq!(oc.objects.len(), 1);
    let want: Vec<(i64, i64)> = (0..300)
        .filter(|id| !((100..200).contains(id) && id % 10 == 0))
        .map(|id| (id, if id < 200 { 2 } else { 1 }))
        .chain((1000..1010).map(|id| (id, 1)))
        .collect();
    assert_eq!(live_rows(&metadata(&table).await).await, expected(&want));
}

async fn only_files_holding_affected_keys_are_read_and_changed(mode: MergeMode) {
    let converter = converter_over(http()).await;
    let table = table("affected_files", mode);
    let raw = Raw::new();
    // Twenty objects of 500 keys each, appended in one snapshot: twenty data files with
    // disjoint id ranges (as loads of new keys over twenty days would leave them).
    convert(&converter, &table, raw.days(20, 500).await).await;
    use_mode(&table, mode).await;
    // Updates and a delete in the ranges of loads 3 and 17 only.
    let rows: Vec<Row> = (1500..1510)
        .map(|id| (id, 2, false))
        .chain([(8600, 2, false), (8601, 2, true)])
        .collect();
    let outcome = convert(&converter, &table, vec![raw.merge("L-upd", &rows).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!(stats.files_live, 20);
    assert_eq!(stats.files_read, 2, "{stats:?}");
    assert_eq!((stats.rows_added, stats.rows_removed), (11, 12));
    let meta = metadata(&table).await;
    let summary = &meta
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    match mode {
        MergeMode::CopyOnWrite => {
            assert_eq!(
                (stats.files_rewritten, stats.delete_files_added),
                (2, 0),
                "{stats:?}"
            );
            assert_eq!(summary["deleted-data-files"], "2");
            assert!(!summary.contains_key("added-delete-files"));
        }
        MergeMode::MergeOnRead => {
            // One delete file for the partition both files are in; no data file removed.
            assert_eq!(
                (stats.files_rewritten, stats.delete_files_added),
                (0, 1),
                "{stats:?}"
            );
            assert!(!summary.contains_key("deleted-data-files"), "{summary:?}");
            assert_eq!(summary["added-delete-files"], "1");
            assert_eq!(summary["added-position-delete-files"], "1");
            assert_eq!(summary["added-position-deletes"], "12");
            assert_eq!(summary["total-position-deletes"], "12");
            assert_eq!(summary["total-delete-files"], "1");
            assert_eq!(summary["total-data-files"], "21");
        }
    }
    assert_eq!(live_records(&meta), 9999);
    let rows = live_rows(&meta).await;
    assert_eq!(rows.len(), 9999);
    assert_eq!(rows[&1505].0, 2);
    assert_eq!(rows[&8600].0, 2);
    assert!(!rows.contains_key(&8601));
    assert_eq!(rows[&8602].0, 1);
}

async fn a_merge_that_loses_its_race_prepares_again_on_the_new_parent(mode: MergeMode) {
    let table = table("lost_race", mode);
    let raw = Raw::new();
    let plain = converter_over(http()).await;
    let base: Vec<Row> = (0..300).map(|id| (id, 1, false)).collect();
    convert(&plain, &table, vec![raw.merge("L0", &base).await]).await;
    use_mode(&table, mode).await;

    // Between our merge's reading of the table and its commit, another process merges newer
    // versions of overlapping keys and appends: the files our merge planned to rewrite are gone.
    let ours: Vec<Row> = (0..150).map(|id| (id, 2, false)).collect();
    let theirs: Vec<Row> = (100..200).map(|id| (id, 3, false)).collect();
    let (theirs, appended) = (
        raw.merge("L-theirs", &theirs).await,
        raw.append("plain", &[(1000, 1, false)]).await,
    );
    let t = table.clone();
    let faulty = FaultyHttp::new(Fault::RunFirst(Box::pin(async move {
        let outcome = plain.convert(&t, vec![theirs, appended]).await.unwrap();
        assert_eq!((outcome.merged.len(), outcome.objects.len()), (1, 2));
    })));
    let converter = converter_over(Arc::new(faulty.clone())).await;
    let outcome = convert(&converter, &table, vec![raw.merge("L-ours", &ours).await]).await;
    assert_eq!(outcome.commit_attempts, 2, "lost once, then the new parent");
    assert_eq!(faulty.commit_requests(), 2);
    // Prepared again: 100..150 are newer in the table now.
    assert_eq!(merged_stats(&outcome).stale, 50);
    let want: Vec<(i64, i64)> = (0..300)
        .map(|id| {
            (
                id,
                match id {
                    0..100 => 2,
                    100..200 => 3,
                    _ => 1,
                },
            )
        })
        .chain([(1000, 1)])
        .collect();
    assert_eq!(live_rows(&metadata(&table).await).await, expected(&want));
}

/// A merge table in `mode` holding keys 1 and 2 at version 1, then key 1 deleted at version 9.
async fn key_1_deleted(converter: &Converter, test: &str, mode: MergeMode) -> (TableName, Raw) {
    let table = table(test, mode);
    let raw = Raw::new();
    convert(
        converter,
        &table,
        vec![raw.merge("L1", &[(1, 1, false), (2, 1, false)]).await],
    )
    .await;
    use_mode(&table, mode).await;
    convert(
        converter,
        &table,
        vec![raw.merge("L9", &[(1, 9, true)]).await],
    )
    .await;
    (table, raw)
}

async fn a_deleted_key_stays_deleted_for_older_upserts_and_returns_with_a_newer_one(
    mode: MergeMode,
) {
    let converter = converter_over(http()).await;
    let (table, raw) = key_1_deleted(&converter, "tombstones", mode).await;
    // A late file from before the delete: key 1 must not come back; key 2 is updated.
    let outcome = convert(
        &converter,
        &table,
        vec![raw.merge("L3", &[(1, 3, false), (2, 3, false)]).await],
    )
    .await;
    assert_eq!(merged_stats(&outcome).stale, 1);
    let meta = metadata(&table).await;
    assert_eq!(live_rows(&meta).await, expected(&[(2, 3)]));
    assert!(meta.properties().contains_key("icepipe.merge.tombstones"));
    // A newer upsert brings it back; the late file replayed under another name still cannot.
    convert(
        &converter,
        &table,
        vec![raw.merge("L10", &[(1, 10, false)]).await],
    )
    .await;
    convert(
        &converter,
        &table,
        vec![raw.merge("L3-again", &[(1, 3, false)]).await],
    )
    .await;
    assert_eq!(
        live_rows(&metadata(&table).await).await,
        expected(&[(1, 10), (2, 3)])
    );
}

/// The system clock moved `.0` milliseconds ahead: merges made later.
#[derive(Debug)]
struct LaterClock(i64);

#[async_trait::async_trait]
impl icepipe_core::clock::Clock for LaterClock {
    fn now_ms(&self) -> i64 {
        SYSTEM_CLOCK.now_ms() + self.0
    }
    async fn sleep(&self, duration: std::time::Duration) {
        SYSTEM_CLOCK.sleep(duration).await
    }
}

/// A converter whose clock runs `days` ahead of the system's.
async fn converter_days_later(days: i64) -> Converter {
    Converter::local(
        catalog_over(http()).await,
        table_file_io(),
        Arc::new(LaterClock(days * 86_400_000)),
        local_settings(),
        icepipe_core::convert::ConvertOptions {
            on_invalid: icepipe_core::convert::OnInvalid::Skip,
            budget_bytes: None,
        },
    )
}

#[tokio::test]
async fn a_delete_past_the_tombstone_retention_is_forgotten() {
    let converter = converter_over(http()).await;
    let (table, raw) =
        key_1_deleted(&converter, "tombstone_retention", MergeMode::CopyOnWrite).await;
    // 29 days later the delete still holds a late older upsert back...
    let outcome = convert(
        &converter_days_later(29).await,
        &table,
        vec![raw.merge("L3", &[(1, 3, false)]).await],
    )
    .await;
    assert_eq!(merged_stats(&outcome).stale, 1);
    assert_eq!(
        live_rows(&metadata(&table).await).await,
        expected(&[(2, 1)])
    );
    // ...31 days later (past the default 30) it is forgotten: the late upsert lands.
    let outcome = convert(
        &converter_days_later(31).await,
        &table,
        vec![raw.merge("L4", &[(1, 4, false)]).await],
    )
    .await;
    assert_eq!(merged_stats(&outcome).stale, 0);
    assert_eq!(
        live_rows(&metadata(&table).await).await,
        expected(&[(1, 4), (2, 1)])
    );
}

async fn rows_deleted_by_position_are_not_in_the_table_for_later_merges(mode: MergeMode) {
    let converter = converter_over(http()).await;
    let table = table("deleted_rows", mode);
    let raw = Raw::new();
    let first: Vec<Row> = (0..20).map(|id| (id, 1, false)).collect();
    convert(&converter, &table, vec![raw.merge("L1", &first).await]).await;
    use_mode(&table, mode).await;
    let update: Vec<Row> = (0..10).map(|id| (id, 2, false)).collect();
    let outcome = convert(&converter, &table, vec![raw.merge("L2", &update).await]).await;
    assert_eq!(merged_stats(&outcome).rows_removed, 10);

    // Only the live versions lose: 0..10 at v2 and 15, not the v1 rows L2 replaced.
    let mut again: Vec<Row> = (0..10).map(|id| (id, 3, false)).collect();
    again.push((15, 3, true));
    let outcome = convert(&converter, &table, vec![raw.merge("L3", &again).await]).await;
    assert_eq!(merged_stats(&outcome).rows_removed, 11);

    // A late file at v1: the deleted v1 rows neither lose again nor decide anything; the live
    // v3 rows make it stale.
    let late: Vec<Row> = (0..5).map(|id| (id, 1, false)).collect();
    let outcome = convert(&converter, &table, vec![raw.merge("L1b", &late).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!(
        (stats.stale, stats.rows_removed, stats.rows_added),
        (5, 0, 0)
    );

    let meta = metadata(&table).await;
    let want: Vec<(i64, i64)> = (0..20)
        .filter(|id| *id != 15)
        .map(|id| (id, if id < 10 { 3 } else { 1 }))
        .collect();
    assert_eq!(live_rows(&meta).await, expected(&want));
    assert_eq!(live_records(&meta), want.len() as u64);
    if mode == MergeMode::MergeOnRead {
        let summary = &meta
            .current_snapshot()
            .unwrap()
            .summary()
            .additional_properties;
        assert_eq!(summary["total-position-deletes"], "21", "{summary:?}");
    }
}

#[tokio::test]
async fn compaction_after_merge_on_read_drops_the_deleted_rows_and_the_delete_files() {
    use icepipe_core::committer::local::LocalCommitter;
    use icepipe_core::maintain::inventory::Inventory;
    use icepipe_core::maintain::StepKind;
    use icepipe_core::storage::s3::S3Resolver;

    let converter = converter_over(http()).await;
    let table = table("compaction", MergeMode::MergeOnRead);
    let raw = Raw::new();
    convert(&converter, &table, raw.days(3, 100).await).await;
    use_mode(&table, MergeMode::MergeOnRead).await;
    let first: Vec<Row> = (0..300).step_by(7).map(|id| (id, 2, id % 3 == 0)).collect();
    convert(&converter, &table, vec![raw.merge("L2", &first).await]).await;
    let second: Vec<Row> = (50..60).map(|id| (id, 3, false)).collect();
    convert(&converter, &table, vec![raw.merge("L3", &second).await]).await;
    let before = metadata(&table).await;
    let rows = live_rows(&before).await;
    let file_io = table_file_io();
    let inventory = Inventory::of_current(&file_io, &before).await.unwrap();
    assert_eq!(inventory.delete_files.len(), 2, "one per merge");

    let maintainer = LocalCommitter::new(
        catalog_over(http()).await,
        file_io.clone(),
        clock(),
        local_settings(),
    );
    let stores = Arc::new(S3Resolver::new(s3_config(), http(), clock()));
    let reports = maintainer
        .maintain(&table.to_ident(), stores, false, 1)
        .await
        .unwrap();
    assert_eq!(reports[0].step, StepKind::Compact, "{reports:?}");
    let after = metadata(&table).await;
    let inventory = Inventory::of_current(&file_io, &after).await.unwrap();
    assert!(
        inventory.delete_files.is_empty(),
        "{:?}",
        inventory.delete_files
    );
    let data_rows: u64 = inventory.data_files.iter().map(|f| f.rows()).sum();
    assert_eq!(data_rows, rows.len() as u64, "the deleted rows are gone");
    assert_eq!(live_rows(&after).await, rows);
    let summary = &after
        .current_snapshot()
        .unwrap()
        .summary()
        .additional_properties;
    assert_eq!(summary["removed-delete-files"], "2", "{summary:?}");
    assert_eq!(summary["total-delete-files"], "0");
    assert_eq!(summary["total-position-deletes"], "0");
    assert_eq!(live_records(&after), rows.len() as u64);
}

#[tokio::test]
async fn copy_on_write_over_position_deletes_brings_no_deleted_row_back() {
    let converter = converter_over(http()).await;
    let table = table("switch", MergeMode::MergeOnRead);
    let raw = Raw::new();
    let first: Vec<Row> = (0..50).map(|id| (id, 1, false)).collect();
    convert(&converter, &table, vec![raw.merge("L1", &first).await]).await;
    use_mode(&table, MergeMode::MergeOnRead).await;
    let deletes: Vec<Row> = (0..10).map(|id| (id, 2, true)).collect();
    convert(&converter, &table, vec![raw.merge("L2", &deletes).await]).await;

    // The same data file rewritten by copy-on-write: its deleted rows stay out.
    use_mode(&table, MergeMode::CopyOnWrite).await;
    let updates: Vec<Row> = (20..25).map(|id| (id, 3, false)).collect();
    let outcome = convert(&converter, &table, vec![raw.merge("L3", &updates).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!(
        (stats.files_rewritten, stats.rows_removed),
        (1, 5),
        "{stats:?}"
    );
    let want: Vec<(i64, i64)> = (10..50)
        .map(|id| (id, if (20..25).contains(&id) { 3 } else { 1 }))
        .collect();
    let meta = metadata(&table).await;
    assert_eq!(live_rows(&meta).await, expected(&want));
}

// ---- merge_key: a load restates whole groups (crate::merge::groups) ----

/// One row of a merge file with a merge key: (id, day, version); `day` is the group.
type DayRow = (i64, i64, i64);

fn day_keys() -> MergeKeys {
    MergeKeys {
        primary_key: vec!["id".into()],
        version_column: "version".into(),
        hard_delete_column: None,
        merge_key: vec!["day".into()],
    }
}

fn day_batch(rows: &[DayRow]) -> RecordBatch {
    let names: Vec<String> = rows
        .iter()
        .map(|(id, _, v)| format!("row {id} v{v}"))
        .collect();
    let column = |f: fn(&DayRow) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f)));
    RecordBatch::try_from_iter([
        ("id", column(|r| r.0) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
        ("version", column(|r| r.2) as _),
        ("day", column(|r| r.1) as _),
    ])
    .unwrap()
}

impl Raw {
    /// A merge load restating the groups (days) its rows carry.
    async fn by_day(&self, name: &str, rows: &[DayRow]) -> RawObject {
        let key = format!("{}/{name}.parquet", self.prefix);
        let footer = LoadFooter::of_merge_load(name, "src", "items", day_keys());
        let body = parquet_with_footer(&day_batch(rows), footer.key_values());
        raw_object(self.store.clone(), &key, body).await
    }
}

/// `count` ids of `day` from `day * 100`, at `version`.
fn day_rows(day: i64, count: i64, version: i64) -> Vec<DayRow> {
    (day * 100..day * 100 + count)
        .map(|id| (id, day, version))
        .collect()
}

/// The current snapshot's summary property `name`.
fn summary_of(meta: &TableMetadata, name: &str) -> Option<String> {
    meta.current_snapshot()
        .unwrap()
        .summary()
        .additional_properties
        .get(name)
        .cloned()
}

async fn a_group_reload_removes_rows_gone_upstream_and_keeps_other_groups(mode: MergeMode) {
    let converter = converter_over(http()).await;
    let table = table("group_reload", mode);
    let raw = Raw::new();
    // Days 1, 2, 3 of ten ids each at version 1, but id 209 of day 2: appended at version 7
    // by a file without a merge key (a load of day 2 carrying it would make day 2's version 7,
    // and the reload below stale as a whole).
    let mut first: Vec<DayRow> = (1..=3).flat_map(|d| day_rows(d, 10, 1)).collect();
    first.retain(|r| r.0 != 209);
    let key = format!("{}/plain.parquet", raw.prefix);
    let plain = raw_object(
        raw.store.clone(),
        &key,
        parquet_bytes(&day_batch(&[(209, 2, 7)])),
    );
    convert(&converter, &table, vec![raw.by_day("L1", &first).await]).await;
    convert(&converter, &table, vec![plain.await]).await;
    use_mode(&table, mode).await;

    // Day 2 reloaded at version 2: ids 205..209 are gone upstream, 250 is new.
    let mut reload = day_rows(2, 5, 2);
    reload.push((250, 2, 2));
    let outcome = convert(&converter, &table, vec![raw.by_day("L2", &reload).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!(
        (stats.groups_replaced, stats.groups_stale),
        (1, 0),
        "{stats:?}"
    );
    // 200..205 replaced by key, 205..209 by the group; 209 (version 7) stays.
    assert_eq!((stats.rows_removed, stats.rows_added), (9, 6), "{stats:?}");
    let meta = metadata(&table).await;
    assert_eq!(
        summary_of(&meta, "icepipe.merge.groups-replaced").as_deref(),
        Some("1")
    );
    assert_eq!(
        summary_of(&meta, "icepipe.merge.stale-groups").as_deref(),
        Some("0")
    );
    assert!(meta
        .properties()
        .contains_key("icepipe.merge.group-tombstones"));
    let want: Vec<(i64, i64)> = (100..110)
        .chain(300..310)
        .map(|id| (id, 1))
        .chain((200..205).map(|id| (id, 2)))
        .chain([(209, 7), (250, 2)])
        .collect();
    assert_holds(&meta, &want).await;
}

async fn an_older_load_of_a_group_converted_after_a_newer_one_changes_nothing(mode: MergeMode) {
    let converter = converter_over(http()).await;
    let table = table("group_out_of_order", mode);
    let raw = Raw::new();
    let base: Vec<DayRow> = day_rows(1, 10, 1)
        .into_iter()
        .chain(day_rows(2, 10, 1))
        .collect();
    convert(&converter, &table, vec![raw.by_day("L1", &base).await]).await;
    use_mode(&table, mode).await;
    // Day 1 as of version 5 (three ids left), and a load of version 3 (eight ids of day 1,
    // and day 2 down to three ids) held up and converted after it.
    let newer = raw.by_day("L5", &day_rows(1, 3, 5)).await;
    let older_rows: Vec<DayRow> = day_rows(1, 8, 3)
        .into_iter()
        .chain(day_rows(2, 3, 3))
        .collect();
    let older = raw.by_day("L3", &older_rows).await;
    convert(&converter, &table, vec![newer]).await;
    let outcome = convert(&converter, &table, vec![older.clone()]).await;
    let stats = merged_stats(&outcome);
    // Day 1 is stale as a whole (its eight keys with it); day 2 is replaced.
    assert_eq!(
        (stats.groups_replaced, stats.groups_stale),
        (1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.stale, 8, "{stats:?}");
    assert_eq!((stats.rows_removed, stats.rows_added), (10, 3), "{stats:?}");
    let meta = metadata(&table).await;
    assert_eq!(
        summary_of(&meta, "icepipe.merge.stale-groups").as_deref(),
        Some("1")
    );
    let want: Vec<(i64, i64)> = (100..103)
        .map(|id| (id, 5))
        .chain((200..203).map(|id| (id, 3)))
        .collect();
    assert_eq!(live_rows(&meta).await, expected(&want));

    // The same file again: held by the ledger. The day-1 part replayed later under another
    // name: stale again, no row added or removed.
    let again = convert(&converter, &table, vec![older]).await;
    assert_eq!(again.skipped.len(), 1, "{again:?}");
    let replay = raw.by_day("L3-replay", &day_rows(1, 8, 3)).await;
    let outcome = convert(&converter, &table, vec![replay]).await;
    let stats = merged_stats(&outcome);
    assert_eq!(
        (stats.groups_stale, stats.rows_removed, stats.rows_added),
        (1, 0, 0),
        "{stats:?}"
    );
    let meta = metadata(&table).await;
    assert_holds(&meta, &want).await;
}

async fn a_merge_key_on_a_partition_like_column_touches_only_the_files_of_its_groups(
    mode: MergeMode,
) {
    let converter = converter_over(http()).await;
    let table = table("group_files", mode);
    let raw = Raw::new();
    // Ten days appended in one snapshot: ten data files, each one day (disjoint days and ids).
    let mut days = Vec::new();
    for day in 0..10 {
        let key = format!("{}/day{day:02}.parquet", raw.prefix);
        let body = parquet_bytes(&day_batch(&day_rows(day, 50, 1)));
        days.push(raw_object(raw.store.clone(), &key, body).await);
    }
    convert(&converter, &table, days).await;
    use_mode(&table, mode).await;
    // Day 3 restated with ten of its ids, day 7 with one id no day held: day 7's file is chosen
    // by its day bounds only (no incoming id is in its id range).
    let mut rows = day_rows(3, 10, 2);
    rows.push((9000, 7, 2));
    let outcome = convert(&converter, &table, vec![raw.by_day("L-days", &rows).await]).await;
    let stats = merged_stats(&outcome);
    assert_eq!((stats.files_live, stats.files_read), (10, 2), "{stats:?}");
    assert_eq!(
        (stats.groups_replaced, stats.rows_removed, stats.rows_added),
        (2, 100, 11)
    );
    match mode {
        MergeMode::CopyOnWrite => assert_eq!(stats.files_rewritten, 2, "{stats:?}"),
        MergeMode::MergeOnRead => assert_eq!(stats.delete_files_added, 1, "{stats:?}"),
    }
    let meta = metadata(&table).await;
    assert_eq!(
        summary_of(&meta, "icepipe.merge.files-read").as_deref(),
        Some("2")
    );
    let want: Vec<(i64, i64)> = (0..10)
        .filter(|d| ![3, 7].contains(d))
        .flat_map(|d| (d * 100..d * 100 + 50).map(|id| (id, 1)))
        .chain((300..310).map(|id| (id, 2)))
        .chain([(9000, 2)])
        .collect();
    assert_holds(&meta, &want).await;
}
