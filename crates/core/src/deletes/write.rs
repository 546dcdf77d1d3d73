//! Writes position delete files: one Parquet file per partition of the data files whose rows are
//! deleted, rows sorted by `file_path` then `pos` as the spec requires, in the data files'
//! partition (readers match delete files to data files by partition), and the delete manifests
//! (one per partition spec) that list them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, ManifestContentType, ManifestFile, NestedField, PartitionKey,
    PartitionSpecRef, PrimitiveType, Schema, SchemaRef, TableMetadata, Type,
};
use iceberg::writer::file_writer::location_generator::{
    DefaultLocationGenerator, LocationGenerator,
};
use parquet::arrow::{ArrowWriter, PARQUET_FIELD_ID_META_KEY};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{FILE_PATH_FIELD_ID, POS_FIELD_ID};
use crate::commit::manifest::manifest_writer;
use crate::convert::file_metrics::data_file_builder;
use crate::maintain::inventory::LiveFile;

/// A position delete file written for a snapshot, with the schema and spec of the data files
/// it deletes rows of (what its partition tuple means).
#[derive(Debug, Clone)]
pub struct NewDeleteFile {
    pub file: DataFile,
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
}

/// Writes one position delete file per partition for `deletes` (data file, its deleted
/// positions, sorted), named `<prefix>-d<n>.parquet` under the table's data location.
pub async fn write_position_deletes(
    file_io: &FileIO,
    metadata: &TableMetadata,
    deletes: &[(&LiveFile, &[u64])],
    prefix: &str,
) -> iceberg::Result<Vec<NewDeleteFile>> {
    let mut by_partition: BTreeMap<&str, Vec<(&LiveFile, &[u64])>> = BTreeMap::new();
    for (file, positions) in deletes.iter().filter(|(_, p)| !p.is_empty()) {
        by_partition
            .entry(file.partition.as_str())
            .or_default()
            .push((file, positions));
    }
    let locations = DefaultLocationGenerator::new(metadata)?;
    let schema = delete_schema()?;
    let mut written = Vec::new();
    for (n, files) in by_partition.into_values().enumerate() {
        let mut files = files;
        files.sort_by(|a, b| a.0.path().cmp(b.0.path()));
        let first = files[0].0;
        let partition = first.entry.data_file().partition().clone();
        let key = (!first.spec.is_unpartitioned()).then(|| {
            PartitionKey::new(
                first.spec.as_ref().clone(),
                first.schema.clone(),
                partition.clone(),
            )
        });
        let path = locations.generate_location(key.as_ref(), &format!("{prefix}-d{n}.parquet"));
        let batch = delete_batch(&files)?;
        let (bytes, parquet_metadata) = encode(&batch)?;
        let size = bytes.len();
        file_io.new_output(&path)?.write(bytes).await?;
        let file = data_file_builder(&schema, &parquet_metadata, size, path, Default::default())?
            .content(DataContentType::PositionDeletes)
            .partition(partition)
            .partition_spec_id(first.spec.spec_id())
            .build()
            .map_err(|e| iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string()))?;
        written.push(NewDeleteFile {
            file,
            schema: first.schema.clone(),
            spec: first.spec.clone(),
        });
    }
    Ok(written)
}

/// The delete manifests listing `files` as added by `snapshot_id`: one per partition spec.
pub async fn write_delete_manifests(
    file_io: &FileIO,
    metadata: &TableMetadata,
    snapshot_id: i64,
    files: &[NewDeleteFile],
) -> iceberg::Result<Vec<ManifestFile>> {
    let mut by_spec: BTreeMap<i32, Vec<&NewDeleteFile>> = BTreeMap::new();
    for file in files {
        by_spec.entry(file.spec.spec_id()).or_default().push(file);
    }
    let mut manifests = Vec::new();
    for files in by_spec.into_values() {
        let mut writer = manifest_writer(
            file_io,
            metadata,
            snapshot_id,
            files[0].schema.clone(),
            files[0].spec.clone(),
            "d0",
            ManifestContentType::Deletes,
        )?;
        for file in files {
            // A negative sequence number: inherit the snapshot's, assigned at commit.
            writer.add_file(file.file.clone(), -1)?;
        }
        manifests.push(writer.write_manifest_file().await?);
    }
    Ok(manifests)
}

/// The Iceberg schema of a position delete file (without the optional `row` column).
fn delete_schema() -> iceberg::Result<SchemaRef> {
    Ok(Arc::new(
        Schema::builder()
            .with_fields([
                NestedField::required(
                    FILE_PATH_FIELD_ID,
                    "file_path",
                    Type::Primitive(PrimitiveType::String),
                )
                .into(),
                NestedField::required(POS_FIELD_ID, "pos", Type::Primitive(PrimitiveType::Long))
                    .into(),
            ])
            .build()?,
    ))
}

/// The rows of one delete file, `files` sorted by path and each file's positions sorted.
fn delete_batch(files: &[(&LiveFile, &[u64])]) -> iceberg::Result<RecordBatch> {
    let field = |name: &str, ty: DataType, id: i32| {
        Field::new(name, ty, false)
            .with_metadata([(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string())].into())
    };
    let schema = Arc::new(ArrowSchema::new(vec![
        field("file_path", DataType::Utf8, FILE_PATH_FIELD_ID),
        field("pos", DataType::Int64, POS_FIELD_ID),
    ]));
    let rows: usize = files.iter().map(|(_, p)| p.len()).sum();
    let mut paths = Vec::with_capacity(rows);
    let mut positions = Vec::with_capacity(rows);
    for (file, file_positions) in files {
        for pos in file_positions.iter() {
            paths.push(file.path());
            positions.push(i64::try_from(*pos).map_err(|_| {
                iceberg::Error::new(iceberg::ErrorKind::DataInvalid, "row position above i64")
            })?);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(paths)),
        Arc::new(Int64Array::from(positions)),
    ];
    RecordBatch::try_new(schema, columns)
        .map_err(|e| iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string()))
}

fn encode(
    batch: &RecordBatch,
) -> iceberg::Result<(Bytes, Arc<parquet::file::metadata::ParquetMetaData>)> {
    let parquet_error = |e: parquet::errors::ParquetError| {
        iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string())
    };
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))
        .map_err(parquet_error)?;
    writer.write(batch).map_err(parquet_error)?;
    let metadata = writer.close().map_err(parquet_error)?;
    Ok((Bytes::from(buffer), Arc::new(metadata)))
}
