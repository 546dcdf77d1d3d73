//! A table's data file read as a stream of row groups through ranged reads: a merge holds one
//! row group of a file at a time, never the whole file (a Worker has 128 MB, and data files grow
//! towards `write.target-file-size-bytes`, 512 MB by default, once compacted).

use iceberg::arrow::ArrowFileReader;
use iceberg::io::{FileIO, FileMetadata};
use parquet::arrow::ParquetRecordBatchStreamBuilder;

use super::MergeError;
use crate::maintain::inventory::LiveFile;

/// The reader of `file`, its size taken from the manifest (no HEAD request).
pub async fn open(
    file_io: &FileIO,
    file: &LiveFile,
) -> Result<ParquetRecordBatchStreamBuilder<ArrowFileReader>, MergeError> {
    let path = file.path();
    let input = file_io.new_input(path).map_err(MergeError::Table)?;
    let reader = input.reader().await.map_err(MergeError::Table)?;
    let size = file.entry.data_file().file_size_in_bytes();
    ParquetRecordBatchStreamBuilder::new(ArrowFileReader::new(FileMetadata { size }, reader))
        .await
        .map_err(|e| MergeError::data_file(path, e))
}
