//! Maintenance next to writers, against the real catalog: an append that lands while a
//! compaction or a snapshot expiry is about to commit. Both land; nothing is lost or doubled;
//! the compaction that lost the race is recomputed on the new parent, not sent again.
#![cfg(feature = "native")]

mod support;

use std::sync::Arc;

use futures::FutureExt;
use icepipe_core::committer::local::LocalCommitter;
use icepipe_core::maintain::inventory::Inventory;
use icepipe_core::maintain::StepKind;
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::RawObject;
use icepipe_core::storage::s3::S3Resolver;
use icepipe_core::storage::StoreResolver;
use support::*;

const ROWS: i64 = 300;

fn stores() -> Arc<dyn StoreResolver> {
    Arc::new(S3Resolver::new(s3_config(), http(), clock()))
}

/// A maintainer whose first commit request lets `object` be converted (and committed) first.
async fn maintainer_racing(table: &TableName, object: RawObject) -> LocalCommitter {
    let table = table.clone();
    let race = async move {
        let converter = converter_over(http()).await;
        let outcome = converter.convert(&table, vec![object]).await.unwrap();
        assert!(outcome.snapshot_id.is_some(), "the racing append landed");
    };
    let faulty = FaultyHttp::new(Fault::RunFirst(race.boxed()));
    LocalCommitter::new(
        catalog_over(Arc::new(faulty)).await,
        table_file_io(),
        clock(),
        local_settings(),
    )
}

#[tokio::test]
async fn appends_racing_a_compaction_and_an_expiry_both_land_once() {
    let table = suite_table("maintain", "race");
    let objects = id_objects("race", 7, ROWS).await;
    let converter = converter_over(http()).await;
    for object in &objects[..5] {
        converter
            .convert(&table, vec![object.clone()])
            .await
            .unwrap();
    }

    // A compaction of the five small files; a sixth file is appended just before it commits.
    let maintainer = maintainer_racing(&table, objects[5].clone()).await;
    let reports = maintainer
        .maintain(&table.to_ident(), stores(), false, 1)
        .await
        .unwrap();
    let compaction = &reports[0];
    assert_eq!(compaction.step, StepKind::Compact, "{reports:?}");
    assert_eq!(
        compaction.commit_attempts, 2,
        "lost the race once, then recomputed"
    );
    assert_eq!(
        compaction.files_rewritten, 6,
        "the racing file is compacted too"
    );
    let meta = metadata(&table).await;
    assert_eq!(total_records(&meta), 6 * ROWS as u64);
    let live = Inventory::of_current(&table_file_io(), &meta)
        .await
        .unwrap();
    assert_eq!(live.data_files.len(), 1);
    assert_eq!(
        live.data_files.iter().map(|f| f.rows()).sum::<u64>(),
        6 * ROWS as u64
    );

    // An expiry keeping only the current snapshot; a seventh file is appended just before it.
    set_properties(
        &table,
        &[
            ("history.expire.min-snapshots-to-keep", "1"),
            ("history.expire.max-snapshot-age-ms", "0"),
        ],
    )
    .await;
    let maintainer = maintainer_racing(&table, objects[6].clone()).await;
    let reports = maintainer
        .maintain(&table.to_ident(), stores(), false, 1)
        .await
        .unwrap();
    assert_eq!(reports[0].step, StepKind::ExpireSnapshots, "{reports:?}");
    assert_eq!(reports[0].commit_attempts, 2);
    let meta = metadata(&table).await;
    assert_eq!(
        meta.snapshots().count(),
        1,
        "only the racing append is left"
    );
    assert_eq!(total_records(&meta), 7 * ROWS as u64);
    let live = Inventory::of_current(&table_file_io(), &meta)
        .await
        .unwrap();
    assert_eq!(
        live.data_files.iter().map(|f| f.rows()).sum::<u64>(),
        7 * ROWS as u64
    );
    for file in &live.data_files {
        let exists = table_file_io().exists(file.path()).await.unwrap();
        assert!(exists, "a live file was deleted: {}", file.path());
    }

    // Every object delivered again: all held, nothing committed.
    let ids: Vec<_> = objects.iter().map(RawObject::id).collect();
    assert_eq!(holdings(&meta, &ids).await.len(), 7);
    let again = converter.convert(&table, objects).await.unwrap();
    assert_eq!(again.snapshot_id, None);
    assert_eq!(again.rows, 0);
    assert_eq!(metadata(&table).await.snapshots().count(), 1);
}
