//! The ledger over in-memory storage: table states are built as metadata JSON, commits are
//! simulated by adding a snapshot whose summary carries what `record` returned.

use std::collections::BTreeMap;
use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use serde_json::json;

use super::*;
use crate::storage::iceberg_io;
use crate::storage::memory::MemoryResolver;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// A table's history: snapshots (id, parent, summary) and properties.
#[derive(Default)]
struct History {
    snapshots: Vec<(i64, Option<i64>, BTreeMap<String, String>)>,
    current: Option<i64>,
    properties: BTreeMap<String, String>,
}

impl History {
    fn metadata(&self) -> TableMetadata {
        let snapshots: Vec<_> = self
            .snapshots
            .iter()
            .enumerate()
            .map(|(i, (id, parent, summary))| {
                let mut summary: serde_json::Map<String, serde_json::Value> = summary
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                summary.insert("operation".into(), json!("append"));
                let mut snapshot = json!({
                    "snapshot-id": id, "sequence-number": i + 1, "timestamp-ms": 1_700_000_000_000i64 + i as i64,
                    "manifest-list": format!("s3://w/t/metadata/snap-{id}.avro"), "summary": summary, "schema-id": 0
                });
                if let Some(parent) = parent {
                    snapshot["parent-snapshot-id"] = json!(parent);
                }
                snapshot
            })
            .collect();
        let mut meta = json!({
            "format-version": 2, "table-uuid": "9c12d441-03fe-4693-9a96-a0705ddf69c1",
            "location": "s3://w/t", "last-sequence-number": self.snapshots.len(),
            "last-updated-ms": 1_700_000_000_000i64, "last-column-id": 1,
            "schemas": [{"type": "struct", "schema-id": 0, "fields": [{"id": 1, "name": "x", "required": false, "type": "long"}]}],
            "current-schema-id": 0, "partition-specs": [{"spec-id": 0, "fields": []}],
            "default-spec-id": 0, "last-partition-id": 999, "properties": self.properties,
            "snapshots": snapshots, "sort-orders": [{"order-id": 0, "fields": []}], "default-sort-order-id": 0
        });
        if let Some(current) = self.current {
            meta["current-snapshot-id"] = json!(current);
            meta["refs"] = json!({"main": {"snapshot-id": current, "type": "branch"}});
        }
        serde_json::from_value(meta).expect("valid table metadata")
    }

    /// A snapshot on top of the current one.
    fn commit(&mut self, id: i64, summary: BTreeMap<String, String>) {
        self.snapshots.push((id, self.current, summary));
        self.current = Some(id);
    }

    /// What the committer does: record the ledger, then commit with its properties.
    fn commit_objects(&mut self, file_io: &FileIO, id: i64, added: &[RawObjectId]) {
        let meta = self.metadata();
        let ledger = block_on(Ledger::load(file_io, &meta)).unwrap();
        let update = block_on(ledger.record(file_io, &meta, added, id, None)).unwrap();
        let (key, value) = update.table_property();
        self.properties.insert(key, value);
        self.commit(id, update.summary.into_iter().collect());
    }

    /// Expire every snapshot but the current one.
    fn expire_all_but_current(&mut self) {
        let current = self.current;
        self.snapshots.retain(|(id, _, _)| Some(*id) == current);
        self.snapshots[0].1 = None;
    }
}

fn file_io() -> (FileIO, Arc<MemoryResolver>) {
    let resolver = Arc::new(MemoryResolver::new());
    (iceberg_io::file_io(resolver.clone()), resolver)
}

fn object(day: u32, n: usize) -> RawObjectId {
    RawObjectId {
        key: format!("sources/s/r/year=2026/month=03/day={day:02}/load-{n:06}.parquet"),
        etag: format!("etag{n}"),
    }
}

fn held(file_io: &FileIO, meta: &TableMetadata, ids: &[RawObjectId]) -> usize {
    block_on(table_holdings(file_io, meta, ids)).unwrap().len()
}

