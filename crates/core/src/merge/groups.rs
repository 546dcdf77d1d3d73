//! The optional `merge_key` of a merge (dlt's partition-level delete-insert), safe for
//! out-of-order delivery: a load's rows state the whole current content of each merge-key group
//! (each distinct tuple of merge-key values) they carry, so the table's rows of such a group
//! that the load no longer carries are removed.
//!
//! - Each incoming group has a version: the largest version over the load's rows of the group.
//! - The table remembers, per group, the version of the load that last replaced it (group
//!   tombstones, [`Remembered::Groups`], with the key tombstones' retention). An incoming group
//!   older than that is stale: none of its rows land and the table's rows of the group stay.
//! - Otherwise the table's rows of the group with a version up to the group's are removed
//!   ([`ReplacedRows`]); a newer row stays. A row whose key the load also carries is left to the
//!   key rule (crate::merge::scan), so a table row newer than its incoming key is never
//!   replaced by an older one, whatever the group's version.
//!
//! Memory: the incoming groups are held per load part, the remembered ones per table for the
//! retention period. Groups are partitions, tenants, days: far fewer than the keys and rows
//! that are already held (the incoming rows, the key tombstones), so they add little to the
//! bound a merge already has.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow_array::RecordBatch;

use super::incoming::Incoming;
use super::keys::{Column, KeyColumnError, KeyColumns, Scalar};
use super::tombstones::Tombstones;
use super::MergeError;
use crate::raw::footer::MergeKeys;

/// The merge-key columns of one batch.
#[derive(Debug, Clone)]
pub struct GroupColumns(Vec<Option<Column>>);

