//! The exactly-once ledger: which raw objects (key + eTag) a table holds, for the life of the
//! table. See docs/ledger.md for the design, its failure cases and its size.
//!
//! Each commit writes a small index file (and a delta segment with the objects it adds) into the
//! table's `metadata/` folder, and points at the index from the snapshot's summary and from a
//! table property in the same atomic `updateTable`. The index names, per raw layout day, the
//! segment files holding that day's objects, so a question about a few keys reads only their
//! days' segments, and the commit's cost does not grow with the objects ever loaded.
//!
//! The one API for everyone who asks "does table T hold X" (the committer, the converter's early
//! skip, replace triage, audits and sweeps) is [`Ledger::load`] then [`Ledger::holdings`].

pub(crate) mod container;
mod index;
mod legacy;
mod segment;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{SnapshotRef, TableMetadata};
use serde::Serialize;
use uuid::Uuid;

pub use index::{DayEntry, LedgerIndex, ReplaceState};
pub use segment::{day_of, UNDATED};

use crate::storage::iceberg_io::find_storage_error;
use crate::storage::StorageError;
use container::Kind;

pub use crate::raw::object::RawObjectId;
use crate::raw::summary::REPLACE_LOAD_PROPERTY;
pub use crate::raw::summary::{ADDED_OBJECTS_PROPERTY, LEDGER_PROPERTY, RAW_OBJECTS_PROPERTY};
/// File name prefix of every ledger file in the table's `metadata/` folder (orphan sweeps that
/// know icepipe keep what the ledger references; see docs/ledger.md on foreign sweeps).
pub const LEDGER_FILE_PREFIX: &str = "icepipe-ledger-";
/// A day's deltas merged into its bases once there are more than this many.
pub const MAX_DELTAS_PER_DAY: usize = 8;
/// A day's shard count doubles when a merged shard would hold more objects than this.
pub const OBJECTS_PER_SHARD: u64 = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger file {path} cannot be read: {source}")]
    Read {
        path: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("ledger file {path} cannot be written: {source}")]
    Write {
        path: String,
        #[source]
        source: iceberg::Error,
    },
    /// A file the ledger references is gone (deleted by hand or by a foreign orphan sweep):
    /// nothing is committed to the table until it is restored, since a commit could duplicate.
    #[error("ledger file {path} is missing: the table's ledger is damaged, so nothing is committed (see docs/ledger.md, \"Failure cases\")")]
    Missing { path: String },
    #[error("ledger file {path} is not a ledger file icepipe can read: {reason}")]
    Corrupt { path: String, reason: String },
}

impl LedgerError {
    /// Reads and writes may work on a later try; a damaged ledger does not heal by itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, LedgerError::Read { .. } | LedgerError::Write { .. })
    }
}

/// Which of the raw objects asked about a table holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableHoldings {
    held: HashSet<RawObjectId>,
}

impl TableHoldings {
    pub fn contains(&self, id: &RawObjectId) -> bool {
        self.held.contains(id)
    }
    pub fn len(&self) -> usize {
        self.held.len()
    }
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &RawObjectId> {
        self.held.iter()
    }
}

impl FromIterator<RawObjectId> for TableHoldings {
    fn from_iter<I: IntoIterator<Item = RawObjectId>>(iter: I) -> Self {
        Self {
            held: iter.into_iter().collect(),
        }
    }
}

/// Sizes for health pages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LedgerStats {
    pub objects: u64,
    pub days: usize,
    pub segment_files: usize,
    pub segment_bytes: u64,
    pub index_bytes: u64,
    /// Objects still named only by first-format snapshot summaries (folded in on the next commit).
    pub legacy_objects: usize,
}

/// A table's ledger as of one table state.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Where new ledger files of this table go.
    dir: String,
    index: LedgerIndex,
    index_path: Option<String>,
    index_bytes: u64,
    /// Objects named by first-format summaries in the ancestry newer than the index.
    legacy: BTreeSet<RawObjectId>,
    /// The replace load named by a first-format summary newer than the index.
    legacy_replace: Option<String>,
}

/// What a commit adds to its `updateTable`: the summary properties and the table property.
#[derive(Debug, Clone)]
pub struct LedgerUpdate {
    pub index_path: String,
    pub summary: Vec<(String, String)>,
}

impl LedgerUpdate {
    /// The table property that keeps the ledger when every snapshot pointing at it is expired.
    pub fn table_property(&self) -> (String, String) {
        (LEDGER_PROPERTY.to_string(), self.index_path.clone())
    }
}

