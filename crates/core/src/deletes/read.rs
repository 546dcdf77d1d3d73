//! Reads the position delete files that apply to a set of data files: which rows of each data
//! file are deleted, and which data files each delete file names (a delete file whose every named
//! file is gone deletes nothing and can be dropped). Only delete files of the data files'
//! partitions are opened.

use std::collections::{BTreeSet, HashMap, HashSet};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_schema::DataType;
use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::DataContentType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ProjectionMask, PARQUET_FIELD_ID_META_KEY};

use super::{FILE_PATH_FIELD_ID, POS_FIELD_ID};
use crate::maintain::inventory::LiveFile;

/// The rows live position delete files delete in the data files they were loaded for.
#[derive(Debug, Default, Clone)]
pub struct DeletedRows {
    /// Deleted positions per data file path, sorted and distinct.
    positions: HashMap<String, Vec<u64>>,
    /// Every data file path each delete file read names.
    references: HashMap<String, BTreeSet<String>>,
}

impl DeletedRows {
    /// Reads the position delete files among `delete_files` that can apply to `data_files`
    /// (same partition, or an unpartitioned delete file).
    pub async fn load(
        file_io: &FileIO,
        delete_files: &[LiveFile],
        data_files: &[&LiveFile],
    ) -> iceberg::Result<Self> {
        let mut out = Self::default();
        if delete_files.is_empty() || data_files.is_empty() {
            return Ok(out);
        }
        let wanted: HashMap<&str, i64> = data_files
            .iter()
            .map(|f| (f.path(), f.entry.sequence_number().unwrap_or(0)))
            .collect();
        let partitions: HashSet<&str> = data_files.iter().map(|f| f.partition.as_str()).collect();
        for delete in delete_files {
            if delete.entry.data_file().content_type() != DataContentType::PositionDeletes
                || !(partitions.contains(delete.partition.as_str())
                    || delete.spec.is_unpartitioned())
            {
                continue;
            }
            let delete_sequence = delete.entry.sequence_number().unwrap_or(0);
            let bytes: Bytes = file_io.new_input(delete.path())?.read().await?;
            let names = out.references.entry(delete.path().to_string()).or_default();
            let positions = &mut out.positions;
            each_pair(delete.path(), bytes, |path, pos| {
                if wanted.get(path).is_some_and(|seq| *seq <= delete_sequence) {
                    positions.entry(path.to_string()).or_default().push(pos);
                }
                if !names.contains(path) {
                    names.insert(path.to_string());
                }
            })?;
        }
        for positions in out.positions.values_mut() {
            positions.sort_unstable();
            positions.dedup();
        }
        Ok(out)
    }

    /// The deleted positions of `path`, sorted.
    pub fn of(&self, path: &str) -> &[u64] {
        self.positions.get(path).map(Vec::as_slice).unwrap_or(&[])
    }

    /// How many rows of `path` are deleted.
    pub fn count(&self, path: &str) -> u64 {
        self.of(path).len() as u64
    }

    /// The delete files read that name none of `still_live` (the data files live after the
    /// commit that uses this): they delete nothing any more and can be removed with it.
    pub fn obsolete<'a>(&'a self, still_live: &HashSet<&str>) -> Vec<&'a str> {
        self.references
            .iter()
            .filter(|(_, names)| !names.iter().any(|n| still_live.contains(n.as_str())))
            .map(|(path, _)| path.as_str())
            .collect()
    }
}

/// Calls `each` with every (file_path, pos) pair of one position delete file, batch by batch.
/// Columns are found by their reserved field ids, or by their spec names for writers that left
/// the ids out.
fn each_pair(path: &str, bytes: Bytes, mut each: impl FnMut(&str, u64)) -> iceberg::Result<()> {
    let invalid = |reason: String| {
        iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            format!("position delete file {path}: {reason}"),
        )
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| invalid(e.to_string()))?;
    let column = |id: i32, name: &str| {
        builder.schema().fields().iter().position(|f| {
            f.metadata()
                .get(PARQUET_FIELD_ID_META_KEY)
                .and_then(|v| v.parse::<i32>().ok())
                .map_or(f.name() == name, |fid| fid == id)
        })
    };
    let (Some(path_column), Some(pos_column)) = (
        column(FILE_PATH_FIELD_ID, "file_path"),
        column(POS_FIELD_ID, "pos"),
    ) else {
        return Err(invalid("no file_path and pos columns".into()));
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [path_column, pos_column]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| invalid(e.to_string()))?;
        // The projection keeps file order: file_path and pos in the order they were written.
        let (paths, positions) = if path_column < pos_column {
            (batch.column(0), batch.column(1))
        } else {
            (batch.column(1), batch.column(0))
        };
        let paths = arrow_cast::cast(paths, &DataType::Utf8).map_err(|e| invalid(e.to_string()))?;
        let positions =
            arrow_cast::cast(positions, &DataType::Int64).map_err(|e| invalid(e.to_string()))?;
        let paths = paths.as_string::<i32>();
        let positions = positions.as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let pos = u64::try_from(positions.value(row))
                .map_err(|_| invalid(format!("negative position at row {row}")))?;
            each(paths.value(row), pos);
        }
    }
    Ok(())
}

/// Which rows of a batch of `rows` rows starting at file position `offset` are not deleted
/// (`deleted` sorted); `None` when none of them is.
pub fn live_mask(deleted: &[u64], offset: u64, rows: usize) -> Option<arrow_array::BooleanArray> {
    let end = offset + rows as u64;
    let from = deleted.partition_point(|p| *p < offset);
    let to = deleted.partition_point(|p| *p < end);
    if from == to {
        return None;
    }
    let mut keep = vec![true; rows];
    for pos in &deleted[from..to] {
        keep[(pos - offset) as usize] = false;
    }
    Some(arrow_array::BooleanArray::from(keep))
}

#[cfg(test)]
mod tests {
    use super::live_mask;

    #[test]
    fn live_mask_marks_only_the_batch_positions() {
        let deleted = [1, 5, 9, 10];
        assert!(live_mask(&deleted, 2, 3).is_none());
        let mask = live_mask(&deleted, 4, 6).expect("5 and 9 are in 4..10");
        let keep: Vec<bool> = mask.iter().map(|v| v.unwrap()).collect();
        assert_eq!(keep, [true, false, true, true, true, false]);
    }
}