impl GroupColumns {
    /// `names` of `batch`. A column the batch lacks is an error for the incoming rows (a load
    /// must carry its merge key) but reads as null in a table data file written before the
    /// column existed (`absent_is_null`).
    pub fn of(
        batch: &RecordBatch,
        names: &[String],
        absent_is_null: bool,
    ) -> Result<Self, KeyColumnError> {
        names
            .iter()
            .map(|name| match batch.column_by_name(name) {
                None if absent_is_null => Ok(None),
                _ => Column::of(batch, name).map(Some),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The row's group; a null value is a group value of its own.
    pub fn group(&self, row: usize) -> Vec<Scalar> {
        self.0
            .iter()
            .map(|c| c.as_ref().map_or(Scalar::Null, |c| c.value(row)))
            .collect()
    }
}

/// The groups an incoming load carries, each with its version (the largest over its rows).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Groups {
    versions: HashMap<Vec<Scalar>, Scalar>,
}

impl Groups {
    /// Adds the groups of one incoming batch.
    pub fn add(&mut self, columns: &GroupColumns, version: &Column, rows: usize) {
        for row in 0..rows {
            let value = version.value(row);
            let known = self
                .versions
                .entry(columns.group(row))
                .or_insert(Scalar::Null);
            // Null sorts first: a new group takes the row's version, whatever it is.
            if *known < value {
                *known = value;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.versions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// The version of `group`, if the load carries (and replaces) it.
    pub fn version(&self, group: &[Scalar]) -> Option<&Scalar> {
        self.versions.get(group)
    }

    /// The distinct values of the first merge-key column, sorted (to test files' bounds
    /// against).
    pub fn leading_values(&self) -> BTreeSet<Scalar> {
        self.versions.keys().map(|g| g[0].clone()).collect()
    }

    /// Splits off the groups `stored` (the table's group tombstones) holds a newer version of,
    /// and returns them; every other group is recorded in `stored` as replaced at its version.
    /// An equal version is not stale: the load restates the group again.
    fn settle(&mut self, stored: &mut Tombstones) -> HashSet<Vec<Scalar>> {
        let stale: HashSet<Vec<Scalar>> = self
            .versions
            .iter()
            .filter(|(group, version)| stored.get(group).is_some_and(|known| known > version))
            .map(|(group, _)| group.clone())
            .collect();
        self.versions.retain(|group, _| !stale.contains(group));
        for (group, version) in &self.versions {
            // Recorded like a key's delete: the newer version counts, dated now for retention.
            stored.delete(group.clone(), version.clone());
        }
        stale
    }
}

/// What the group rule decided for one incoming load, before the table is read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Groups the load replaces.
    pub replaced: usize,
    /// Groups the table holds a newer load of: the load's rows of them do not land.
    pub stale: usize,
    /// The keys whose winning row is in a stale group (dropped from the incoming winners).
    pub stale_keys: Vec<Vec<Scalar>>,
}

/// Applies the table's group tombstones (`stored`) to `incoming`: stale groups leave it, with
/// their keys' winners (so no table row is replaced by them and none of their rows lands); the
/// replaced groups are recorded in `stored`.
pub fn settle(
    incoming: &mut Incoming,
    stored: &mut Tombstones,
    keys: &MergeKeys,
    object: &str,
) -> Result<Settled, MergeError> {
    let stale = incoming.groups.settle(stored);
    let replaced = incoming.groups.len();
    if stale.is_empty() {
        return Ok(Settled {
            replaced,
            ..Settled::default()
        });
    }
    let mut columns: HashMap<usize, GroupColumns> = HashMap::new();
    let stale_keys = incoming.drop_winners(|batch_index, batch, row| {
        let columns = match columns.entry(batch_index) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                GroupColumns::of(batch, &keys.merge_key, false)
                    .map_err(|e| MergeError::rows(object, e))?,
            ),
        };
        Ok(stale.contains(&columns.group(row)))
    })?;
    Ok(Settled {
        replaced,
        stale: stale.len(),
        stale_keys,
    })
}

/// Which rows of one batch of a table data file the load's replaced groups remove: rows of a
/// replaced group with a version up to the group's, unless the load carries their key (the key
/// rule decides those).
#[derive(Debug, Default)]
pub struct ReplacedRows(Vec<bool>);

impl ReplacedRows {
    pub fn of(
        batch: &RecordBatch,
        keys: &MergeKeys,
        incoming: &Incoming,
        path: &str,
    ) -> Result<Self, MergeError> {
        let groups = &incoming.groups;
        if groups.is_empty() {
            return Ok(Self::default());
        }
        let error = |e: KeyColumnError| MergeError::data_file(path, e);
        let columns = GroupColumns::of(batch, &keys.merge_key, true).map_err(error)?;
        let version = Column::of(batch, &keys.version_column).map_err(error)?;
        let key_columns = KeyColumns::of(batch, &keys.primary_key).map_err(error)?;
        let loses = (0..batch.num_rows())
            .map(|row| {
                groups
                    .version(&columns.group(row))
                    .is_some_and(|group| version.value(row) <= *group)
                    && key_columns
                        .key(row)
                        .map_or(true, |key| incoming.get(&key).is_none())
            })
            .collect();
        Ok(Self(loses))
    }

    /// Whether the load's groups remove `row`.
    pub fn loses(&self, row: usize) -> bool {
        self.0.get(row).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray};

    use super::super::keys::tests::{batch, merge_keys};
    use super::*;

    fn keys() -> MergeKeys {
        merge_keys(None, &["day"])
    }

    fn rows(ids: &[i64], days: &[Option<&str>], versions: &[i64]) -> RecordBatch {
        batch(vec![
            ("id", Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef),
            (
                "day",
                Arc::new(StringArray::from(days.to_vec())) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from(versions.to_vec())) as ArrayRef,
            ),
        ])
    }

    fn incoming(rows: RecordBatch) -> Incoming {
        let mut incoming = Incoming::default();
        incoming.add(rows, &keys(), "o").unwrap();
        incoming
    }

    fn day(d: &str) -> Vec<Scalar> {
        vec![Scalar::Str(d.into())]
    }

    #[test]
    fn a_group_s_version_is_the_largest_of_its_rows_and_null_is_a_group() {
        let incoming = incoming(rows(
            &[1, 2, 3, 4],
            &[Some("d1"), Some("d1"), Some("d2"), None],
            &[3, 7, 2, 1],
        ));
        let groups = &incoming.groups;
        assert_eq!(groups.len(), 3);
        assert_eq!(groups.version(&day("d1")), Some(&Scalar::Int(7)));
        assert_eq!(groups.version(&day("d2")), Some(&Scalar::Int(2)));
        assert_eq!(groups.version(&[Scalar::Null]), Some(&Scalar::Int(1)));
        assert_eq!(
            groups.leading_values().into_iter().collect::<Vec<_>>(),
            [
                Scalar::Null,
                Scalar::Str("d1".into()),
                Scalar::Str("d2".into())
            ]
        );
    }

    #[test]
    fn the_incoming_rows_must_carry_the_merge_key() {
        let no_day = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
            ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ]);
        let err = Incoming::default().add(no_day, &keys(), "o").unwrap_err();
        assert!(err.to_string().contains("day"), "{err}");
        assert!(!err.is_transient());
    }

    #[test]
    fn an_older_group_is_stale_with_its_keys_and_the_rest_are_recorded() {
        let mut incoming = incoming(rows(
            &[1, 2, 3],
            &[Some("d1"), Some("d2"), Some("d3")],
            &[5, 5, 5],
        ));
        let mut stored = Tombstones::default();
        stored.delete(day("d1"), Scalar::Int(6));
        stored.delete(day("d2"), Scalar::Int(5));
        stored.delete(day("d3"), Scalar::Int(4));
        let settled = settle(&mut incoming, &mut stored, &keys(), "o").unwrap();
        assert_eq!(
            settled,
            Settled {
                replaced: 2,
                stale: 1,
                stale_keys: vec![vec![Scalar::Int(1)]],
            }
        );
        // Stale: its winner is gone (nothing of it lands), its stored version unchanged.
        assert!(incoming.get(&[Scalar::Int(1)]).is_none());
        assert_eq!(incoming.keys(), 2);
        assert_eq!(stored.get(&day("d1")), Some(&Scalar::Int(6)));
        // Equal and newer versions replace the group again.
        assert_eq!(stored.get(&day("d2")), Some(&Scalar::Int(5)));
        assert_eq!(stored.get(&day("d3")), Some(&Scalar::Int(5)));
    }

    #[test]
    fn replaced_groups_remove_their_older_rows_the_key_rule_keeps_the_rest() {
        let mut incoming = incoming(rows(&[1, 9], &[Some("d1"), Some("d2")], &[3, 5]));
        settle(&mut incoming, &mut Tombstones::default(), &keys(), "o").unwrap();
        // The table: d1 rows at versions 2, 3, 4 (4: newer than the load's d1, version 3),
        // key 1 at 2 (the load carries it: the key rule's), a d2 row at 5, a d3 row, and a
        // row without a day of its own (no such group incoming).
        let table = rows(
            &[10, 11, 12, 1, 20, 30, 40],
            &[
                Some("d1"),
                Some("d1"),
                Some("d1"),
                Some("d1"),
                Some("d2"),
                Some("d3"),
                None,
            ],
            &[2, 3, 4, 2, 5, 1, 1],
        );
        let replaced = ReplacedRows::of(&table, &keys(), &incoming, "f").unwrap();
        let loses: Vec<bool> = (0..table.num_rows()).map(|r| replaced.loses(r)).collect();
        assert_eq!(loses, [true, true, false, false, true, false, false]);
    }

    #[test]
    fn a_table_file_without_the_merge_key_column_holds_the_null_group() {
        let mut incoming = incoming(rows(&[1], &[None], &[5]));
        settle(&mut incoming, &mut Tombstones::default(), &keys(), "o").unwrap();
        let old_file = batch(vec![
            ("id", Arc::new(Int64Array::from(vec![7])) as ArrayRef),
            ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ]);
        let replaced = ReplacedRows::of(&old_file, &keys(), &incoming, "f").unwrap();
        assert!(replaced.loses(0));
    }

    #[test]
    fn without_a_merge_key_no_row_is_replaced() {
        let plain = merge_keys(None, &[]);
        let mut incoming = Incoming::default();
        incoming
            .add(rows(&[1], &[Some("d1")], &[5]), &plain, "o")
            .unwrap();
        assert!(incoming.groups.is_empty());
        let table = rows(&[2], &[Some("d1")], &[1]);
        let replaced = ReplacedRows::of(&table, &plain, &incoming, "f").unwrap();
        assert!(!replaced.loses(0));
    }
}