/// The current snapshot, then its parent, and so on (stops where history was expired).
pub fn ancestry(metadata: &TableMetadata) -> impl Iterator<Item = &SnapshotRef> {
    let mut next = metadata.current_snapshot();
    std::iter::from_fn(move || {
        let current = next?;
        next = current
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id));
        Some(current)
    })
}

/// Whether a snapshot id is the current snapshot or one of its ancestors.
pub fn in_ancestry(metadata: &TableMetadata, snapshot_id: i64) -> bool {
    ancestry(metadata).any(|s| s.snapshot_id() == snapshot_id)
}

/// The index path a snapshot's summary points at.
pub fn snapshot_pointer(snapshot: &SnapshotRef) -> Option<&String> {
    snapshot
        .summary()
        .additional_properties
        .get(LEDGER_PROPERTY)
}

/// Where a table's ledger files go: its `metadata/` folder, which the catalog's storage accepts
/// Avro files in and which maintenance by other tools treats as metadata.
pub fn ledger_dir(metadata: &TableMetadata) -> String {
    format!("{}/metadata", metadata.location().trim_end_matches('/'))
}

/// Whether a path names a ledger file.
pub fn is_ledger_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with(LEDGER_FILE_PREFIX))
}

fn file_name(kind: &str, detail: &str) -> String {
    format!("{LEDGER_FILE_PREFIX}{kind}-{detail}.avro")
}

impl Ledger {
    /// The ledger of the table's current state: the index the newest ancestor points at (so a
    /// rollback rolls the ledger back too), else the table property (the snapshots pointing at
    /// it were expired), plus what first-format summaries newer than that index name.
    pub async fn load(file_io: &FileIO, metadata: &TableMetadata) -> Result<Ledger, LedgerError> {
        let mut legacy = BTreeSet::new();
        let mut legacy_replace = None;
        let mut pointer = None;
        for snapshot in ancestry(metadata) {
            if let Some(path) = snapshot_pointer(snapshot) {
                pointer = Some(path.clone());
                break;
            }
            legacy.extend(legacy::summary_objects(snapshot));
            if legacy_replace.is_none() {
                legacy_replace = snapshot
                    .summary()
                    .additional_properties
                    .get(REPLACE_LOAD_PROPERTY)
                    .cloned();
            }
        }
        let pointer = pointer.or_else(|| metadata.properties().get(LEDGER_PROPERTY).cloned());
        let (index, index_bytes) = match &pointer {
            Some(path) => {
                let (index, size) = read_index(file_io, path).await?;
                (index, size)
            }
            None => (LedgerIndex::default(), 0),
        };
        Ok(Ledger {
            dir: ledger_dir(metadata),
            index,
            index_path: pointer,
            index_bytes,
            legacy,
            legacy_replace,
        })
    }

    /// The index this ledger was read from (`None`: no commit of the current format yet).
    pub fn index_path(&self) -> Option<&str> {
        self.index_path.as_deref()
    }

    pub fn index(&self) -> &LedgerIndex {
        &self.index
    }

    /// Which of `ids` the table holds. Reads only the segments of the days the keys name.
    pub async fn holdings(
        &self,
        file_io: &FileIO,
        ids: &[RawObjectId],
    ) -> Result<TableHoldings, LedgerError> {
        let mut held: HashSet<RawObjectId> = ids
            .iter()
            .filter(|id| self.legacy.contains(*id))
            .cloned()
            .collect();
        let mut by_day: BTreeMap<String, Vec<&RawObjectId>> = BTreeMap::new();
        for id in ids {
            by_day.entry(day_of(&id.key)).or_default().push(id);
        }
        let mut deltas = SegmentCache::default();
        for (day, asked) in by_day {
            let Some(entry) = self.index.days.get(&day) else {
                continue;
            };
            // One shard at a time: memory stays at one shard however big the day is.
            let mut by_shard: BTreeMap<u32, Vec<&RawObjectId>> = BTreeMap::new();
            for id in &asked {
                by_shard
                    .entry(segment::shard_of(&id.key, entry.shards))
                    .or_default()
                    .push(id);
            }
            for (shard, ids) in by_shard {
                if let Some(Some(path)) = entry.bases.get(shard as usize) {
                    let base: HashSet<RawObjectId> =
                        read_segment(file_io, path).await?.into_iter().collect();
                    held.extend(ids.into_iter().filter(|id| base.contains(*id)).cloned());
                }
            }
            for path in &entry.deltas {
                let delta = deltas.get(file_io, path).await?;
                held.extend(
                    asked
                        .iter()
                        .filter(|id| delta.contains(*id))
                        .map(|id| (*id).clone()),
                );
            }
        }
        Ok(TableHoldings { held })
    }

