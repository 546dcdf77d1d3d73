//! The keys a merge table has deleted, with the version of each delete: an upsert of such a key
//! with an older-or-equal version (a late or replayed older file) is stale, as it would be
//! against a row. Kept in one Avro file of the table's `metadata/` folder (the ledger's
//! container), named by the table property [`TOMBSTONES_PROPERTY`] and replaced by the commit
//! that changes it, atomically with that commit. A key upserted again with a newer version
//! leaves the file (its row now decides). A tombstone is kept for the table's
//! [`RETENTION_PROPERTY`] (30 days unless set): past it, a delete is forgotten and the file stops
//! growing with every key ever deleted. The cost: an upsert older than the delete that arrives
//! after the retention period (a raw file held up that long) brings the key back.
//!
//! The same store, in a file of its own ([`Remembered::Groups`]), remembers the merge-key groups
//! replaced and the version that replaced each (crate::merge::groups), with the same retention.

use std::collections::HashMap;

use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;
use uuid::Uuid;

use super::keys::Scalar;
use super::MergeError;
use crate::commit::ledger::container::{unwrap, wrap, Kind};
use crate::commit::ledger::ledger_dir;
pub use crate::raw::summary::{GROUP_TOMBSTONES_PROPERTY, TOMBSTONES_PROPERTY};

/// What a tombstone file remembers: deleted keys, or replaced merge-key groups. Each has its
/// own table property and file, so tables without a merge key never read a group file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Remembered {
    #[default]
    Keys,
    Groups,
}

impl Remembered {
    /// The table property naming the current file.
    pub fn property(self) -> &'static str {
        match self {
            Remembered::Keys => TOMBSTONES_PROPERTY,
            Remembered::Groups => GROUP_TOMBSTONES_PROPERTY,
        }
    }

    fn kind(self) -> Kind {
        match self {
            Remembered::Keys => Kind::Tombstones,
            Remembered::Groups => Kind::GroupTombstones,
        }
    }

    fn file_prefix(self) -> &'static str {
        match self {
            Remembered::Keys => "icepipe-tombstones",
            Remembered::Groups => "icepipe-group-tombstones",
        }
    }
}

/// Table property: how many days a delete is remembered (a whole number of days, or `forever`).
pub const RETENTION_PROPERTY: &str = "icepipe.merge.tombstone-retention-days";
/// R2's managed snapshot expiration keeps 30 days of history: a late file older than that
/// cannot be told from history either.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;
const DAY_MS: i64 = 86_400_000;

/// The version that deleted a key, and when (the merge's clock).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tombstone {
    version: Scalar,
    deleted_at_ms: i64,
}

/// One stored tombstone: `[key, version, deleted_at_ms]`; files written before retention
/// existed hold `[key, version]` (their deletes count as made when first read again).
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Stored {
    Dated(Vec<Scalar>, Scalar, i64),
    Undated(Vec<Scalar>, Scalar),
}

/// Deleted keys (or replaced groups) and the version that deleted (replaced) each, as of
/// `now_ms`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tombstones {
    deleted: HashMap<Vec<Scalar>, Tombstone>,
    now_ms: i64,
    remembered: Remembered,
}

/// The retention of `metadata`'s table in milliseconds (`None`: forever).
pub fn retention_ms(metadata: &TableMetadata) -> Result<Option<i64>, MergeError> {
    parse_retention(
        metadata
            .properties()
            .get(RETENTION_PROPERTY)
            .map(String::as_str),
    )
}

fn parse_retention(value: Option<&str>) -> Result<Option<i64>, MergeError> {
    let Some(value) = value else {
        return Ok(Some(DEFAULT_RETENTION_DAYS * DAY_MS));
    };
    if value.trim().eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    match value.trim().parse::<i64>() {
        Ok(days) if days >= 1 => Ok(Some(days.saturating_mul(DAY_MS))),
        _ => Err(MergeError::BadProperty {
            name: RETENTION_PROPERTY.to_string(),
            value: value.to_string(),
            reason: "expected a whole number of days >= 1, or `forever`".to_string(),
        }),
    }
}

impl Tombstones {
    /// The table's key tombstones still within its retention at `now_ms` (none when the
    /// property is unset).
    pub async fn load(
        file_io: &FileIO,
        metadata: &TableMetadata,
        now_ms: i64,
    ) -> Result<Self, MergeError> {
        Self::load_of(Remembered::Keys, file_io, metadata, now_ms).await
    }