#[test]
fn every_object_ever_committed_stays_held_and_days_are_merged() {
    let (file_io, _) = file_io();
    let mut history = History::default();
    let mut all = Vec::new();
    for commit in 0..30i64 {
        let batch: Vec<RawObjectId> = (0..5)
            .map(|i| object(1 + (commit as u32 % 3), commit as usize * 10 + i))
            .collect();
        history.commit_objects(&file_io, 100 + commit, &batch);
        all.extend(batch);
        let meta = history.metadata();
        assert_eq!(
            held(&file_io, &meta, &all),
            all.len(),
            "after commit {commit}"
        );
    }
    let meta = history.metadata();
    let ledger = block_on(Ledger::load(&file_io, &meta)).unwrap();
    assert_eq!(ledger.index().objects, 150);
    for entry in ledger.index().days.values() {
        assert!(entry.deltas.len() <= MAX_DELTAS_PER_DAY, "{entry:?}");
        assert!(entry.base_objects > 0, "merged at least once: {entry:?}");
    }
    // Not held: a new eTag for a held key, a key of another day, a key of a held day.
    let strangers = [
        RawObjectId {
            etag: "other".into(),
            ..all[0].clone()
        },
        object(9, 1),
        object(1, 999_999),
    ];
    assert_eq!(held(&file_io, &meta, &strangers), 0);
}

#[test]
fn expiry_of_every_pointing_snapshot_keeps_the_ledger_through_the_table_property() {
    let (file_io, _) = file_io();
    let mut history = History::default();
    let first: Vec<RawObjectId> = (0..3).map(|i| object(1, i)).collect();
    history.commit_objects(&file_io, 1, &first);
    // Another writer's snapshots (a compaction, an append), then everything else expired.
    history.commit(2, BTreeMap::new());
    history.commit(3, BTreeMap::new());
    history.expire_all_but_current();
    let meta = history.metadata();
    assert_eq!(meta.snapshots().count(), 1);
    assert_eq!(held(&file_io, &meta, &first), 3);
}

#[test]
fn a_rollback_rolls_the_ledger_back() {
    let (file_io, _) = file_io();
    let mut history = History::default();
    history.commit_objects(&file_io, 1, &[object(1, 1)]);
    history.commit_objects(&file_io, 2, &[object(1, 2)]);
    history.current = Some(1);
    let meta = history.metadata();
    assert_eq!(held(&file_io, &meta, &[object(1, 1)]), 1);
    assert_eq!(
        held(&file_io, &meta, &[object(1, 2)]),
        0,
        "rolled back: to be loaded again"
    );
}

#[test]
fn first_format_summaries_migrate_into_the_ledger() {
    let (file_io, _) = file_io();
    let mut history = History::default();
    let old: Vec<RawObjectId> = (0..4).map(|i| object(2, i)).collect();
    for (i, chunk) in old.chunks(2).enumerate() {
        let summary = [(
            RAW_OBJECTS_PROPERTY.to_string(),
            serde_json::to_string(chunk).unwrap(),
        )];
        history.commit(10 + i as i64, summary.into_iter().collect());
    }
    assert_eq!(held(&file_io, &history.metadata(), &old), 4);
    history.commit_objects(&file_io, 20, &[object(2, 100)]);
    // The old snapshots expire: the ledger remembers what they named.
    history.expire_all_but_current();
    let meta = history.metadata();
    assert_eq!(held(&file_io, &meta, &old), 4);
    let added = block_on(Ledger::added_by(&file_io, &meta, 20)).unwrap();
    assert_eq!(
        added,
        vec![object(2, 100)],
        "the migration is not this commit's"
    );
}

