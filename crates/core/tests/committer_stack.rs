//! The table committer against the real SeaweedFS catalog: rounds run one at a time by the test,
//! with faults around the commit request and "restarts" (a new committer over the same, or an
//! emptied, store), as a Durable Object would live through them.
#![cfg(feature = "native")]

mod support;

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use async_trait::async_trait;
use iceberg::io::FileIO;
use iceberg::spec::Schema;
use iceberg::TableIdent;
use icepipe_core::catalog::{CreateTable, RestCatalog};

use icepipe_core::committer::budget::BudgetLimits;
use icepipe_core::committer::gate::LocalGate;
use icepipe_core::committer::store::MemoryCommitterStore;
use icepipe_core::committer::table::{
    CommitContext, CommitterSettings, RoundOutcome, RoundReport, TableCommitter,
};
use icepipe_core::committer::{
    Committer, CommitterError, HandoffObject, ObjectReport, ObjectState, Submitted,
};
use icepipe_core::convert::{
    ConvertOptions, Converter, HandedOn, OnInvalid, Requeue, RequeueError,
};
use icepipe_core::raw::key::TableName;
use icepipe_core::raw::object::{RawObject, RawObjectId};
use icepipe_core::storage::s3::S3Resolver;
use icepipe_core::storage::{iceberg_io, ObjectStore, StoreResolver};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use support::*;

const ROWS: i64 = 300;

type Store = Arc<MemoryCommitterStore>;

fn batch(ids: Range<i64>) -> RecordBatch {
    let names: Vec<String> = ids.clone().map(|i| format!("row {i}")).collect();
    RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from_iter_values(ids)) as _),
        ("name", Arc::new(StringArray::from(names)) as _),
    ])
    .unwrap()
}

fn raw_store() -> Arc<dyn ObjectStore> {
    S3Resolver::new(s3_config(), http(), clock())
        .store_for_bucket(&env("ICEPIPE_RAW_BUCKET"))
        .unwrap()
}

fn file_io() -> FileIO {
    let resolver = Arc::new(S3Resolver::new(s3_config(), http(), clock()));
    iceberg_io::file_io(resolver as Arc<dyn StoreResolver>)
}

/// Raw objects of [`ROWS`] rows each with distinct ids, `row_groups` row groups per file.
async fn objects(test: &str, count: i64, row_groups: usize) -> Vec<RawObject> {
    let store = raw_store();
    let prefix = unique(test);
    let mut out = Vec::new();
    for i in 0..count {
        let rows = batch(i * ROWS..(i + 1) * ROWS);
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(ROWS as usize / row_groups))
            .build();
        let mut buf = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut buf, rows.schema(), Some(props)).unwrap();
        writer.write(&rows).unwrap();
        writer.close().unwrap();
        let key = format!("tests/{prefix}/{i}.parquet");
        out.push(raw_object(store.clone(), &key, buf.into()).await);
    }
    out
}

/// Hands slices to the committer over `store` and commits nothing: the test runs the rounds.
#[derive(Debug)]
struct HandOverOnly {
    rig: Arc<Rig>,
}

