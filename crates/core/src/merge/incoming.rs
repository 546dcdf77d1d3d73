//! A merge object's rows, collapsed to the newest version of each key: the rows as the table
//! will hold them (conformed to its current schema), and per key which row wins and whether it
//! deletes the key. Duplicates inside one object collapse by version; equal versions go to the
//! later row, as they arrived. With a merge key, also the groups the rows carry
//! ([`super::groups`]).

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;

use super::groups::{GroupColumns, Groups};
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
    /// The merge-key groups the rows carry (none without a merge key); after
    /// [`super::groups::settle`], the groups the merge replaces.
    pub groups: Groups,
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
        // A load none of whose records carries the marker has no such column (an API adds
        // `"deleted": true` to deleted records only, and the table may not have the column
        // yet): it deletes nothing.
        let deleted = keys
            .hard_delete_column
            .as_deref()
            .filter(|c| batch.column_by_name(c).is_some())
            .map(|c| Column::of(&batch, c))
            .transpose()
            .map_err(|e| MergeError::rows(object, e))?;
        if !keys.merge_key.is_empty() {
            let groups = GroupColumns::of(&batch, &keys.merge_key, false)
                .map_err(|e| MergeError::rows(object, e))?;
            self.groups.add(&groups, &version, batch.num_rows());
        }
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

    /// Removes the winners whose row `drop` (given the batch's index, the batch and the row)
    /// chooses, and returns their keys: their rows neither land nor replace table rows.
    pub fn drop_winners(
        &mut self,
        mut drop: impl FnMut(usize, &RecordBatch, usize) -> Result<bool, MergeError>,
    ) -> Result<Vec<Vec<Scalar>>, MergeError> {
        let mut dropped = Vec::new();
        for (key, winner) in &self.winners {
            if drop(winner.batch, &self.batches[winner.batch], winner.row)? {
                dropped.push(key.clone());
            }
        }
        for key in &dropped {
            self.winners.remove(key);
        }
        Ok(dropped)
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array};

    use super::super::keys::tests::{batch, merge_keys};
    use super::*;

    fn keys() -> MergeKeys {
        merge_keys(Some("deleted"), &[])
    }

    #[test]
    fn rows_without_the_hard_delete_column_are_upserts() {
        let mut incoming = Incoming::default();
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 1]));
        let versions: ArrayRef = Arc::new(Int64Array::from(vec![5, 5, 7]));
        incoming
            .add(batch(vec![("id", ids), ("v", versions)]), &keys(), "o")
            .unwrap();
        assert_eq!((incoming.keys(), incoming.deletes()), (2, 0));
        let winner = incoming.get(&[Scalar::Int(1)]).unwrap();
        assert_eq!(winner.version, Scalar::Int(7));
        let rows: usize = incoming
            .survivors(&HashSet::new())
            .unwrap()
            .iter()
            .map(RecordBatch::num_rows)
            .sum();
        assert_eq!(rows, 2);
    }

    #[test]
    fn the_hard_delete_column_deletes_where_it_marks() {
        let mut incoming = Incoming::default();
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let versions: ArrayRef = Arc::new(Int64Array::from(vec![5, 5]));
        let deleted: ArrayRef = Arc::new(arrow_array::BooleanArray::from(vec![Some(true), None]));
        incoming
            .add(
                batch(vec![("id", ids), ("v", versions), ("deleted", deleted)]),
                &keys(),
                "o",
            )
            .unwrap();
        assert_eq!((incoming.keys(), incoming.deletes()), (2, 1));
        assert!(incoming.get(&[Scalar::Int(1)]).unwrap().deletes);
    }
}