    /// Every object the table holds from one raw layout day (audits, sweeps).
    pub async fn day_objects(
        &self,
        file_io: &FileIO,
        day: &str,
    ) -> Result<BTreeSet<RawObjectId>, LedgerError> {
        let mut out: BTreeSet<RawObjectId> = self
            .legacy
            .iter()
            .filter(|id| day_of(&id.key) == day)
            .cloned()
            .collect();
        if let Some(entry) = self.index.days.get(day) {
            for path in entry.bases.iter().flatten() {
                out.extend(read_segment(file_io, path).await?);
            }
            out.extend(day_in_deltas(file_io, entry, day).await?);
        }
        Ok(out)
    }

    /// The replace load the table's current rows come from.
    pub fn replace_load(&self) -> Option<&str> {
        self.legacy_replace
            .as_deref()
            .or(self.index.replace.as_ref().map(|r| r.load.as_str()))
    }

    /// Snapshots whose files belong to `load` (an overwrite by a later object of the same load
    /// keeps their files): those the index remembers plus those whose summaries name it.
    pub fn snapshots_of_load(&self, metadata: &TableMetadata, load: &str) -> HashSet<i64> {
        let mut snapshots: HashSet<i64> =
            crate::commit::replace::summary_snapshots_of_load(metadata, load);
        if let Some(state) = self.index.replace.as_ref().filter(|r| r.load == load) {
            snapshots.extend(state.snapshots.iter().copied());
        }
        snapshots
    }

    /// The replace state after a snapshot: an overwrite applying `applied` starts a new load;
    /// any other snapshot joins the current load (its files are that load's rows).
    pub fn replace_after(&self, snapshot_id: i64, applied: Option<&str>) -> Option<ReplaceState> {
        match applied {
            Some(load) => Some(ReplaceState {
                load: load.to_string(),
                snapshots: vec![snapshot_id],
            }),
            None => self.replace_load().map(|load| {
                let mut snapshots: Vec<i64> = self
                    .index
                    .replace
                    .as_ref()
                    .filter(|r| r.load == load)
                    .map(|r| r.snapshots.clone())
                    .unwrap_or_default();
                snapshots.push(snapshot_id);
                ReplaceState {
                    load: load.to_string(),
                    snapshots,
                }
            }),
        }
    }

    pub fn stats(&self) -> LedgerStats {
        LedgerStats {
            objects: self.index.objects,
            days: self.index.days.len(),
            segment_files: self.index.files().count(),
            segment_bytes: self.index.segment_bytes(),
            index_bytes: self.index_bytes,
            legacy_objects: self.legacy.len(),
        }
    }

    /// Writes the ledger of the snapshot `snapshot_id` about to be committed: a delta with
    /// `added` (and any first-format objects not yet folded in), a day's deltas merged into its
    /// bases when there are too many, and the new index. Nothing is visible until the commit
    /// that carries the returned properties applies; a lost commit leaves files no index names.
    pub async fn record(
        &self,
        file_io: &FileIO,
        metadata: &TableMetadata,
        added: &[RawObjectId],
        snapshot_id: i64,
        replace: Option<ReplaceState>,
    ) -> Result<LedgerUpdate, LedgerError> {
        let mut next = self.index.clone();
        next.format = index::FORMAT;
        next.table_uuid = metadata.uuid().to_string();
        next.snapshot_id = snapshot_id;
        next.replace = replace;
        next.added = None;
        let added_set: BTreeSet<RawObjectId> = added.iter().cloned().collect();
        let tag = format!("{snapshot_id}-{}", Uuid::new_v4().simple());
        // First-format objects go in a delta of their own: `added` names exactly this commit's.
        let legacy: BTreeSet<RawObjectId> = self.legacy.difference(&added_set).cloned().collect();
        for (objects, name, is_added) in [
            (&added_set, file_name("delta", &tag), true),
            (&legacy, file_name("legacy", &tag), false),
        ] {
            if objects.is_empty() {
                continue;
            }
            let path = format!("{}/{name}", self.dir);
            let size = write(file_io, &path, Kind::Segment, segment::encode(objects)).await?;
            next.deltas.insert(path.clone(), size);
            if is_added {
                next.added = Some(path.clone());
            }
            let mut per_day: BTreeMap<String, u64> = BTreeMap::new();
            for id in objects {
                *per_day.entry(day_of(&id.key)).or_default() += 1;
            }
            for (day, count) in per_day {
                let entry = next.days.entry(day).or_insert_with(|| DayEntry {
                    shards: 1,
                    bases: vec![None],
                    ..DayEntry::default()
                });
                entry.deltas.push(path.clone());
                entry.delta_objects += count;
            }
        }
        let crowded: Vec<String> = next
            .days
            .iter()
            .filter(|(_, e)| e.deltas.len() > MAX_DELTAS_PER_DAY)
            .map(|(day, _)| day.clone())
            .collect();
        for day in crowded {
            let merged = self
                .merge_day(file_io, &day, &next.days[&day], &tag)
                .await?;
            next.days.insert(day, merged);
        }
        next.drop_unreferenced_deltas();
        next.objects = next
            .days
            .values()
            .map(|d| d.base_objects + d.delta_objects)
            .sum();
        let index_path = format!("{}/{}", self.dir, file_name("index", &tag));
        let bytes = serde_json::to_vec(&next).expect("the index always serializes");
        write(file_io, &index_path, Kind::Index, bytes).await?;
        let summary = vec![
            (LEDGER_PROPERTY.to_string(), index_path.clone()),
            (ADDED_OBJECTS_PROPERTY.to_string(), added.len().to_string()),
        ];
        Ok(LedgerUpdate {
            index_path,
            summary,
        })
    }

