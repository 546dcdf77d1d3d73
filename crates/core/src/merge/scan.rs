//! Finds the table's rows an incoming merge replaces, reading as little as it can: files are
//! chosen by the leading key column's lower/upper bounds in the manifests (a file whose range
//! holds no incoming key is never opened; with a merge key, also by the leading merge-key
//! column's bounds), and a chosen file is first read for its key, merge-key and version columns
//! only. Only files that lose rows are read again, all columns, and written again, one at a
//! time, without the rows they lose (to a newer-or-equal version of their key, or to a group the
//! merge replaces).
//! Both passes stream a file row group by row group through ranged reads ([`LiveFile::ranged_reader`]): memory
//! holds one row group, whatever the file's size.

use std::collections::{BTreeSet, HashSet};

use arrow_array::{BooleanArray, RecordBatch};
use arrow_select::filter::filter_record_batch;
use futures::stream::FuturesOrdered;
use futures::StreamExt;
use iceberg::arrow::ArrowFileReader;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, Schema};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask, PARQUET_FIELD_ID_META_KEY};

use super::groups::ReplacedRows;
use super::incoming::Incoming;
use super::keys::{Column, KeyColumns, LeadingValues, Scalar};
use super::MergeError;
use crate::convert::writer::{BatchSink, TableWriter};
use crate::deletes::{live_mask, DeletedRows};
use crate::maintain::compact::by_current_names;
use crate::maintain::inventory::LiveFile;
use crate::raw::footer::MergeKeys;
use crate::schema::{conform_batch, ConstantColumns, SubMicros};

/// Rows per decoded batch.
const BATCH_ROWS: usize = 8192;
/// Iceberg truncates string bounds (16 characters by default): an upper bound that long may be
/// below the real maximum, so it does not bound anything.
const TRUNCATED_BOUND_CHARS: usize = 16;

/// The live files whose leading-key range holds an incoming key, or (with a merge key) whose
/// leading merge-key range holds a group the merge replaces (`groups`), or that have no usable
/// bounds.
pub fn candidates<'a>(
    files: &'a [LiveFile],
    schema: &Schema,
    keys: &MergeKeys,
    leading: &BTreeSet<Scalar>,
    groups: &BTreeSet<Scalar>,
) -> Vec<&'a LiveFile> {
    let by_key = Sought::of(schema, &keys.primary_key[0], leading);
    let by_group = keys
        .merge_key
        .first()
        .map(|c| Sought::of(schema, c, groups));
    files
        .iter()
        .filter(|file| by_key.may_hold(file) || by_group.as_ref().is_some_and(|g| g.may_hold(file)))
        .collect()
}

/// Values sought in one column, tested against files' manifest bounds.
struct Sought<'a> {
    /// `None`: the table has no such column, so its bounds prune nothing.
    field_id: Option<i32>,
    values: &'a BTreeSet<Scalar>,
}

impl<'a> Sought<'a> {
    fn of(schema: &Schema, column: &str, values: &'a BTreeSet<Scalar>) -> Self {
        Self {
            field_id: schema.field_by_name(column).map(|f| f.id),
            values,
        }
    }

    /// Whether `file` may hold one of the values (a null sought: its null count, when known,
    /// is not zero).
    fn may_hold(&self, file: &LiveFile) -> bool {
        if self.values.is_empty() {
            return false;
        }
        let Some(field_id) = self.field_id else {
            return true;
        };
        let data = file.entry.data_file();
        if self.values.contains(&Scalar::Null)
            && data
                .null_value_counts()
                .get(&field_id)
                .is_none_or(|n| *n > 0)
        {
            return true;
        }
        let values = self.values;
        let lower = data
            .lower_bounds()
            .get(&field_id)
            .and_then(Scalar::of_bound);
        let upper = data
            .upper_bounds()
            .get(&field_id)
            .and_then(Scalar::of_bound)
            .filter(|u| !matches!(u, Scalar::Str(s) if s.chars().count() >= TRUNCATED_BOUND_CHARS));
        match (lower, upper) {
            (Some(lower), Some(upper)) if lower <= upper => {
                values.range(lower..=upper).next().is_some()
            }
            (Some(lower), None) => values.range(lower..).next().is_some(),
            (None, Some(upper)) => values.range(..=upper).next().is_some(),
            _ => true,
        }
    }
}

