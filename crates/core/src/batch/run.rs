//! Runs one batch: HEAD the raw objects, convert each table, decide, write error records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use futures::{StreamExt, TryFutureExt};
use serde::Serialize;

use super::{key_statuses, AckReason, Backoff, BatchPlan, Decision, Incoming, KeyStatus};
use crate::catalog::OpCounts;
use crate::clock::Clock;
use crate::commit::ledger::RawObjectId;
use crate::convert::{
    ConvertError, Converter, FailureKind, PendingObjectOutcome, RawObject, TableOutcome,
};
use crate::error_record::ErrorRecord;
use crate::layout::TableName;
use crate::notification::ConvertTarget;
use crate::storage::{ObjectStore, StorageError};

/// Concurrent HEAD requests on the raw bucket (Workers allow 6 open connections).
const HEAD_CONCURRENCY: usize = 6;

/// What the Worker does with one message once the batch is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Ack,
    Retry { delay_seconds: u32 },
}

/// Things worth a log line of their own (one JSON object each, tagged `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Note {
    /// The body is not an R2 event notification (acknowledged).
    Malformed { message_id: String, reason: String },
    /// A delete notification (acknowledged; the table keeps its rows).
    Deleted { key: String, action: String },
    /// Not ours (acknowledged).
    Skipped { key: String, reason: String },
    /// A key under `sources/` off the layout (error record, acknowledged).
    Rejected { key: String, reason: String },
    /// The object was deleted before it could be converted (acknowledged).
    Gone { key: String },
    /// The object was overwritten since the notification: its current content is converted.
    Replaced {
        key: String,
        notified_etag: String,
        current_etag: String,
    },
    /// The object belongs to a replace load a newer load superseded (acknowledged, not committed).
    Superseded {
        key: String,
        etag: String,
        load_id: String,
        by_load_id: String,
        reason: String,
    },
}

/// One table's part of the batch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableReport {
    pub table: String,
    pub snapshot_id: Option<i64>,
    /// Objects committed by this batch.
    pub objects: usize,
    /// Objects the table already held.
    pub skipped: usize,
    /// Objects of a superseded replace load (acknowledged, never committed).
    pub superseded: usize,
    pub failed: usize,
    /// The replace load the snapshot applied (an overwrite), and what it removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_load_id: Option<String>,
    pub removed_files: usize,
    pub removed_rows: u64,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub created: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_changes: Vec<String>,
    pub commit_attempts: u32,
    /// Catalog operations this batch's conversion of the table made (reads and, for new tables,
    /// creates); its commits are the coordinator's (`commit_attempts`).
    pub catalog_ops: OpCounts,
    /// Slices and objects sent on to other invocations.
    pub handed_on: usize,
    /// Objects handed to the coordinator and not committed yet (their messages come back).
    pub pending: usize,
    /// Why the whole table failed (its messages are retried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A failure worth reporting: one object, or a whole table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub kind: FailureKind,
    pub reason: String,
    /// The error record written for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// Milliseconds per step (by the runtime's clock; a Worker's clock moves only across I/O).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchTimings {
    pub connect: i64,
    pub head: i64,
    pub load: i64,
    pub probe: i64,
    pub write: i64,
    pub commit: i64,
    /// Waiting for the coordinators to commit what the batch handed over.
    pub commit_wait: i64,
    pub records: i64,
    pub total: i64,
}

/// What one batch did: the batch log line, plus what to do with each message.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchReport {
    pub messages: usize,
    pub tables: Vec<TableReport>,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub timings_ms: BatchTimings,
    pub commit_attempts: u32,
    pub catalog_ops: OpCounts,
    pub acked: usize,
    pub retried: usize,
    pub errors: Vec<BatchError>,
    /// Per message, in the order received.
    #[serde(skip)]
    pub dispositions: Vec<Disposition>,
    /// Per message, in the order received: the reason of the disposition.
    #[serde(skip)]
    pub reasons: Vec<String>,
    #[serde(skip)]
    pub notes: Vec<Note>,
}

/// How a batch is run.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// First namespace level(s) of the tables (`analytics`).
    pub namespace_root: String,
    pub backoff: Backoff,
}