#[async_trait]
impl Committer for HandOverOnly {
    async fn lookup(
        &self,
        _: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Vec<ObjectReport>, CommitterError> {
        self.rig.committer().lookup(ids, clock().now_ms())
    }

    async fn create_table(
        &self,
        _: &TableIdent,
        create: CreateTable,
    ) -> Result<(), CommitterError> {
        let catalog = self.rig.healthy.clone();
        self.rig
            .committer()
            .create_table(self.rig.context(&catalog), create)
            .await
    }

    async fn evolve_schema(&self, _: &TableIdent, schema: &Schema) -> Result<(), CommitterError> {
        let catalog = self.rig.healthy.clone();
        self.rig
            .committer()
            .evolve_schema(self.rig.context(&catalog), schema)
            .await
            .map(|_| ())
    }

    async fn submit(
        &self,
        _: &TableIdent,
        slices: Vec<HandoffObject>,
        _: &[RawObjectId],
    ) -> Result<Submitted, CommitterError> {
        Ok(Submitted {
            objects: self.rig.committer().accept(&slices, clock().now_ms())?,
            snapshots: vec![],
            attempts: 0,
        })
    }

    async fn merge(
        &self,
        _: &TableIdent,
        object: &icepipe_core::raw::object::RawObject,
        keys: &icepipe_core::raw::footer::MergeKeys,
    ) -> Result<icepipe_core::committer::MergeOutcome, CommitterError> {
        let catalog = self.rig.healthy.clone();
        icepipe_core::merge::apply(
            &self.rig.committer(),
            self.rig.context(&catalog),
            object,
            keys,
        )
        .await
    }

    async fn fail(
        &self,
        _: &TableIdent,
        id: &RawObjectId,
        reason: &str,
    ) -> Result<(), CommitterError> {
        self.rig.committer().fail(id, reason, clock().now_ms())
    }
}

/// One table, its committer's store (kept across "restarts"), and a healthy catalog.
#[derive(Debug)]
struct Rig {
    table: TableName,
    store: std::sync::Mutex<Store>,
    healthy: Arc<RestCatalog>,
    gate: LocalGate,
    settings: CommitterSettings,
    file_io: FileIO,
}

impl Rig {
    async fn new(test: &str, interval_ms: i64) -> Arc<Rig> {
        Arc::new(Rig {
            table: suite_table("committer", test),
            store: std::sync::Mutex::new(Arc::new(MemoryCommitterStore::new())),
            healthy: catalog_over(http()).await,
            gate: LocalGate::new(BudgetLimits::default(), clock()),
            settings: CommitterSettings {
                interval_ms,
                ..CommitterSettings::default()
            },
            file_io: file_io(),
        })
    }

    /// The committer as a freshly started process (or Durable Object) would have it.
    fn committer(&self) -> TableCommitter<Store> {
        let store = self.store.lock().unwrap().clone();
        TableCommitter::new(self.table.to_ident(), store, self.settings.clone())
    }

    /// The coordinator lost its storage.
    fn empty_the_store(&self) {
        *self.store.lock().unwrap() = Arc::new(MemoryCommitterStore::new());
    }

    fn context<'a>(&'a self, catalog: &'a RestCatalog) -> CommitContext<'a> {
        CommitContext {
            catalog,
            file_io: &self.file_io,
            clock: &support::SYSTEM_CLOCK,
            gate: &self.gate,
        }
    }

    /// Converts `objects` and hands them over (as a consumer would), without committing.
    async fn hand_over(self: &Arc<Self>, objects: Vec<RawObject>) -> Vec<ObjectReport> {
        let outcome = self
            .converter(None)
            .convert(&self.table, objects)
            .await
            .unwrap();
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        let ids: Vec<RawObjectId> = outcome.pending.iter().map(|p| p.id()).collect();
        self.committer().lookup(&ids, clock().now_ms()).unwrap()
    }

    fn converter(self: &Arc<Self>, budget: Option<(u64, Arc<Collect>)>) -> Converter {
        let converter = Converter::with_committer(
            self.healthy.clone(),
            self.file_io.clone(),
            clock(),
            Arc::new(HandOverOnly { rig: self.clone() }),
            ConvertOptions {
                on_invalid: OnInvalid::Skip,
                budget_bytes: budget.as_ref().map(|(bytes, _)| *bytes),
            },
        );
        match budget {
            Some((_, requeue)) => converter.with_requeue(requeue),
            None => converter,
        }
    }

    async fn round(&self) -> RoundReport {
        self.round_over(&self.healthy.clone()).await
    }

    async fn round_over(&self, catalog: &RestCatalog) -> RoundReport {
        self.committer().run_round(self.context(catalog)).await
    }