    /// A day's bases and deltas merged into new bases, one shard at a time (memory: one shard
    /// plus the deltas), doubling the shards when they grow past [`OBJECTS_PER_SHARD`].
    async fn merge_day(
        &self,
        file_io: &FileIO,
        day: &str,
        entry: &DayEntry,
        tag: &str,
    ) -> Result<DayEntry, LedgerError> {
        let from_deltas = day_in_deltas(file_io, entry, day).await?;
        let old_shards = entry.shards.max(1);
        let total = entry.base_objects + from_deltas.len() as u64;
        let shards = if total / u64::from(old_shards) > OBJECTS_PER_SHARD {
            old_shards * 2
        } else {
            old_shards
        };
        let mut merged = DayEntry {
            shards,
            bases: vec![None; shards as usize],
            ..DayEntry::default()
        };
        for old in 0..old_shards {
            let mut objects: BTreeSet<RawObjectId> = from_deltas
                .iter()
                .filter(|id| segment::shard_of(&id.key, old_shards) == old)
                .cloned()
                .collect();
            if let Some(Some(path)) = entry.bases.get(old as usize) {
                objects.extend(read_segment(file_io, path).await?);
            }
            // Splitting shard i of n into 2n shards only ever yields i and i + n.
            let mut split: BTreeMap<u32, BTreeSet<RawObjectId>> = BTreeMap::new();
            for id in objects {
                split
                    .entry(segment::shard_of(&id.key, shards))
                    .or_default()
                    .insert(id);
            }
            for (shard, objects) in split {
                let detail = format!("{day}-{shard}of{shards}-{tag}");
                let path = format!("{}/{}", self.dir, file_name("base", &detail));
                let size = write(file_io, &path, Kind::Segment, segment::encode(&objects)).await?;
                merged.bases[shard as usize] = Some(path);
                merged.base_objects += objects.len() as u64;
                merged.base_bytes += size;
            }
        }
        Ok(merged)
    }

    /// The raw objects snapshot `snapshot_id` added, from the delta its index names (first
    /// format: from its summary).
    pub async fn added_by(
        file_io: &FileIO,
        metadata: &TableMetadata,
        snapshot_id: i64,
    ) -> Result<Vec<RawObjectId>, LedgerError> {
        let Some(snapshot) = metadata.snapshot_by_id(snapshot_id) else {
            return Ok(Vec::new());
        };
        let Some(pointer) = snapshot_pointer(snapshot) else {
            return Ok(legacy::summary_objects(snapshot));
        };
        let (index, _) = read_index(file_io, pointer).await?;
        if index.snapshot_id != snapshot_id {
            // Carried forward by a maintenance snapshot: it added no raw objects.
            return Ok(Vec::new());
        }
        match index.added {
            Some(path) => read_segment(file_io, &path).await,
            None => Ok(Vec::new()),
        }
    }
}