/// Runs one batch end to end. Never fails: every failure ends up in a message's disposition.
///
/// `connect` is called once, and only when some message needs converting (a batch of deletes
/// never touches the catalog). Error records are written into `raw` before their messages are
/// acknowledged; a record that cannot be written turns its messages into retries.
pub async fn run_batch<C, Fut>(
    incoming: Vec<Incoming>,
    raw: Arc<dyn ObjectStore>,
    clock: &dyn Clock,
    settings: &BatchSettings,
    connect: C,
) -> BatchReport
where
    C: FnOnce() -> Fut,
    Fut: Future<Output = Result<Converter, ConvertError>>,
{
    let started = clock.now_ms();
    let plan = BatchPlan::new(&incoming, &settings.namespace_root, started);
    let mut report = BatchReport {
        messages: incoming.len(),
        notes: plan.notes().cloned().collect(),
        ..Default::default()
    };
    let tables = plan.tables();
    let mut statuses: HashMap<String, KeyStatus> = HashMap::new();
    let mut handed_on: HashSet<(String, Option<u32>)> = HashSet::new();

    if !tables.is_empty() {
        let t = clock.now_ms();
        let connected = connect().await;
        report.timings_ms.connect = clock.now_ms() - t;
        match connected {
            Err(e) => {
                let reason = format!("cannot connect to the catalog: {e}");
                for (table, targets) in &tables {
                    report
                        .errors
                        .push(table_error(&table.to_string(), &e, &reason));
                    report.tables.push(TableReport {
                        table: table.to_string(),
                        error: Some(reason.clone()),
                        ..Default::default()
                    });
                    for target in targets {
                        statuses.insert(
                            target.key.clone(),
                            KeyStatus::Unavailable {
                                reason: reason.clone(),
                            },
                        );
                    }
                }
            }
            Ok(converter) => {
                // Tables one after the other (conversion is CPU and memory), then one wait for
                // every table's commits at once (the coordinators commit at their own pace).
                let mut converted = Vec::new();
                for (table, targets) in tables {
                    let t = clock.now_ms();
                    let objects = resolve(&raw, targets, &mut statuses, &mut report).await;
                    report.timings_ms.head += clock.now_ms() - t;
                    if objects.is_empty() {
                        continue;
                    }
                    let before = converter.catalog.ops();
                    let result = converter.convert(&table, objects.clone()).await;
                    let ops = converter.catalog.ops().since(&before);
                    converted.push(ConvertedTable {
                        table,
                        objects,
                        result,
                        ops,
                    });
                }
                let t = clock.now_ms();
                wait_for_commits(&converter, &mut converted).await;
                report.timings_ms.commit_wait = clock.now_ms() - t;
                for ConvertedTable {
                    table,
                    objects,
                    result,
                    ops,
                } in converted
                {
                    statuses.extend(key_statuses(&objects, &result, clock.now_ms()));
                    if let Ok(outcome) = &result {
                        handed_on.extend(
                            outcome
                                .handed_on
                                .iter()
                                .map(|h| (h.key.clone(), h.slice.as_ref().map(|s| s.index))),
                        );
                    }
                    report.add_table(table.to_string(), result, ops);
                }
            }
        }
    }

    let decisions = plan.decide(&statuses, &handed_on, &settings.backoff, clock.now_ms());
    let t = clock.now_ms();
    let written = write_records(raw.as_ref(), &decisions).await;
    report.timings_ms.records = clock.now_ms() - t;

    for ((_, attempts, _), decision) in plan.messages.iter().zip(&decisions) {
        let (disposition, reason) = match decision {
            Decision::Ack(reason) => (Disposition::Ack, ack_reason(*reason)),
            Decision::Retry {
                delay_seconds,
                reason,
            } => (
                Disposition::Retry {
                    delay_seconds: *delay_seconds,
                },
                reason.clone(),
            ),
            Decision::RecordErrorThenAck(record) => match written.get(&record.object_key()) {
                Some(Ok(())) => (Disposition::Ack, ack_reason(AckReason::ErrorRecorded)),
                Some(Err(e)) => (
                    Disposition::Retry {
                        delay_seconds: settings.backoff.delay_seconds(*attempts),
                    },
                    format!("cannot write the error record: {e}"),
                ),
                None => (
                    Disposition::Retry {
                        delay_seconds: settings.backoff.delay_seconds(*attempts),
                    },
                    "the error record was not written".to_string(),
                ),
            },
        };
        match disposition {
            Disposition::Ack => report.acked += 1,
            Disposition::Retry { .. } => report.retried += 1,
        }
        report.dispositions.push(disposition);
        report.reasons.push(reason);
    }
    report.add_record_errors(&decisions, &written);
    report.timings_ms.total = clock.now_ms() - started;
    report
}

