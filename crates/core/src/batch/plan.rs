//! Classifying the messages of a batch and deciding each one's fate.
//!
//! [`BatchPlan::new`] parses and classifies every message: convert (grouped by table, one entry
//! per raw key however often it was delivered), or decided at once (malformed, delete, not ours,
//! layout violation). Once the tables are converted, [`key_statuses`] says what became of each raw
//! key and [`BatchPlan::decide`] gives every message its [`Decision`]: ack, retry with a delay
//! growing with the attempt, or write an error record then ack. Several messages for one object
//! share its fate: three deliveries of one file in a batch land once and all three are acknowledged.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::note::Note;
use super::redelivery::{RedeliveryDelay, MAX_QUEUE_DELAY_SECONDS};
use crate::commit::outcome::TableOutcome;
use crate::convert::ConvertError;
use crate::raw::error_record::{ErrorRecord, FailureKind};
use crate::raw::key::TableName;
use crate::raw::notification::{Classified, ConvertTarget, Notification};
use crate::raw::object::RawObject;

/// One queue message as the Worker received it.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub message_id: String,
    /// Delivery attempts so far, this one included (1 on the first delivery).
    pub attempts: u32,
    /// The notification, or why the body is not one.
    pub body: Result<Notification, String>,
}

/// Why a message is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AckReason {
    /// Its object's rows are in the snapshot this batch committed.
    Committed,
    /// The table already holds its object (redelivery, replay).
    AlreadyHeld,
    /// Its object belongs to a replace load that a newer load superseded: never committed.
    Superseded,
    /// The body is not an R2 event notification.
    Malformed,
    /// A delete: Iceberg history is not rewritten by a raw delete.
    Deleted,
    /// Not ours: outside `sources/`, an unknown action.
    Skipped,
    /// The object no longer exists: nothing to convert.
    Gone,
    /// Its permanent failure is recorded under `_errors/`.
    ErrorRecorded,
    /// Its work was sent on as a new message (a slice of a large object, or an object past the
    /// invocation's budget): that message carries it now.
    HandedOn,
    /// Its slice is converted and held by the table's coordinator, which commits the object once
    /// every slice is there (the object's first message waits for that).
    HandedOver,
}

/// What happens to one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Ack(AckReason),
    Retry {
        delay_seconds: u32,
        reason: String,
    },
    /// Write the record into the raw bucket, then acknowledge (retry if the write fails).
    RecordErrorThenAck(Box<ErrorRecord>),
}

/// What became of one raw key (all messages naming it share it).
#[derive(Debug, Clone, PartialEq)]
pub enum KeyStatus {
    Committed,
    AlreadyHeld,
    Superseded,
    Gone,
    /// The object cannot be converted; `etag` is the content that failed.
    Failed {
        kind: FailureKind,
        etag: String,
        reason: String,
        created_ms: i64,
    },
    /// The table or the storage was not available (connect, HEAD, load, commit): retry.
    Unavailable {
        reason: String,
    },
    /// Handed to the table's coordinator, not committed yet: come back when it expects to have
    /// committed (`None`: other slices are still being converted, so after the usual backoff).
    Pending {
        retry_after_seconds: Option<u32>,
        reason: String,
    },
}

/// One message's place in the plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// Decided without converting anything.
    Decided {
        decision: Decision,
        note: Note,
    },
    Convert(ConvertTarget),
}

/// The messages of one batch, classified.
#[derive(Debug, Clone)]
pub struct BatchPlan {
    /// Same order as the incoming messages.
    pub messages: Vec<(String, u32, Planned)>,
}

impl BatchPlan {
    pub fn new(incoming: &[Incoming], namespace_root: &str, now_ms: i64) -> BatchPlan {
        let messages = incoming
            .iter()
            .map(|m| {
                let planned = match &m.body {
                    Err(reason) => Planned::Decided {
                        decision: Decision::Ack(AckReason::Malformed),
                        note: Note::Malformed {
                            message_id: m.message_id.clone(),
                            reason: reason.clone(),
                        },
                    },
                    Ok(n) => plan_notification(n, &m.message_id, namespace_root, now_ms),
                };
                (m.message_id.clone(), m.attempts, planned)
            })
            .collect();
        BatchPlan { messages }
    }

