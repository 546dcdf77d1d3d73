//! Runs one batch: HEAD the raw objects, convert each table, decide, write error records.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use futures::{StreamExt, TryFutureExt};

use super::note::Note;
use super::plan::{key_statuses, AckReason, BatchPlan, Decision, Incoming, KeyStatus};
use super::redelivery::RedeliveryDelay;
use super::report::{table_error, BatchError, BatchReport, BatchTable, Disposition};
use crate::catalog::OpCounts;
use crate::clock::Clock;
use crate::commit::outcome::{PendingObjectOutcome, TableOutcome};
use crate::convert::{ConvertError, Converter};
use crate::raw::error_record::{ErrorRecord, FailureKind};
use crate::raw::key::TableName;
use crate::raw::notification::ConvertTarget;
use crate::raw::object::{RawObject, RawObjectId};
use crate::storage::{ObjectStore, StorageError};

/// Concurrent HEAD requests on the raw bucket (Workers allow 6 open connections).
const HEAD_CONCURRENCY: usize = 6;

/// How a batch is run.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// First namespace level(s) of the tables (`analytics`).
    pub namespace_root: String,
    pub redelivery: RedeliveryDelay,
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
                    report
                        .tables
                        .push(BatchTable::failed(table.to_string(), reason.clone()));
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

    let decisions = plan.decide(&statuses, &handed_on, &settings.redelivery, clock.now_ms());
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
                        delay_seconds: settings.redelivery.delay_seconds(*attempts),
                    },
                    format!("cannot write the error record: {e}"),
                ),
                None => (
                    Disposition::Retry {
                        delay_seconds: settings.redelivery.delay_seconds(*attempts),
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

/// One table's part of a batch, converted and waiting for its commit.
struct ConvertedTable {
    table: TableName,
    objects: Vec<RawObject>,
    result: Result<TableOutcome, ConvertError>,
    /// Catalog operations the conversion made.
    ops: OpCounts,
}

/// Waits, for all tables at once, for the objects their coordinators still hold pending.
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
                object.slice = target.slice.clone();
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use async_trait::async_trait;

    use super::*;
    use crate::catalog::CatalogError;
    use crate::raw::notification::{Notification, DELETE_OBJECT};
    use crate::storage::memory::{FailingWrites, MemoryStore};

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

    fn settings() -> BatchSettings {
        BatchSettings {
            namespace_root: "analytics".into(),
            redelivery: RedeliveryDelay::default(),
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
        let raw = FailingWrites(MemoryStore::new("raw"));
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
        let decisions = plan.decide(&statuses, &HashSet::new(), &RedeliveryDelay::default(), NOW);
        assert_eq!(decisions[1], Decision::Ack(AckReason::Gone));
    }
}