/// What reading the chosen files found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Incoming keys the table holds a newer version of: their rows must not land.
    pub stale: HashSet<Vec<Scalar>>,
    pub files_read: usize,
    /// Files that lose rows to the incoming ones.
    pub affected: Vec<Affected>,
}

/// A data file that loses rows to the merge.
#[derive(Debug, Clone)]
pub struct Affected {
    pub file: LiveFile,
    /// Positions (row ordinals in the file) lost to incoming keys, ascending. A rewrite leaves
    /// them out with the positions deleted before: positions, not per-row masks, so memory
    /// grows with the rows a merge changes, not with the size of the files it touches.
    pub lost: Vec<u64>,
    /// Rows position delete files had deleted before this merge.
    pub deleted_before: u64,
}

impl Affected {
    pub fn dropped(&self) -> u64 {
        self.lost.len() as u64
    }
}

/// What the first pass looks for: the incoming keys, and their first column's values to pass
/// over most rows cheaply.
struct Wanted<'a> {
    keys: &'a MergeKeys,
    incoming: &'a Incoming,
    leading: LeadingValues,
}

/// Chosen files whose first pass runs at once, a new one starting as soon as one ends: their
/// ranged reads overlap (on one thread in a Worker too), each holding one row group of key
/// columns. Fewer in a Worker, whose 128 MB also holds row groups of other engines' files,
/// which can be large, and which opens at most 6 connections at once anyway.
#[cfg(not(target_arch = "wasm32"))]
const FILES_AT_ONCE: usize = 16;
#[cfg(target_arch = "wasm32")]
const FILES_AT_ONCE: usize = 6;

impl Scan {
    /// The first pass over `files` (in their order), [`FILES_AT_ONCE`] at a time.
    pub async fn of_files(
        file_io: &FileIO,
        schema: &Schema,
        files: &[&LiveFile],
        keys: &MergeKeys,
        incoming: &Incoming,
        deleted: &DeletedRows,
    ) -> Result<Self, MergeError> {
        let mut scan = Scan::default();
        let wanted = Wanted {
            keys,
            incoming,
            leading: LeadingValues::of(incoming.winners().map(|(key, _)| &key[0])),
        };
        // A window kept full by hand (not `stream::map(..).buffered`, whose closure over
        // borrowed arguments makes the future not provably `Send`).
        let mut waiting = files.iter();
        let mut running = FuturesOrdered::new();
        loop {
            while running.len() < FILES_AT_ONCE {
                let Some(file) = waiting.next() else { break };
                running.push_back(Self::of_file(
                    file_io,
                    schema,
                    file,
                    &wanted,
                    deleted.of(file.path()),
                ));
            }
            let Some(one) = running.next().await else {
                break;
            };
            let one = one?;
            scan.stale.extend(one.stale);
            scan.files_read += one.files_read;
            scan.affected.extend(one.affected);
        }
        Ok(scan)
    }