/// Waits, for all tables at once, for the objects their coordinators still hold pending.
/// One table's part of a batch, converted and waiting for its commit.
struct ConvertedTable {
    table: TableName,
    objects: Vec<RawObject>,
    result: Result<TableOutcome, ConvertError>,
    /// Catalog operations the conversion made.
    ops: OpCounts,
}

async fn wait_for_commits(converter: &Converter, converted: &mut [ConvertedTable]) {
    let waits = converted
        .iter()
        .map(|ConvertedTable { table, result, .. }| async move {
            // Objects whose every slice is handed over; the others wait for other invocations.
            let ids: Vec<RawObjectId> = match result {
                Ok(outcome) => outcome
                    .pending
                    .iter()
                    .filter(|p| p.slices_done >= p.slices)
                    .map(PendingObjectOutcome::id)
                    .collect(),
                Err(_) => Vec::new(),
            };
            if ids.is_empty() {
                return None;
            }
            Some(converter.committer.wait(&table.to_ident(), &ids).await)
        });
    let answers = futures::future::join_all(waits).await;
    for (converted, answer) in converted.iter_mut().zip(answers) {
        if let (Ok(outcome), Some(Ok(submitted))) = (&mut converted.result, answer) {
            outcome.settle_pending(submitted);
        }
    }
}