    /// Runs rounds (waiting as they ask) until nothing is ready.
    async fn settle(&self) -> Vec<RoundReport> {
        let mut rounds = Vec::new();
        for _ in 0..20 {
            let report = self.round().await;
            let next = report.next_round_ms;
            rounds.push(report);
            match next {
                None => return rounds,
                Some(at) => {
                    let wait = (at - clock().now_ms()).max(0) as u64;
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        panic!("the committer never settled: {rounds:?}");
    }

    async fn rows(&self) -> u64 {
        let meta = metadata(&self.table).await;
        meta.current_snapshot().map_or(0, |s| {
            s.summary().additional_properties["total-records"]
                .parse()
                .unwrap()
        })
    }
}

/// A requeue that keeps what it is given (the "queue" of continuation messages).
#[derive(Debug, Default)]
struct Collect(std::sync::Mutex<Vec<HandedOn>>);

#[async_trait]
impl Requeue for Collect {
    async fn send(&self, work: &[HandedOn]) -> Result<(), RequeueError> {
        self.0.lock().unwrap().extend(work.iter().cloned());
        Ok(())
    }
}

fn states(reports: &[ObjectReport]) -> Vec<&ObjectState> {
    reports.iter().map(|r| &r.state).collect()
}

fn is_pending(state: &ObjectState) -> bool {
    matches!(state, ObjectState::Pending { .. })
}

#[tokio::test]
async fn an_attempt_whose_answer_was_lost_is_found_applied_after_a_restart() {
    let rig = Rig::new("lost_answer", 200).await;
    let handed = rig.hand_over(objects("lost_answer", 2, 1).await).await;
    assert!(handed.iter().all(|r| is_pending(&r.state)), "{handed:?}");

    // The commit applies, but its answer never comes back (the process dies with it).
    let faulty = FaultyHttp::new(Fault::ApplyThenTimeout);
    let lost = rig.round_over(&*catalog_over(Arc::new(faulty)).await).await;
    assert_eq!(lost.outcome, RoundOutcome::OutcomeUnknown, "{lost:?}");

    // A new committer over the same store finds its snapshot in the table: committed, once.
    let rounds = rig.settle().await;
    assert_eq!(
        rounds[0].outcome,
        RoundOutcome::AppliedEarlier,
        "{rounds:?}"
    );
    assert!(
        !rounds.iter().any(|r| r.sent),
        "nothing sent again: {rounds:?}"
    );
    let ids: Vec<RawObjectId> = handed.iter().map(|r| r.id.clone()).collect();
    let after = rig.committer().lookup(&ids, clock().now_ms()).unwrap();
    assert!(
        after
            .iter()
            .all(|r| matches!(r.state, ObjectState::Committed { .. })),
        "{after:?}"
    );
    assert_eq!(metadata(&rig.table).await.snapshots().count(), 1);
    assert_eq!(rig.rows().await, 2 * ROWS as u64);
}

#[tokio::test]
async fn an_emptied_store_loses_nothing_and_duplicates_nothing() {
    let rig = Rig::new("emptied", 200).await;
    let objects = objects("emptied", 2, 1).await;
    rig.hand_over(objects.clone()).await;
    let faulty = FaultyHttp::new(Fault::ApplyThenTimeout);
    rig.round_over(&*catalog_over(Arc::new(faulty)).await).await;

    // The coordinator's storage is gone; the consumers' messages come back and hand over again.
    rig.empty_the_store();
    let again = rig.hand_over(objects.clone()).await;
    assert!(
        again.is_empty(),
        "the converter's ledger check already skips them: {again:?}"
    );
    rig.settle().await;
    assert_eq!(rig.rows().await, 2 * ROWS as u64);
    assert_eq!(metadata(&rig.table).await.snapshots().count(), 1);
}

#[tokio::test]
async fn commits_are_paced_and_carry_everything_handed_over_meanwhile() {
    let rig = Rig::new("paced", 2_000).await;
    let all = objects("paced", 3, 1).await;
    rig.hand_over(all[..1].to_vec()).await;
    let first = rig.round().await;
    assert_eq!(first.outcome, RoundOutcome::Committed, "{first:?}");

    rig.hand_over(all[1..].to_vec()).await;
    let early = rig.round().await;
    assert_eq!(early.outcome, RoundOutcome::Waiting, "{early:?}");
    let wait = early.next_round_ms.unwrap() - clock().now_ms();
    assert!(
        wait > 1_000,
        "the next attempt waits for the pace: {wait} ms"
    );

    let rounds = rig.settle().await;
    let committed: Vec<&RoundReport> = rounds
        .iter()
        .filter(|r| r.outcome == RoundOutcome::Committed)
        .collect();
    assert_eq!(committed.len(), 1, "{rounds:?}");
    assert_eq!(committed[0].objects, 2, "one snapshot for both");
    let meta = metadata(&rig.table).await;
    let times: Vec<i64> = meta.snapshots().map(|s| s.timestamp_ms()).collect();
    assert_eq!(times.len(), 2);
    assert!(
        (times[1] - times[0]).abs() >= 2_000,
        "commits {} ms apart, pace 2000 ms",
        (times[1] - times[0]).abs()
    );
    assert_eq!(rig.rows().await, 3 * ROWS as u64);
}

#[tokio::test]
async fn a_429_is_waited_out_for_its_retry_after_then_the_commit_lands() {
    let rig = Rig::new("rate_limited", 200).await;
    rig.hand_over(objects("rate_limited", 1, 1).await).await;
    let faulty = FaultyHttp::new(Fault::RateLimited {
        retry_after_seconds: 2,
    });
    let limited = rig.round_over(&*catalog_over(Arc::new(faulty)).await).await;
    assert_eq!(limited.outcome, RoundOutcome::RateLimited, "{limited:?}");
    let wait = limited.next_round_ms.unwrap() - clock().now_ms();
    assert!(
        wait >= 1_500,
        "waits out Retry-After: next round in {wait} ms"
    );
    let early = rig.round().await;
    assert_eq!(early.outcome, RoundOutcome::Waiting, "{early:?}");
    let rounds = rig.settle().await;
    assert!(
        rounds.iter().any(|r| r.outcome == RoundOutcome::Committed),
        "{rounds:?}"
    );
    assert_eq!(rig.rows().await, ROWS as u64);
}

#[tokio::test]
async fn a_concurrent_update_error_is_a_lost_race_retried_on_the_new_parent() {
    let rig = Rig::new("concurrent_update", 200).await;
    rig.hand_over(objects("concurrent_update", 1, 1).await)
        .await;
    let faulty = FaultyHttp::new(Fault::ConcurrentUpdate);
    let lost = rig.round_over(&*catalog_over(Arc::new(faulty)).await).await;
    assert_eq!(lost.outcome, RoundOutcome::LostRace, "{lost:?}");
    assert!(lost.sent);
    rig.settle().await;
    assert_eq!(rig.rows().await, ROWS as u64);
}

#[tokio::test]
async fn a_writer_outside_icepipe_committing_first_costs_one_round() {
    let rig = Rig::new("outsider", 200).await;
    let ours = objects("outsider", 1, 1).await;
    let theirs = objects("outsider_theirs", 1, 1).await;
    rig.hand_over(ours).await;
    // Another process converts and commits to the same table between our load and our commit.
    let table = rig.table.clone();
    let faulty = FaultyHttp::new(Fault::RunFirst(Box::pin(async move {
        let other = converter_over(http()).await;
        other.convert(&table, theirs).await.unwrap();
    })));
    let lost = rig.round_over(&*catalog_over(Arc::new(faulty)).await).await;
    assert_eq!(lost.outcome, RoundOutcome::LostRace, "{lost:?}");
    rig.settle().await;
    assert_eq!(rig.rows().await, 2 * ROWS as u64);
    assert_eq!(metadata(&rig.table).await.snapshots().count(), 2);
}

#[tokio::test]
async fn a_sliced_object_commits_once_every_slice_is_in_and_in_one_snapshot() {
    let rig = Rig::new("sliced", 200).await;
    let object = objects("sliced", 1, 4).await.remove(0);
    let queue = Arc::new(Collect::default());
    // A budget of about one row group: four slices.
    let row_group = object.size / 5;
    let first = rig
        .converter(Some((row_group, queue.clone())))
        .convert(&rig.table, vec![object.clone()])
        .await
        .unwrap();
    let continuations = queue.0.lock().unwrap().clone();
    assert_eq!(continuations.len(), 3, "{continuations:?}");
    assert!(continuations
        .iter()
        .all(|c| c.slice.as_ref().unwrap().count == 4));
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert!(matches!(
        first.pending[0],
        icepipe_core::commit::outcome::PendingObjectOutcome {
            slices_done: 1,
            slices: 4,
            ..
        }
    ));
    assert_eq!(
        rig.settle().await[0].outcome,
        RoundOutcome::Idle,
        "nothing to commit yet"
    );

    // The continuations, one invocation each (the last twice: a redelivery).
    let mut work: Vec<HandedOn> = continuations.clone();
    work.push(continuations[2].clone());
    for (i, item) in work.into_iter().enumerate() {
        let mut slice_object = object.clone();
        slice_object.slice = item.slice.clone();
        let queue = Arc::new(Collect::default());
        let outcome = rig
            .converter(Some((row_group, queue.clone())))
            .convert(&rig.table, vec![slice_object])
            .await
            .unwrap();
        assert!(
            queue.0.lock().unwrap().is_empty(),
            "a slice is not sliced again"
        );
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        if i < 2 {
            assert_eq!(rig.settle().await[0].outcome, RoundOutcome::Idle);
            assert!(metadata_exists_without_rows(&rig).await);
        }
    }
    let rounds = rig.settle().await;
    let committed: Vec<&RoundReport> = rounds
        .iter()
        .filter(|r| r.outcome == RoundOutcome::Committed)
        .collect();
    assert_eq!(committed.len(), 1, "{rounds:?}");
    assert_eq!(committed[0].rows, ROWS as u64);
    assert_eq!(rig.rows().await, ROWS as u64, "every row once");
    let files = committed[0].data_files;
    assert!(files >= 4, "one file per slice at least: {files}");
}

/// The table exists (created for the first slice) and holds no rows yet.
async fn metadata_exists_without_rows(rig: &Rig) -> bool {
    let meta = metadata(&rig.table).await;
    meta.current_snapshot().is_none()
}

#[tokio::test]
async fn a_slice_failing_for_good_fails_the_object_and_commits_none_of_it() {
    let rig = Rig::new("slice_fails", 200).await;
    let object = objects("slice_fails", 1, 3).await.remove(0);
    let queue = Arc::new(Collect::default());
    let budget = object.size / 4;
    rig.converter(Some((budget, queue.clone())))
        .convert(&rig.table, vec![object.clone()])
        .await
        .unwrap();
    let id = object.id();
    rig.committer()
        .fail(
            &id,
            "slice 2: rows do not fit the table schema",
            clock().now_ms(),
        )
        .unwrap();
    // A later slice arrives: its object is already failed, nothing is kept.
    let mut later = object.clone();
    later.slice = queue.0.lock().unwrap()[0].slice.clone();
    let outcome = rig
        .converter(Some((budget, Arc::new(Collect::default()))))
        .convert(&rig.table, vec![later])
        .await
        .unwrap();
    assert_eq!(outcome.failed.len(), 1, "{outcome:?}");
    assert!(outcome.failed[0].reason.contains("slice 2"));
    rig.settle().await;
    assert_eq!(rig.rows().await, 0);
    assert!(
        states(&rig.committer().lookup(&[id], clock().now_ms()).unwrap())
            .iter()
            .all(|s| matches!(s, ObjectState::Failed { .. }))
    );
}

#[tokio::test]
async fn a_small_object_within_the_budget_is_converted_whole() {
    let rig = Rig::new("within_budget", 200).await;
    let queue = Arc::new(Collect::default());
    let outcome = rig
        .converter(Some((1 << 30, queue.clone())))
        .convert(&rig.table, objects("within_budget", 2, 1).await)
        .await
        .unwrap();
    assert!(
        queue.0.lock().unwrap().is_empty(),
        "{:?}",
        queue.0.lock().unwrap()
    );
    assert!(outcome.handed_on.is_empty());
    assert_eq!(outcome.pending.len(), 2);
}