    /// Reads one file's key and version columns: which of its rows an incoming key replaces
    /// (or deletes), and which incoming keys it holds newer versions of. Rows at `deleted`
    /// positions (sorted; deleted by position delete files) are not in the table: they neither
    /// lose nor make an incoming key stale.
    async fn of_file(
        file_io: &FileIO,
        schema: &Schema,
        file: &LiveFile,
        wanted: &Wanted<'_>,
        deleted: &[u64],
    ) -> Result<Self, MergeError> {
        let keys = wanted.keys;
        let mut scan = Scan {
            files_read: 1,
            ..Scan::default()
        };
        let columns: Vec<&str> = keys
            .primary_key
            .iter()
            .chain(&keys.merge_key)
            .map(String::as_str)
            .chain([keys.version_column.as_str()])
            .collect();
        let builder = open(file_io, file).await?;
        let ids: HashSet<i32> = columns
            .iter()
            .filter_map(|n| schema.field_by_name(n).map(|f| f.id))
            .collect();
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.metadata()
                    .get(PARQUET_FIELD_ID_META_KEY)
                    .and_then(|v| v.parse::<i32>().ok())
                    .is_some_and(|id| ids.contains(&id))
            })
            .map(|(i, _)| i)
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let mut reader = builder
            .with_projection(mask)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| MergeError::data_file(file.path(), e))?;
        let mut lost = Vec::new();
        let mut offset = 0u64;
        while let Some(batch) = reader.next().await {
            let batch = batch.map_err(|e| MergeError::data_file(file.path(), e))?;
            let batch = by_current_names(&batch, schema);
            let live = live_mask(deleted, offset, batch.num_rows());
            scan.find_lost(
                &batch,
                live.as_ref(),
                offset,
                &mut lost,
                wanted,
                file.path(),
            )?;
            offset += batch.num_rows() as u64;
        }
        if !lost.is_empty() {
            scan.affected.push(Affected {
                file: file.clone(),
                lost,
                deleted_before: deleted.len() as u64,
            });
        }
        Ok(scan)
    }

    /// Pushes the batch's positions lost to incoming keys (or replaced groups) to `lost`, and
    /// notes the incoming keys the batch holds newer versions of. Rows `live` marks false
    /// (deleted already) are not in the table: neither lost nor newer.
    fn find_lost(
        &mut self,
        batch: &RecordBatch,
        live: Option<&BooleanArray>,
        offset: u64,
        lost: &mut Vec<u64>,
        wanted: &Wanted<'_>,
        path: &str,
    ) -> Result<(), MergeError> {
        let Wanted {
            keys,
            incoming,
            leading,
        } = wanted;
        let key_columns =
            KeyColumns::of(batch, &keys.primary_key).map_err(|e| MergeError::data_file(path, e))?;
        let version =
            Column::of(batch, &keys.version_column).map_err(|e| MergeError::data_file(path, e))?;
        let replaced = ReplacedRows::of(batch, keys, incoming, path)?;
        for row in 0..batch.num_rows() {
            if live.is_some_and(|live| !live.value(row)) {
                continue;
            }
            if replaced.loses(row) {
                lost.push(offset + row as u64);
                continue;
            }
            if !leading.hold(key_columns.leading(), row) {
                continue;
            }
            // A row without a full key matches no incoming key: it stays.
            let Ok(key) = key_columns.key(row) else {
                continue;
            };
            let Some(winner) = incoming.get(&key) else {
                continue;
            };
            if version.value(row) > winner.version {
                // Out of order: the table's row is newer than the incoming one.
                self.stale.insert(key);
            } else {
                lost.push(offset + row as u64);
            }
        }
        Ok(())
    }
}

/// Writes `file` again without the rows at `lost` and `deleted` positions (each ascending), as
/// files named from `prefix`.
pub async fn rewrite(
    file_io: &FileIO,
    writer: &TableWriter,
    file: &LiveFile,
    lost: &[u64],
    deleted: &[u64],
    prefix: &str,
) -> Result<Vec<DataFile>, MergeError> {
    let mut gone: Vec<u64> = lost.iter().chain(deleted).copied().collect();
    gone.sort_unstable();
    let mut reader = open(file_io, file)
        .await?
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| MergeError::data_file(file.path(), e))?;
    let schema = writer.schema();
    // Data files carry every column already: nothing to fill in, nothing finer than micros.
    let constants = ConstantColumns {
        loaded_at_us: 0,
        load_id: String::new(),
    };
    let mut sink = BatchSink::new(writer, prefix).map_err(MergeError::Table)?;
    let mut offset = 0u64;
    while let Some(batch) = reader.next().await {
        let batch = batch.map_err(|e| MergeError::data_file(file.path(), e))?;
        let rows = batch.num_rows();
        let batch = match live_mask(&gone, offset, rows) {
            Some(keep) => filter_record_batch(&batch, &keep)
                .map_err(|e| MergeError::data_file(file.path(), e))?,
            None => batch,
        };
        offset += rows as u64;
        let batch = by_current_names(&batch, schema);
        let batch = conform_batch(&batch, writer.arrow_schema(), &constants, SubMicros::Reject)
            .map_err(|e| MergeError::data_file(file.path(), e))?;
        if batch.num_rows() > 0 {
            sink.write(batch).await.map_err(MergeError::Table)?;
        }
    }
    sink.close().await.map_err(MergeError::Table)
}

/// A Parquet reader of `file` over ranged reads.
async fn open(
    file_io: &FileIO,
    file: &LiveFile,
) -> Result<ParquetRecordBatchStreamBuilder<ArrowFileReader>, MergeError> {
    let reader = file
        .ranged_reader(file_io)
        .await
        .map_err(MergeError::Table)?;
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| MergeError::data_file(file.path(), e))
}
