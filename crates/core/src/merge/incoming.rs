//! A merge object's rows, collapsed to the newest version of each key: the rows as the table
//! will hold them (conformed to its current schema), and per key which row wins and whether it
//! deletes the key. Duplicates inside one object collapse by version; equal versions go to the
//! later row, as they arrived.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;

use super::keys::{Column, KeyColumns, Scalar};
use super::MergeError;
use crate::convert::probe::ProbedObject;
use crate::convert::writer::TableWriter;
use crate::raw::footer::MergeKeys;

/// The winning row of one key.
#[derive(Debug, Clone)]
pub struct Winner {
    pub version: Scalar,
    pub deletes: bool,
    batch: usize,
    row: usize,
}

/// The collapsed rows of one merge object.
#[derive(Debug, Default)]
pub struct Incoming {
    batches: Vec<RecordBatch>,
    winners: HashMap<Vec<Scalar>, Winner>,
    /// Rows in the object, before collapsing.
    pub rows_read: u64,
}

impl Incoming {
    /// Reads `probed` (row group by row group) as rows of `writer`'s schema.
    pub async fn read(
        writer: &TableWriter,
        probed: &ProbedObject,
        keys: &MergeKeys,
    ) -> Result<Self, MergeError> {
        let object = probed.object.location();
        let unreadable = |e: &dyn std::fmt::Display| MergeError::Unreadable {
            object: object.clone(),
            reason: e.to_string(),
        };
        let constants = TableWriter::constants_for(probed);
        let mut stream = probed
            .reader()
            .stream(probed.reader_metadata.clone(), None)
            .map_err(|e| unreadable(&e))?;
        let mut incoming = Incoming::default();
        while let Some(batches) = stream.next_row_group().await.map_err(|e| unreadable(&e))? {
            for batch in batches {
                let batch = batch.map_err(|e| unreadable(&e))?;
                let batch = writer
                    .conform(&batch, &constants)
                    .map_err(|e| MergeError::rows(&object, e))?;
                incoming.add(batch, keys, &object)?;
            }
        }
        Ok(incoming)
    }

    /// Adds one batch of the table's rows.
    pub fn add(
        &mut self,
        batch: RecordBatch,
        keys: &MergeKeys,
        object: &str,
    ) -> Result<(), MergeError> {
        let index = self.batches.len();
        let key_columns =
            KeyColumns::of(&batch, &keys.primary_key).map_err(|e| MergeError::rows(object, e))?;
        let version =
            Column::of(&batch, &keys.version_column).map_err(|e| MergeError::rows(object, e))?;
        let deleted = keys
            .hard_delete_column
            .as_deref()
            .map(|c| Column::of(&batch, c))
            .transpose()
            .map_err(|e| MergeError::rows(object, e))?;
        for row in 0..batch.num_rows() {
            let key = key_columns.key(row).map_err(|column| {
                MergeError::rows(
                    object,
                    format!(
                        "row {} has no value in primary key column {column}",
                        self.rows_read
                    ),
                )
            })?;
            self.rows_read += 1;
            let winner = Winner {
                version: version.value(row),
                deletes: deleted.as_ref().is_some_and(|d| d.marks_delete(row)),
                batch: index,
                row,
            };
            match self.winners.get(&key) {
                Some(earlier) if earlier.version > winner.version => {}
                _ => {
                    self.winners.insert(key, winner);
                }
            }
        }
        self.batches.push(batch);
        Ok(())
    }

    pub fn get(&self, key: &[Scalar]) -> Option<&Winner> {
        self.winners.get(key)
    }

    /// Every key's winning row.
    pub fn winners(&self) -> impl Iterator<Item = (&Vec<Scalar>, &Winner)> {
        self.winners.iter()
    }

    pub fn keys(&self) -> usize {
        self.winners.len()
    }

    pub fn deletes(&self) -> usize {
        self.winners.values().filter(|w| w.deletes).count()
    }

    /// The distinct values of the first key column, sorted (to test files' bounds against).
    pub fn leading_values(&self) -> BTreeSet<Scalar> {
        self.winners.keys().map(|k| k[0].clone()).collect()
    }

    /// The rows to add: each key's winner, unless it deletes the key or the table holds a newer
    /// version of it (`stale`).
    pub fn survivors(&self, stale: &HashSet<Vec<Scalar>>) -> Result<Vec<RecordBatch>, MergeError> {
        let mut keep: Vec<Vec<bool>> = self
            .batches
            .iter()
            .map(|b| vec![false; b.num_rows()])
            .collect();
        for (key, winner) in &self.winners {
            if !winner.deletes && !stale.contains(key) {
                keep[winner.batch][winner.row] = true;
            }
        }
        self.batches
            .iter()
            .zip(keep)
            .map(|(batch, mask)| {
                filter_record_batch(batch, &BooleanArray::from(mask)).map_err(|e| {
                    MergeError::Internal {
                        reason: format!("cannot select the rows to add: {e}"),
                    }
                })
            })
            .filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0))
            .collect()
    }
}
