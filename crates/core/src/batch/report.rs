//! What one batch did: the batch log line (per table, the conversion's outcome as it is), and
//! what to do with each message.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::note::Note;
use super::plan::Decision;
use crate::catalog::OpCounts;
use crate::commit::outcome::TableOutcome;
use crate::convert::ConvertError;
use crate::raw::error_record::FailureKind;
use crate::storage::StorageError;

/// What the Worker does with one message once the batch is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Ack,
    Retry { delay_seconds: u32 },
}

/// One table's part of the batch: what converting its objects did, or why the whole table
/// failed (its messages are then retried).
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchTable {
    #[serde(flatten)]
    pub outcome: TableOutcome,
    /// Catalog operations this batch's conversion of the table made (reads and, for new tables,
    /// creates); its commits are the coordinator's (`commit_attempts`).
    pub catalog_ops: OpCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BatchTable {
    /// A table that failed as a whole.
    pub fn failed(table: String, error: String) -> Self {
        Self {
            outcome: TableOutcome {
                table,
                ..Default::default()
            },
            catalog_ops: OpCounts::default(),
            error: Some(error),
        }
    }
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
    pub tables: Vec<BatchTable>,
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

pub(super) fn table_error(table: &str, e: &ConvertError, reason: &str) -> BatchError {
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

impl BatchReport {
    pub(super) fn add_table(
        &mut self,
        table: String,
        result: Result<TableOutcome, ConvertError>,
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
                self.tables.push(BatchTable {
                    outcome,
                    catalog_ops,
                    error: None,
                });
            }
            Err(e) => {
                let reason = e.to_string();
                self.errors.push(table_error(&table, &e, &reason));
                let mut failed = BatchTable::failed(table, reason);
                failed.catalog_ops = catalog_ops;
                self.tables.push(failed);
            }
        }
    }

    /// Permanent failures, once per record, with the record's key (or why it is missing).
    pub(super) fn add_record_errors(
        &mut self,
        decisions: &[Decision],
        written: &HashMap<String, Result<(), StorageError>>,
    ) {
        let mut seen = HashSet::new();
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