    /// The work to convert, per table: each object (or slice of one) once, with the first
    /// message's target.
    pub fn tables(&self) -> BTreeMap<TableName, Vec<ConvertTarget>> {
        let mut tables: BTreeMap<TableName, Vec<ConvertTarget>> = BTreeMap::new();
        for (_, _, planned) in &self.messages {
            if let Planned::Convert(target) = planned {
                let targets = tables.entry(target.table.clone()).or_default();
                if !targets.iter().any(|t| t.work() == target.work()) {
                    targets.push(target.clone());
                }
            }
        }
        tables
    }

    /// Every message's decision, given what became of each raw key and which work was sent on.
    pub fn decide(
        &self,
        statuses: &HashMap<String, KeyStatus>,
        handed_on: &HashSet<(String, Option<u32>)>,
        redelivery: &RedeliveryDelay,
        now_ms: i64,
    ) -> Vec<Decision> {
        self.messages
            .iter()
            .map(|(message_id, attempts, planned)| match planned {
                Planned::Decided { decision, .. } => decision.clone(),
                Planned::Convert(target) => {
                    let retry = |reason: String| Decision::Retry {
                        delay_seconds: redelivery.delay_seconds(*attempts),
                        reason,
                    };
                    let (key, slice) = target.work();
                    if handed_on.contains(&(key.to_string(), slice)) {
                        return Decision::Ack(AckReason::HandedOn);
                    }
                    match statuses.get(&target.key) {
                        // A continuation's slice is with the coordinator; the object's first
                        // message stays until the whole object is decided.
                        Some(KeyStatus::Pending { .. }) if slice.is_some() => {
                            Decision::Ack(AckReason::HandedOver)
                        }
                        Some(KeyStatus::Committed) => Decision::Ack(AckReason::Committed),
                        Some(KeyStatus::AlreadyHeld) => Decision::Ack(AckReason::AlreadyHeld),
                        Some(KeyStatus::Superseded) => Decision::Ack(AckReason::Superseded),
                        Some(KeyStatus::Gone) => Decision::Ack(AckReason::Gone),
                        Some(KeyStatus::Failed {
                            kind: FailureKind::Permanent,
                            etag,
                            reason,
                            created_ms,
                        }) => Decision::RecordErrorThenAck(Box::new(
                            ErrorRecord::new(
                                &target.key,
                                etag,
                                FailureKind::Permanent,
                                reason.clone(),
                                *created_ms,
                                now_ms,
                            )
                            .with_table(target.table.to_string())
                            .with_message_id(message_id.clone()),
                        )),
                        Some(KeyStatus::Failed {
                            kind: FailureKind::Transient,
                            reason,
                            ..
                        }) => retry(reason.clone()),
                        Some(KeyStatus::Unavailable { reason }) => retry(reason.clone()),
                        Some(KeyStatus::Pending {
                            retry_after_seconds: Some(seconds),
                            reason,
                        }) => Decision::Retry {
                            delay_seconds: (*seconds).clamp(1, MAX_QUEUE_DELAY_SECONDS),
                            reason: reason.clone(),
                        },
                        Some(KeyStatus::Pending {
                            retry_after_seconds: None,
                            reason,
                        }) => retry(reason.clone()),
                        None => retry("the conversion did not report this object".into()),
                    }
                }
            })
            .collect()
    }

    /// Notes about messages decided without converting (for the log).
    pub fn notes(&self) -> impl Iterator<Item = &Note> {
        self.messages.iter().filter_map(|(_, _, p)| match p {
            Planned::Decided { note, .. } => Some(note),
            Planned::Convert(_) => None,
        })
    }
}

fn plan_notification(
    n: &Notification,
    message_id: &str,
    namespace_root: &str,
    now_ms: i64,
) -> Planned {
    match n.classify(namespace_root) {
        Classified::Convert(target) => Planned::Convert(target),
        Classified::Deleted { key, action } => Planned::Decided {
            decision: Decision::Ack(AckReason::Deleted),
            note: Note::Deleted { key, action },
        },
        Classified::Skip { key, reason } => Planned::Decided {
            decision: Decision::Ack(AckReason::Skipped),
            note: Note::Skipped { key, reason },
        },
        Classified::Reject {
            key,
            etag,
            reason,
            event_time_ms,
        } => {
            let record = ErrorRecord::new(
                &key,
                &etag,
                FailureKind::Permanent,
                reason.clone(),
                event_time_ms.unwrap_or(now_ms),
                now_ms,
            )
            .with_message_id(message_id);
            Planned::Decided {
                decision: Decision::RecordErrorThenAck(Box::new(record)),
                note: Note::Rejected { key, reason },
            }
        }
    }
}