#[test]
fn a_big_day_is_split_into_shards() {
    let (file_io, _) = file_io();
    let mut history = History::default();
    let per_commit = 5_000;
    let mut all = Vec::new();
    for commit in 0..10 {
        let batch: Vec<RawObjectId> = (0..per_commit)
            .map(|i| object(5, commit * per_commit + i))
            .collect();
        history.commit_objects(&file_io, 1 + commit as i64, &batch);
        all.extend(batch);
    }
    let meta = history.metadata();
    let ledger = block_on(Ledger::load(&file_io, &meta)).unwrap();
    let day = &ledger.index().days["2026-03-05"];
    assert!(
        day.shards >= 2,
        "{} objects in {} shards",
        day.base_objects,
        day.shards
    );
    let sample: Vec<RawObjectId> = all.iter().step_by(97).cloned().collect();
    assert_eq!(held(&file_io, &meta, &sample), sample.len());
    assert_eq!(ledger.index().objects, all.len() as u64);
}

#[test]
fn a_missing_segment_refuses_rather_than_forgets() {
    let (file_io, resolver) = file_io();
    let mut history = History::default();
    history.commit_objects(&file_io, 1, &[object(1, 1)]);
    let meta = history.metadata();
    let store = resolver.bucket("w");
    for key in store.keys() {
        if key.contains("delta") {
            block_on(crate::storage::ObjectStore::delete(store.as_ref(), &key)).unwrap();
        }
    }
    let err = block_on(table_holdings(&file_io, &meta, &[object(1, 1)])).unwrap_err();
    assert!(matches!(err, LedgerError::Missing { .. }), "{err}");
    assert!(!err.is_transient());
}

#[test]
fn referenced_files_cover_every_live_index() {
    let (file_io, resolver) = file_io();
    let mut history = History::default();
    for i in 0..12 {
        history.commit_objects(&file_io, 1 + i, &[object(1, i as usize)]);
    }
    let meta = history.metadata();
    let referenced = block_on(referenced_files(&file_io, &meta)).unwrap();
    let written: Vec<String> = resolver
        .bucket("w")
        .keys()
        .into_iter()
        .map(|k| format!("s3://w/{k}"))
        .collect();
    assert!(written.iter().all(|f| is_ledger_file(f)));
    // Every index is still named by a snapshot, and every file some index names is kept.
    for index in written.iter().filter(|f| f.contains("-index-")) {
        assert!(referenced.contains(index), "{index}");
    }
    history.expire_all_but_current();
    let meta = history.metadata();
    let after = block_on(referenced_files(&file_io, &meta)).unwrap();
    assert!(after.len() < referenced.len());
    // What the current index needs is still referenced.
    assert_eq!(held(&file_io, &meta, &[object(1, 0), object(1, 11)]), 2);
}

#[test]
#[ignore]
fn size_at_a_million_objects() {
    let (file_io, resolver) = file_io();
    let mut history = History::default();
    let per_commit = 10_000;
    for commit in 0..100usize {
        // 30 days, a month of raw layout dates.
        let batch: Vec<RawObjectId> = (0..per_commit)
            .map(|i| {
                let n = commit * per_commit + i;
                RawObjectId {
                    key: format!(
                        "sources/shop/orders/year=2026/month=03/day={:02}/20260301T120000123Z-{:08x}-{:05}.parquet",
                        1 + (n % 30),
                        n / 7,
                        n % 1000
                    ),
                    etag: format!("{:032x}", n as u128 * 7919),
                }
            })
            .collect();
        history.commit_objects(&file_io, 1 + commit as i64, &batch);
    }
    let meta = history.metadata();
    let ledger = block_on(Ledger::load(&file_io, &meta)).unwrap();
    let stats = ledger.stats();
    let store = resolver.bucket("w");
    let keys = store.keys();
    let total: u64 = keys
        .iter()
        .map(|k| {
            block_on(crate::storage::ObjectStore::head(store.as_ref(), k))
                .unwrap()
                .size
        })
        .sum();
    let ids: Vec<RawObjectId> = vec![RawObjectId {
        key: "sources/shop/orders/year=2026/month=03/day=05/x.parquet".into(),
        etag: "e".into(),
    }];
    let started = std::time::Instant::now();
    block_on(ledger.holdings(&file_io, &ids)).unwrap();
    println!(
        "{stats:?}\nall files ever written: {} files, {total} bytes; one holdings question: {:?}",
        keys.len(),
        started.elapsed()
    );
}