    /// The table's tombstones of `remembered` still within its retention at `now_ms`.
    pub async fn load_of(
        remembered: Remembered,
        file_io: &FileIO,
        metadata: &TableMetadata,
        now_ms: i64,
    ) -> Result<Self, MergeError> {
        let retention = retention_ms(metadata)?;
        let Some(path) = metadata.properties().get(remembered.property()) else {
            return Ok(Self {
                now_ms,
                remembered,
                ..Self::default()
            });
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
        let body = unwrap(remembered.kind(), &bytes).map_err(corrupt)?;
        let stored: Vec<Stored> =
            serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
        Ok(Self {
            remembered,
            ..Self::from_stored(stored, retention, now_ms)
        })
    }

    fn from_stored(stored: Vec<Stored>, retention_ms: Option<i64>, now_ms: i64) -> Self {
        let oldest_kept = retention_ms.map_or(i64::MIN, |r| now_ms.saturating_sub(r));
        let deleted = stored
            .into_iter()
            .map(|entry| match entry {
                Stored::Dated(key, version, deleted_at_ms) => (key, version, deleted_at_ms),
                Stored::Undated(key, version) => (key, version, now_ms),
            })
            .filter(|(_, _, deleted_at_ms)| *deleted_at_ms >= oldest_kept)
            .map(|(key, version, deleted_at_ms)| {
                let tombstone = Tombstone {
                    version,
                    deleted_at_ms,
                };
                (key, tombstone)
            })
            .collect();
        Self {
            deleted,
            now_ms,
            remembered: Remembered::Keys,
        }
    }

    /// The version that deleted `key`, if it is deleted.
    pub fn get(&self, key: &[Scalar]) -> Option<&Scalar> {
        self.deleted.get(key).map(|t| &t.version)
    }

    pub fn len(&self) -> usize {
        self.deleted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.deleted.is_empty()
    }

    /// Records a delete of `key` at `version`, made now (the newer of two deletes counts).
    pub fn delete(&mut self, key: Vec<Scalar>, version: Scalar) {
        match self.deleted.get(&key) {
            Some(known) if known.version >= version => {}
            _ => {
                let tombstone = Tombstone {
                    version,
                    deleted_at_ms: self.now_ms,
                };
                self.deleted.insert(key, tombstone);
            }
        }
    }

    /// `key` holds a row again (upserted with a newer version than its delete).
    pub fn revive(&mut self, key: &[Scalar]) {
        self.deleted.remove(key);
    }

    /// Writes the tombstones as a new file; the caller sets [`Remembered::property`] to its path
    /// in the commit ([`Tombstones::property_update`]).
    pub async fn write(
        &self,
        file_io: &FileIO,
        metadata: &TableMetadata,
        snapshot_id: i64,
    ) -> Result<String, MergeError> {
        let mut entries: Vec<(&Vec<Scalar>, &Scalar, i64)> = self
            .deleted
            .iter()
            .map(|(key, t)| (key, &t.version, t.deleted_at_ms))
            .collect();
        entries.sort();
        let body = serde_json::to_vec(&entries).map_err(|e| MergeError::Internal {
            reason: format!("cannot encode tombstones: {e}"),
        })?;
        let path = format!(
            "{}/{}-{snapshot_id}-{}.avro",
            ledger_dir(metadata),
            self.remembered.file_prefix(),
            Uuid::new_v4().simple()
        );
        file_io
            .new_output(&path)
            .map_err(MergeError::Table)?
            .write(wrap(self.remembered.kind(), body).into())
            .await
            .map_err(MergeError::Table)?;
        Ok(path)
    }

    /// When the tombstones differ from `before` (as loaded): writes them and returns the table
    /// update pointing the property at the new file, for the merge's commit.
    pub async fn property_update(
        &self,
        before: &Self,
        file_io: &FileIO,
        metadata: &TableMetadata,
        snapshot_id: i64,
    ) -> Result<Option<iceberg::TableUpdate>, MergeError> {
        if self == before {
            return Ok(None);
        }
        let path = self.write(file_io, metadata, snapshot_id).await?;
        Ok(Some(iceberg::TableUpdate::SetProperties {
            updates: [(self.remembered.property().to_string(), path)].into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

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

    #[test]
    fn deletes_older_than_the_retention_are_forgotten_and_undated_ones_kept() {
        let stored: Vec<Stored> = serde_json::from_str(&format!(
            "[[[{{\"Int\":1}}],{{\"Int\":5}},{}],[[{{\"Int\":2}}],{{\"Int\":5}},{}],[[{{\"Int\":3}}],{{\"Int\":5}}]]",
            NOW - 31 * DAY_MS,
            NOW - 29 * DAY_MS
        ))
        .unwrap();
        let t = Tombstones::from_stored(stored, Some(30 * DAY_MS), NOW);
        assert_eq!(t.get(&[Scalar::Int(1)]), None, "deleted 31 days ago");
        assert_eq!(t.get(&[Scalar::Int(2)]), Some(&Scalar::Int(5)));
        assert_eq!(
            t.get(&[Scalar::Int(3)]),
            Some(&Scalar::Int(5)),
            "undated: kept"
        );
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn forever_keeps_every_delete() {
        let stored: Vec<Stored> = serde_json::from_str("[[[{\"Int\":1}],{\"Int\":5},0]]").unwrap();
        assert_eq!(Tombstones::from_stored(stored, None, NOW).len(), 1);
    }

    #[test]
    fn the_retention_property_takes_days_or_forever() {
        assert_eq!(parse_retention(None).unwrap(), Some(30 * DAY_MS));
        assert_eq!(parse_retention(Some("7")).unwrap(), Some(7 * DAY_MS));
        assert_eq!(parse_retention(Some("Forever")).unwrap(), None);
        for bad in ["0", "-1", "2.5", "a week"] {
            let err = parse_retention(Some(bad)).unwrap_err();
            assert!(!err.is_transient());
            assert!(err.to_string().contains(RETENTION_PROPERTY), "{err}");
        }
    }
}