/// What one table's conversion means for each of its raw keys.
///
/// `objects` are the objects handed to the converter (one per key). A failed table (catalog down,
/// storage error, ...) makes every key [`KeyStatus::Unavailable`]: its messages are retried, and
/// after `max_retries` the queue moves them to the dead-letter queue.
pub fn key_statuses(
    objects: &[RawObject],
    result: &Result<TableOutcome, ConvertError>,
    now_ms: i64,
) -> HashMap<String, KeyStatus> {
    let mut statuses = HashMap::new();
    match result {
        Err(e) => {
            let reason = format!(
                "{}{e}",
                if e.is_transient() {
                    ""
                } else {
                    "not transient, retried until the dead-letter queue: "
                }
            );
            for object in objects {
                statuses.insert(
                    object.key.clone(),
                    KeyStatus::Unavailable {
                        reason: reason.clone(),
                    },
                );
            }
        }
        Ok(outcome) => {
            let by_location: HashMap<String, &RawObject> =
                objects.iter().map(|o| (o.location(), o)).collect();
            let superseded: Vec<String> = outcome
                .superseded
                .iter()
                .map(|s| s.object.clone())
                .collect();
            for (locations, status) in [
                (&outcome.objects, KeyStatus::Committed),
                (&outcome.skipped, KeyStatus::AlreadyHeld),
                (&superseded, KeyStatus::Superseded),
            ] {
                for location in locations {
                    if let Some(object) = by_location.get(location) {
                        statuses.insert(object.key.clone(), status.clone());
                    }
                }
            }
            for pending in &outcome.pending {
                let status = if pending.slices_done < pending.slices {
                    KeyStatus::Pending {
                        retry_after_seconds: None,
                        reason: format!(
                            "converting in slices: {} of {} handed to the table's commit coordinator",
                            pending.slices_done, pending.slices
                        ),
                    }
                } else {
                    // A little after the coordinator's next attempt, so the commit has landed.
                    let wait_ms = (pending.next_attempt_ms - now_ms).max(0) + 5_000;
                    KeyStatus::Pending {
                        retry_after_seconds: Some((wait_ms / 1000) as u32),
                        reason: "handed to the table's commit coordinator, not committed yet"
                            .to_string(),
                    }
                };
                statuses.insert(pending.key.clone(), status);
            }
            for failure in &outcome.failed {
                let created_ms = objects
                    .iter()
                    .find(|o| o.key == failure.key)
                    .map_or(0, |o| o.created_ms);
                statuses.insert(
                    failure.key.clone(),
                    KeyStatus::Failed {
                        kind: failure.kind,
                        etag: failure.etag.clone(),
                        reason: failure.reason.clone(),
                        created_ms,
                    },
                );
            }
        }
    }
    statuses
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::commit::outcome::{ObjectFailure, SupersededObject};
    use crate::raw::notification::{format_time_ms, DELETE_OBJECT};
    use crate::storage::memory::MemoryStore;
    use crate::storage::ObjectStore;

    const NOW: i64 = 1_795_549_100_000;

    fn key(resource: &str, n: u32) -> String {
        format!("sources/shop/{resource}/year=2026/month=11/day=24/f{n}.parquet")
    }

    fn put(key: &str, etag: &str) -> Notification {
        Notification::for_object("acc", "raw", key, 100, etag, 1_795_549_004_379)
    }

    fn msg(id: &str, attempts: u32, body: Result<Notification, String>) -> Incoming {
        Incoming {
            message_id: id.into(),
            attempts,
            body,
        }
    }

    fn store() -> Arc<dyn ObjectStore> {
        Arc::new(MemoryStore::new("raw"))
    }

    fn object(store: &Arc<dyn ObjectStore>, key: &str, etag: &str) -> RawObject {
        RawObject {
            store: store.clone(),
            key: key.into(),
            size: 100,
            etag: etag.into(),
            created_ms: 1_795_549_004_379,
            slice: None,
        }
    }

    #[test]
    fn groups_by_table_and_collapses_duplicates() {
        let incoming = vec![
            msg("m1", 1, Ok(put(&key("orders", 1), "e1"))),
            msg("m2", 1, Ok(put(&key("orders", 1), "e1"))),
            msg("m3", 2, Ok(put(&key("users", 1), "u1"))),
            msg("m4", 1, Ok(put(&key("orders", 2), "e2"))),
            msg("m5", 3, Ok(put(&key("orders", 1), "e1"))),
        ];
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        let tables = plan.tables();
        let names: Vec<String> = tables.keys().map(|t| t.to_string()).collect();
        assert_eq!(names, ["analytics.shop.orders", "analytics.shop.users"]);
        let orders: Vec<&str> = tables
            .values()
            .next()
            .unwrap()
            .iter()
            .map(|t| t.key.as_str())
            .collect();
        assert_eq!(orders, [key("orders", 1), key("orders", 2)]);
    }

    #[test]
    fn an_object_delivered_three_times_lands_once_and_all_three_are_acked() {
        let incoming: Vec<Incoming> = (1..=3)
            .map(|i| msg(&format!("m{i}"), i, Ok(put(&key("orders", 1), "e1"))))
            .collect();
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        assert_eq!(plan.tables().values().next().unwrap().len(), 1);
        let store = store();
        let objects = vec![object(&store, &key("orders", 1), "e1")];
        let outcome = TableOutcome {
            objects: vec![objects[0].location()],
            ..Default::default()
        };
        let statuses = key_statuses(&objects, &Ok(outcome), NOW);
        let decisions = plan.decide(&statuses, &HashSet::new(), &RedeliveryDelay::default(), NOW);
        assert_eq!(decisions, vec![Decision::Ack(AckReason::Committed); 3]);

        // Redelivered after the commit: the table holds it.
        let held = TableOutcome {
            skipped: vec![objects[0].location()],
            ..Default::default()
        };
        let decisions = plan.decide(
            &key_statuses(&objects, &Ok(held), NOW),
            &HashSet::new(),
            &RedeliveryDelay::default(),
            NOW,
        );
        assert_eq!(decisions, vec![Decision::Ack(AckReason::AlreadyHeld); 3]);
    }

    #[test]
    fn messages_decided_without_converting() {
        let mut delete = put(&key("orders", 1), "e1");
        delete.action = DELETE_OBJECT.into();
        delete.object.e_tag = None;
        let incoming = vec![
            msg("bad", 1, Err("not an R2 event notification: EOF".into())),
            msg("del", 1, Ok(delete)),
            msg("out", 1, Ok(put("elsewhere/x.parquet", "e"))),
            msg("lay", 1, Ok(put("sources/Shop/orders/x.parquet", "e9"))),
        ];
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        assert!(plan.tables().is_empty());
        let decisions = plan.decide(
            &HashMap::new(),
            &HashSet::new(),
            &RedeliveryDelay::default(),
            NOW,
        );
        assert_eq!(decisions[0], Decision::Ack(AckReason::Malformed));
        assert_eq!(decisions[1], Decision::Ack(AckReason::Deleted));
        assert_eq!(decisions[2], Decision::Ack(AckReason::Skipped));
        let Decision::RecordErrorThenAck(record) = &decisions[3] else {
            panic!("a layout violation under sources/ gets an error record: {decisions:?}");
        };
        assert_eq!(record.key, "sources/Shop/orders/x.parquet");
        assert_eq!(record.etag, "e9");
        assert_eq!(record.table, None);
        assert_eq!(record.kind, FailureKind::Permanent);
        assert_eq!(record.message_id.as_deref(), Some("lay"));
        assert!(record.reason.contains("layout"), "{}", record.reason);
        assert_eq!(
            record.object_key(),
            format!("_errors/2026-11-24/{}.json", record.id)
        );
        assert_eq!(record.time, format_time_ms(NOW));

        let notes: Vec<String> = plan
            .notes()
            .map(|n| {
                serde_json::to_value(n).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(notes, ["malformed", "deleted", "skipped", "rejected"]);
    }

    #[test]
    fn per_object_failures_and_table_failures() {
        let store = store();
        let keys: Vec<String> = (1..=4).map(|i| key("orders", i)).collect();
        let incoming = vec![
            msg("ok", 1, Ok(put(&keys[0], "e1"))),
            msg("corrupt-a", 1, Ok(put(&keys[1], "e2"))),
            msg("corrupt-b", 4, Ok(put(&keys[1], "e2"))),
            msg("flaky", 3, Ok(put(&keys[2], "e3"))),
            msg("unreported", 1, Ok(put(&keys[3], "e4"))),
        ];
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        let objects: Vec<RawObject> = keys
            .iter()
            .zip(["e1", "e2", "e3", "e4"])
            .map(|(k, e)| object(&store, k, e))
            .collect();
        let outcome = TableOutcome {
            objects: vec![objects[0].location()],
            failed: vec![
                ObjectFailure::new(
                    &objects[1],
                    FailureKind::Permanent,
                    "not a readable Parquet file",
                ),
                ObjectFailure::new(&objects[2], FailureKind::Transient, "storage error: 503"),
            ],
            ..Default::default()
        };
        let decisions = plan.decide(
            &key_statuses(&objects, &Ok(outcome), NOW),
            &HashSet::new(),
            &RedeliveryDelay::default(),
            NOW,
        );
        assert_eq!(decisions[0], Decision::Ack(AckReason::Committed));
        let (Decision::RecordErrorThenAck(a), Decision::RecordErrorThenAck(b)) =
            (&decisions[1], &decisions[2])
        else {
            panic!("permanent failures are recorded: {decisions:?}");
        };
        assert_eq!(
            a.object_key(),
            b.object_key(),
            "one record for both deliveries"
        );
        assert_eq!(a.table.as_deref(), Some("analytics.shop.orders"));
        assert_eq!(a.etag, "e2");
        assert_eq!(
            decisions[3],
            Decision::Retry {
                delay_seconds: 120,
                reason: "storage error: 503".into()
            }
        );
        assert!(matches!(
            &decisions[4],
            Decision::Retry {
                delay_seconds: 30,
                ..
            }
        ));

        // The whole table failed (catalog down): everything is retried, each with its own delay.
        let down: Result<TableOutcome, ConvertError> = Err(ConvertError::Table {
            table: "analytics.shop.orders".into(),
            reason: "boom".into(),
        });
        let decisions = plan.decide(
            &key_statuses(&objects, &down, NOW),
            &HashSet::new(),
            &RedeliveryDelay::default(),
            NOW,
        );
        let delays: Vec<u32> = decisions
            .iter()
            .map(|d| match d {
                Decision::Retry {
                    delay_seconds,
                    reason,
                } => {
                    assert!(reason.contains("boom"), "{reason}");
                    *delay_seconds
                }
                other => panic!("expected a retry, got {other:?}"),
            })
            .collect();
        assert_eq!(delays, [30, 30, 240, 120, 30]);
    }

    #[test]
    fn superseded_objects_are_acked_as_superseded() {
        let incoming = vec![msg("m", 2, Ok(put(&key("orders", 1), "e1")))];
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        let store = store();
        let objects = vec![object(&store, &key("orders", 1), "e1")];
        let outcome = TableOutcome {
            superseded: vec![SupersededObject::new(
                objects[0].location(),
                &objects[0].id(),
                "20261124T080000000Z-aaaaaaaa",
                "20261124T090000000Z-bbbbbbbb",
            )],
            ..Default::default()
        };
        let decisions = plan.decide(
            &key_statuses(&objects, &Ok(outcome), NOW),
            &HashSet::new(),
            &RedeliveryDelay::default(),
            NOW,
        );
        assert_eq!(decisions, [Decision::Ack(AckReason::Superseded)]);
    }

    #[test]
    fn gone_objects_are_acked() {
        let incoming = vec![msg("m", 1, Ok(put(&key("orders", 1), "e1")))];
        let plan = BatchPlan::new(&incoming, "analytics", NOW);
        let statuses = HashMap::from([(key("orders", 1), KeyStatus::Gone)]);
        assert_eq!(
            plan.decide(&statuses, &HashSet::new(), &RedeliveryDelay::default(), NOW),
            [Decision::Ack(AckReason::Gone)]
        );
    }
}
