//! The keys a merge table has deleted, with the version of each delete: an upsert of such a key
//! with an older-or-equal version (a late or replayed older file) is stale, as it would be
//! against a row. Kept in one Avro file of the table's `metadata/` folder (the ledger's
//! container), named by the table property [`TOMBSTONES_PROPERTY`] and replaced by the commit
//! that changes it, atomically with that commit. A key upserted again with a newer version
//! leaves the file (its row now decides). The file holds every key ever deleted and not upserted
//! since: it grows with deletes (a retention period is not implemented).

use std::collections::HashMap;

use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use uuid::Uuid;

use super::keys::Scalar;
use super::MergeError;
use crate::commit::ledger::container::{unwrap, wrap, Kind};
use crate::commit::ledger::ledger_dir;
pub use crate::raw::summary::TOMBSTONES_PROPERTY;

/// Deleted keys and the version that deleted each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    deleted: HashMap<Vec<Scalar>, Scalar>,
}

impl Tombstones {
    /// The table's tombstones (none when the property is unset).
    pub async fn load(file_io: &FileIO, metadata: &TableMetadata) -> Result<Self, MergeError> {
        let Some(path) = metadata.properties().get(TOMBSTONES_PROPERTY) else {
            return Ok(Self::default());
        };
        let corrupt = |reason: String| MergeError::Internal {
            reason: format!("tombstone file {path}: {reason}"),
        };
        let bytes = file_io
            .new_input(path)
            .map_err(MergeError::Table)?
            .read()
            .await
            .map_err(MergeError::Table)?;
        let body = unwrap(Kind::Tombstones, &bytes).map_err(corrupt)?;
        let pairs: Vec<(Vec<Scalar>, Scalar)> =
            serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            deleted: pairs.into_iter().collect(),
        })
    }

    /// The version that deleted `key`, if it is deleted.
    pub fn get(&self, key: &[Scalar]) -> Option<&Scalar> {
        self.deleted.get(key)
    }

    pub fn len(&self) -> usize {
        self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
    }

    /// Records a delete of `key` at `version` (the newer of two deletes counts).
    pub fn delete(&mut self, key: Vec<Scalar>, version: Scalar) {
        match self.deleted.get(&key) {
            Some(known) if *known >= version => {}
            _ => {
                self.deleted.insert(key, version);
            }
        }
    }

    /// `key` holds a row again (upserted with a newer version than its delete).
    pub fn revive(&mut self, key: &[Scalar]) {
        self.deleted.remove(key);
    }

    /// Writes the tombstones as a new file; the caller sets [`TOMBSTONES_PROPERTY`] to its path
    /// in the commit.
    pub async fn write(
        &self,
        file_io: &FileIO,
        metadata: &TableMetadata,
        snapshot_id: i64,
    ) -> Result<String, MergeError> {
        let mut pairs: Vec<(&Vec<Scalar>, &Scalar)> = self.deleted.iter().collect();
        pairs.sort();
        let body = serde_json::to_vec(&pairs).map_err(|e| MergeError::Internal {
            reason: format!("cannot encode tombstones: {e}"),
        })?;
        let path = format!(
            "{}/icepipe-tombstones-{snapshot_id}-{}.avro",
            ledger_dir(metadata),
            Uuid::new_v4().simple()
        );
        file_io
            .new_output(&path)
            .map_err(MergeError::Table)?
            .write(wrap(Kind::Tombstones, body).into())
            .await
            .map_err(MergeError::Table)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_delete_counts_and_a_newer_upsert_revives() {
        let key = vec![Scalar::Int(7)];
        let mut t = Tombstones::default();
        t.delete(key.clone(), Scalar::Int(5));
        t.delete(key.clone(), Scalar::Int(3));
        assert_eq!(t.get(&key), Some(&Scalar::Int(5)));
        t.revive(&key);
        assert!(t.is_empty());
    }
}