fn ack_reason(reason: AckReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn table_error(table: &str, e: &ConvertError, reason: &str) -> BatchError {
    BatchError {
        table: Some(table.to_string()),
        key: None,
        etag: None,
        kind: if e.is_transient() {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        },
        reason: reason.to_string(),
        record: None,
    }
}

/// HEADs every target (the content to convert is the object's current one) and returns the
/// objects that exist; gone and unreachable ones get their status here.
async fn resolve(
    raw: &Arc<dyn ObjectStore>,
    targets: Vec<ConvertTarget>,
    statuses: &mut HashMap<String, KeyStatus>,
    report: &mut BatchReport,
) -> Vec<RawObject> {
    let heads: Vec<(ConvertTarget, Result<_, StorageError>)> = futures::stream::iter(targets)
        .map(|target| {
            let raw = raw.clone();
            async move {
                let head = raw.head(&target.key).await;
                (target, head)
            }
        })
        .buffered(HEAD_CONCURRENCY)
        .collect()
        .await;
    let mut objects = Vec::new();
    for (target, head) in heads {
        match head {
            Ok(meta) => {
                let created_ms = match target.event_time_ms {
                    Some(ms) if meta.etag == target.etag => ms,
                    _ => meta.last_modified_ms,
                };
                if meta.etag != target.etag {
                    report.notes.push(Note::Replaced {
                        key: target.key.clone(),
                        notified_etag: target.etag.clone(),
                        current_etag: meta.etag.clone(),
                    });
                }
                let mut object = RawObject::from_meta(raw.clone(), meta);
                object.created_ms = created_ms;
                objects.push(object);
            }
            Err(StorageError::NotFound { .. }) => {
                report.notes.push(Note::Gone {
                    key: target.key.clone(),
                });
                statuses.insert(target.key, KeyStatus::Gone);
            }
            Err(e) => {
                let reason = format!("cannot look at the raw object: {e}");
                report.errors.push(BatchError {
                    table: Some(target.table.to_string()),
                    key: Some(target.key.clone()),
                    etag: Some(target.etag.clone()),
                    kind: FailureKind::Transient,
                    reason: reason.clone(),
                    record: None,
                });
                statuses.insert(target.key, KeyStatus::Unavailable { reason });
            }
        }
    }
    objects
}

/// Writes each distinct record once; the result per record key.
async fn write_records(
    raw: &dyn ObjectStore,
    decisions: &[Decision],
) -> HashMap<String, Result<(), StorageError>> {
    let mut records: BTreeMap<String, &ErrorRecord> = BTreeMap::new();
    for decision in decisions {
        if let Decision::RecordErrorThenAck(record) = decision {
            records.entry(record.object_key()).or_insert(record);
        }
    }
    let mut written = HashMap::new();
    for (key, record) in records {
        let result = raw.put(&key, record.to_json().into()).map_ok(|_| ()).await;
        written.insert(key, result);
    }
    written
}

impl BatchReport {
    fn add_table(
        &mut self,
        table: String,
        result: Result<crate::convert::TableOutcome, ConvertError>,
        catalog_ops: OpCounts,
    ) {
        self.catalog_ops.add(&catalog_ops);
        match result {
            Ok(outcome) => {
                self.files += outcome.data_files;
                self.rows += outcome.rows;
                self.bytes += outcome.bytes;
                self.commit_attempts += outcome.commit_attempts;
                let t = &outcome.timings_ms;
                self.timings_ms.load += t.load;
                self.timings_ms.probe += t.probe;
                self.timings_ms.write += t.write;
                self.timings_ms.commit += t.commit;
                self.notes
                    .extend(outcome.superseded.iter().map(|s| Note::Superseded {
                        key: s.key.clone(),
                        etag: s.etag.clone(),
                        load_id: s.load_id.clone(),
                        by_load_id: s.by_load_id.clone(),
                        reason: s.reason.clone(),
                    }));
                for failure in outcome
                    .failed
                    .iter()
                    .filter(|f| f.kind == FailureKind::Transient)
                {
                    self.errors.push(BatchError {
                        table: Some(table.clone()),
                        key: Some(failure.key.clone()),
                        etag: Some(failure.etag.clone()),
                        kind: failure.kind,
                        reason: failure.reason.clone(),
                        record: None,
                    });
                }
                self.tables.push(TableReport {
                    table,
                    snapshot_id: outcome.snapshot_id,
                    objects: outcome.objects.len(),
                    skipped: outcome.skipped.len(),
                    superseded: outcome.superseded.len(),
                    failed: outcome.failed.len(),
                    replace_load_id: outcome.replace_load_id,
                    removed_files: outcome.removed_files,
                    removed_rows: outcome.removed_rows,
                    files: outcome.data_files,
                    rows: outcome.rows,
                    bytes: outcome.bytes,
                    created: outcome.created_table,
                    schema_changes: outcome.schema_changes,
                    commit_attempts: outcome.commit_attempts,
                    catalog_ops,
                    handed_on: outcome.handed_on.len(),
                    pending: outcome.pending.len(),
                    error: None,
                });
            }
            Err(e) => {
                let reason = e.to_string();
                self.errors.push(table_error(&table, &e, &reason));
                self.tables.push(TableReport {
                    table,
                    catalog_ops,
                    error: Some(reason),
                    ..Default::default()
                });
            }
        }
    }

    /// Permanent failures, once per record, with the record's key (or why it is missing).
    fn add_record_errors(
        &mut self,
        decisions: &[Decision],
        written: &HashMap<String, Result<(), StorageError>>,
    ) {
        let mut seen = std::collections::HashSet::new();
        for decision in decisions {
            let Decision::RecordErrorThenAck(record) = decision else {
                continue;
            };
            let key = record.object_key();
            if !seen.insert(key.clone()) {
                continue;
            }
            let (record_key, reason) = match written.get(&key) {
                Some(Ok(())) => (Some(key), record.reason.clone()),
                Some(Err(e)) => (
                    None,
                    format!("{} (error record not written: {e})", record.reason),
                ),
                None => (None, record.reason.clone()),
            };
            self.errors.push(BatchError {
                table: record.table.clone(),
                key: Some(record.key.clone()),
                etag: Some(record.etag.clone()),
                kind: record.kind,
                reason,
                record: record_key,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::ops::Range;

    use async_trait::async_trait;
    use bytes::Bytes;

    use super::*;
    use crate::catalog::CatalogError;
    use crate::notification::{Notification, DELETE_OBJECT};
    use crate::storage::memory::MemoryStore;
    use crate::storage::{ObjectMeta, ObjectWriter, StorageResult};

    const NOW: i64 = 1_795_549_100_000;

    #[derive(Debug)]
    struct Fixed;

    #[async_trait]
    impl Clock for Fixed {
        fn now_ms(&self) -> i64 {
            NOW
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    /// A raw bucket whose writes fail (error records cannot be written).
    #[derive(Debug)]
    struct ReadOnly(MemoryStore);

    #[async_trait]
    impl ObjectStore for ReadOnly {
        fn describe(&self, key: &str) -> String {
            self.0.describe(key)
        }
        async fn head(&self, key: &str) -> StorageResult<ObjectMeta> {
            self.0.head(key).await
        }
        async fn get_range(&self, key: &str, range: Range<u64>) -> StorageResult<Bytes> {
            self.0.get_range(key, range).await
        }
        async fn get(&self, key: &str) -> StorageResult<Bytes> {
            self.0.get(key).await
        }
        async fn put(&self, key: &str, _: Bytes) -> StorageResult<()> {
            Err(StorageError::other(self.describe(key), "HTTP 503"))
        }
        async fn put_if_absent(&self, key: &str, body: Bytes) -> StorageResult<()> {
            self.put(key, body).await
        }
        async fn writer(&self, key: &str) -> StorageResult<Box<dyn ObjectWriter>> {
            self.0.writer(key).await
        }
        async fn delete(&self, key: &str) -> StorageResult<()> {
            self.0.delete(key).await
        }
        async fn list(&self, prefix: &str) -> StorageResult<Vec<ObjectMeta>> {
            self.0.list(prefix).await
        }
    }

    fn settings() -> BatchSettings {
        BatchSettings {
            namespace_root: "analytics".into(),
            backoff: Backoff::default(),
        }
    }

    fn msg(id: &str, attempts: u32, n: Notification) -> Incoming {
        Incoming {
            message_id: id.into(),
            attempts,
            body: Ok(n),
        }
    }

    fn put(key: &str) -> Notification {
        Notification::for_object("acc", "raw", key, 10, "e1", NOW - 1000)
    }

    const GOOD: &str = "sources/shop/orders/year=2026/month=11/day=24/a.parquet";
    const OFF_LAYOUT: &str = "sources/shop/orders/a.parquet";

    fn unreachable() -> ConvertError {
        ConvertError::Catalog(CatalogError::Unreachable {
            uri: "http://catalog".into(),
            warehouse: "w".into(),
            operation: "read the catalog config".into(),
            reason: "connection refused".into(),
        })
    }

    #[tokio::test]
    async fn a_batch_without_objects_to_convert_never_connects() {
        let raw = MemoryStore::new("raw");
        let mut delete = put(GOOD);
        delete.action = DELETE_OBJECT.into();
        let incoming = vec![
            Incoming {
                message_id: "bad".into(),
                attempts: 1,
                body: Err("not an R2 event notification".into()),
            },
            msg("del", 1, delete),
            msg("out", 1, put("_errors/x.json")),
            msg("lay-1", 1, put(OFF_LAYOUT)),
            msg("lay-2", 2, put(OFF_LAYOUT)),
        ];
        let report = run_batch(
            incoming,
            Arc::new(raw.clone()),
            &Fixed,
            &settings(),
            || async { panic!("nothing to convert: no catalog needed") },
        )
        .await;
        assert_eq!(report.dispositions, vec![Disposition::Ack; 5]);
        assert_eq!(
            report.reasons,
            [
                "malformed",
                "deleted",
                "skipped",
                "error_recorded",
                "error_recorded"
            ]
        );
        assert_eq!((report.acked, report.retried, report.messages), (5, 0, 5));
        let records: Vec<String> = raw
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("_errors/"))
            .collect();
        assert_eq!(
            records.len(),
            1,
            "both deliveries rewrite one record: {records:?}"
        );
        let record = ErrorRecord::parse(&raw.get(&records[0]).await.unwrap()).unwrap();
        assert_eq!(record.key, OFF_LAYOUT);
        assert_eq!(report.errors.len(), 1);
        assert_eq!(
            report.errors[0].record.as_deref(),
            Some(records[0].as_str())
        );
        let events: Vec<String> = report
            .notes
            .iter()
            .map(|n| {
                serde_json::to_value(n).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .into()
            })
            .collect();
        assert_eq!(
            events,
            ["malformed", "deleted", "skipped", "rejected", "rejected"]
        );
    }

    #[tokio::test]
    async fn a_catalog_that_cannot_be_reached_retries_the_objects_only() {
        let raw = MemoryStore::new("raw");
        raw.put(GOOD, "x".into()).await.unwrap();
        let incoming = vec![
            msg("a", 1, put(GOOD)),
            msg("b", 3, put(GOOD)),
            msg("lay", 1, put(OFF_LAYOUT)),
        ];
        let calls = Cell::new(0);
        let report = run_batch(incoming, Arc::new(raw), &Fixed, &settings(), || async {
            calls.set(calls.get() + 1);
            Err(unreachable())
        })
        .await;
        assert_eq!(calls.get(), 1);
        assert_eq!(
            report.dispositions,
            [
                Disposition::Retry { delay_seconds: 30 },
                Disposition::Retry { delay_seconds: 120 },
                Disposition::Ack
            ]
        );
        assert!(
            report.reasons[0].contains("cannot reach the catalog"),
            "{}",
            report.reasons[0]
        );
        assert_eq!(report.tables.len(), 1);
        assert!(report.tables[0].error.is_some());
        assert_eq!(report.errors[0].kind, FailureKind::Transient);
        let line = serde_json::to_value(&report).unwrap();
        assert_eq!(line["retried"], 2);
        assert_eq!(line["acked"], 1);
        assert!(line.get("dispositions").is_none());
    }

    #[tokio::test]
    async fn an_error_record_that_cannot_be_written_means_a_retry() {
        let raw = ReadOnly(MemoryStore::new("raw"));
        let report = run_batch(
            vec![msg("lay", 2, put(OFF_LAYOUT))],
            Arc::new(raw),
            &Fixed,
            &settings(),
            || async { Err(unreachable()) },
        )
        .await;
        assert_eq!(
            report.dispositions,
            [Disposition::Retry { delay_seconds: 60 }]
        );
        assert!(report.errors[0].record.is_none());
        assert!(report.errors[0].reason.contains("not written"));
    }

    #[tokio::test]
    async fn the_current_content_is_converted_and_gone_objects_are_acked() {
        let raw = MemoryStore::new("raw");
        raw.put(GOOD, "new content".into()).await.unwrap();
        let current = raw.head(GOOD).await.unwrap();
        let gone = "sources/shop/orders/year=2026/month=11/day=24/gone.parquet";
        let plan = BatchPlan::new(
            &[msg("a", 1, put(GOOD)), msg("b", 1, put(gone))],
            "analytics",
            NOW,
        );
        let targets = plan.tables().into_values().next().unwrap();
        let mut statuses = HashMap::new();
        let mut report = BatchReport::default();
        let raw: Arc<dyn ObjectStore> = Arc::new(raw);
        let objects = resolve(&raw, targets, &mut statuses, &mut report).await;
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].etag, current.etag, "the content R2 holds now");
        assert_eq!(
            objects[0].created_ms, current.last_modified_ms,
            "eventTime belongs to the replaced content"
        );
        assert_eq!(statuses.get(gone), Some(&KeyStatus::Gone));
        assert_eq!(
            report.notes,
            [
                Note::Replaced {
                    key: GOOD.into(),
                    notified_etag: "e1".into(),
                    current_etag: current.etag.clone(),
                },
                Note::Gone { key: gone.into() },
            ]
        );
        let decisions = plan.decide(&statuses, &HashSet::new(), &Backoff::default(), NOW);
        assert_eq!(decisions[1], Decision::Ack(AckReason::Gone));
    }
}