/// Every ledger file the given table states reference (orphan removal keeps these).
pub async fn referenced_files(
    file_io: &FileIO,
    metadata: &TableMetadata,
) -> Result<BTreeSet<String>, LedgerError> {
    let mut pointers: BTreeSet<String> = metadata
        .snapshots()
        .filter_map(|s| snapshot_pointer(s).cloned())
        .collect();
    pointers.extend(metadata.properties().get(LEDGER_PROPERTY).cloned());
    let mut files = BTreeSet::new();
    for pointer in pointers {
        match read_index(file_io, &pointer).await {
            Ok((index, _)) => {
                files.extend(index.files().map(str::to_string));
                files.extend(index.added.clone());
            }
            // Gone already (a damaged ledger is reported where it is used, not here).
            Err(LedgerError::Missing { .. }) | Err(LedgerError::Corrupt { .. }) => {}
            Err(e) => return Err(e),
        }
        files.insert(pointer);
    }
    Ok(files)
}

/// Delta files read once per question (one delta often serves several days).
#[derive(Default)]
struct SegmentCache {
    read: HashMap<String, HashSet<RawObjectId>>,
}

impl SegmentCache {
    async fn get(
        &mut self,
        file_io: &FileIO,
        path: &str,
    ) -> Result<&HashSet<RawObjectId>, LedgerError> {
        if !self.read.contains_key(path) {
            let objects = read_segment(file_io, path).await?.into_iter().collect();
            self.read.insert(path.to_string(), objects);
        }
        Ok(&self.read[path])
    }
}

/// The objects of `day` in the day's deltas (a delta holds every day its commit touched).
async fn day_in_deltas(
    file_io: &FileIO,
    entry: &DayEntry,
    day: &str,
) -> Result<BTreeSet<RawObjectId>, LedgerError> {
    let mut out = BTreeSet::new();
    for path in &entry.deltas {
        out.extend(
            read_segment(file_io, path)
                .await?
                .into_iter()
                .filter(|id| day_of(&id.key) == day),
        );
    }
    Ok(out)
}

async fn read_segment(file_io: &FileIO, path: &str) -> Result<Vec<RawObjectId>, LedgerError> {
    let body = read(file_io, path, Kind::Segment).await?;
    segment::decode(&body).map_err(|e| LedgerError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// The index and the size of its file.
async fn read_index(file_io: &FileIO, path: &str) -> Result<(LedgerIndex, u64), LedgerError> {
    let (body, size) = read_sized(file_io, path, Kind::Index).await?;
    let corrupt = |reason: String| LedgerError::Corrupt {
        path: path.to_string(),
        reason,
    };
    let index: LedgerIndex = serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
    if index.format != index::FORMAT {
        return Err(corrupt(format!("unknown ledger format {}", index.format)));
    }
    Ok((index, size))
}

async fn read(file_io: &FileIO, path: &str, kind: Kind) -> Result<Vec<u8>, LedgerError> {
    Ok(read_sized(file_io, path, kind).await?.0)
}

async fn read_sized(
    file_io: &FileIO,
    path: &str,
    kind: Kind,
) -> Result<(Vec<u8>, u64), LedgerError> {
    let bytes = read_file(file_io, path).await?;
    let body = container::unwrap(kind, &bytes).map_err(|reason| LedgerError::Corrupt {
        path: path.to_string(),
        reason,
    })?;
    Ok((body, bytes.len() as u64))
}

async fn read_file(file_io: &FileIO, path: &str) -> Result<Bytes, LedgerError> {
    let result = match file_io.new_input(path) {
        Ok(input) => input.read().await,
        Err(e) => Err(e),
    };
    result.map_err(|source| {
        if matches!(
            find_storage_error(&source),
            Some(StorageError::NotFound { .. })
        ) {
            LedgerError::Missing {
                path: path.to_string(),
            }
        } else {
            LedgerError::Read {
                path: path.to_string(),
                source,
            }
        }
    })
}

async fn write(
    file_io: &FileIO,
    path: &str,
    kind: Kind,
    body: Vec<u8>,
) -> Result<u64, LedgerError> {
    let bytes = container::wrap(kind, body);
    let size = bytes.len() as u64;
    let output = file_io
        .new_output(path)
        .map_err(|source| LedgerError::Write {
            path: path.to_string(),
            source,
        })?;
    output
        .write(Bytes::from(bytes))
        .await
        .map_err(|source| LedgerError::Write {
            path: path.to_string(),
            source,
        })?;
    Ok(size)
}

/// Which of `ids` the table (as of `metadata`) holds: [`Ledger::load`] then [`Ledger::holdings`].
pub async fn table_holdings(
    file_io: &FileIO,
    metadata: &TableMetadata,
    ids: &[RawObjectId],
) -> Result<TableHoldings, LedgerError> {
    Ledger::load(file_io, metadata)
        .await?
        .holdings(file_io, ids)
        .await
}

#[cfg(test)]
mod tests;
