//! Compaction with Iceberg's RewriteFiles semantics: the small data files of one partition are
//! read back and written as fewer files towards `write.target-file-size-bytes`; a `replace`
//! snapshot marks the inputs DELETED (keeping their sequence numbers) and adds the outputs. The
//! rows are the same rows: counts are checked before anything is committed.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema as ArrowSchema};
use bytes::Bytes;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, Schema, TableMetadata};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;

use super::inventory::{Inventory, LiveFile};
use super::settings::MaintenanceSettings;
use crate::convert::writer::{BatchSink, TableWriter};
use crate::schema::{conform_batch, ConstantColumns, SubMicros};

/// One partition's small files to rewrite together.
#[derive(Debug, Clone)]
pub struct CompactionGroup {
    pub partition: String,
    pub files: Vec<LiveFile>,
}

impl CompactionGroup {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(LiveFile::size).sum()
    }
    pub fn rows(&self) -> u64 {
        self.files.iter().map(LiveFile::rows).sum()
    }
}

/// Partitions of the current spec with at least `min-input-files` small files, most files
/// first; each group holds at most `max-compaction-bytes` (its smallest files first).
pub fn plan_compaction(
    metadata: &TableMetadata,
    inventory: &Inventory,
    settings: &MaintenanceSettings,
) -> Vec<CompactionGroup> {
    if inventory.delete_files > 0 {
        // Rows of these files may be deleted by delete files: rewriting needs them applied.
        return Vec::new();
    }
    let spec_id = metadata.default_partition_spec_id();
    let mut groups: Vec<CompactionGroup> = inventory
        .by_partition()
        .into_iter()
        .filter_map(|(partition, files)| {
            let mut small: Vec<LiveFile> = files
                .into_iter()
                .filter(|f| f.spec.spec_id() == spec_id && f.size() < settings.small_file_bytes())
                .cloned()
                .collect();
            if small.len() < settings.min_input_files {
                return None;
            }
            small.sort_by_key(LiveFile::size);
            let mut bytes = 0u64;
            small.retain(|f| {
                bytes += f.size();
                bytes <= settings.max_compaction_bytes
            });
            (small.len() >= 2).then(|| CompactionGroup {
                partition: partition.to_string(),
                files: small,
            })
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.files.len()));
    groups
}

/// Reads the group's files and writes their rows again with the table's current schema
/// (columns matched by field id, so renamed columns keep their values).
pub async fn rewrite(
    file_io: &FileIO,
    metadata: &TableMetadata,
    group: &CompactionGroup,
    name_prefix: &str,
) -> iceberg::Result<Vec<DataFile>> {
    let schema = metadata.current_schema().clone();
    let writer = TableWriter::new(file_io.clone(), metadata, schema.clone())?;
    let mut sink = BatchSink::new(&writer, name_prefix)?;
    let constants = ConstantColumns {
        loaded_at_us: 0,
        load_id: String::new(),
    };
    for file in &group.files {
        let bytes: Bytes = file_io.new_input(file.path())?.read().await?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| data_error(file.path(), e))?
            .build()
            .map_err(|e| data_error(file.path(), e))?;
        for batch in reader {
            let batch = batch.map_err(|e| data_error(file.path(), e))?;
            let batch = by_current_names(&batch, &schema);
            // Data files hold microseconds already: nothing finer to refuse or truncate.
            let batch = conform_batch(&batch, writer.arrow_schema(), &constants, SubMicros::Reject)
                .map_err(|e| data_error(file.path(), e))?;
            sink.write(batch).await?;
        }
    }
    let written = sink.close().await?;
    let rows: u64 = written.iter().map(DataFile::record_count).sum();
    if rows != group.rows() {
        return Err(iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            format!(
                "compaction of {} read {} rows where the manifests say {}: nothing committed",
                group.partition,
                rows,
                group.rows()
            ),
        ));
    }
    Ok(written)
}

/// Top-level columns renamed to what the current schema calls their field id.
pub(crate) fn by_current_names(batch: &RecordBatch, schema: &Schema) -> RecordBatch {
    let names: HashMap<i32, &str> = schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| (f.id, f.name.as_str()))
        .collect();
    let fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| {
            let id = f
                .metadata()
                .get(PARQUET_FIELD_ID_META_KEY)
                .and_then(|v| v.parse::<i32>().ok());
            match id.and_then(|id| names.get(&id)) {
                Some(name) if *name != f.name() => f.as_ref().clone().with_name(*name),
                _ => f.as_ref().clone(),
            }
        })
        .collect();
    let schema = std::sync::Arc::new(ArrowSchema::new_with_metadata(
        fields,
        batch.schema().metadata().clone(),
    ));
    RecordBatch::try_new(schema, batch.columns().to_vec()).unwrap_or_else(|_| batch.clone())
}

fn data_error(path: &str, e: impl std::fmt::Display) -> iceberg::Error {
    iceberg::Error::new(
        iceberg::ErrorKind::DataInvalid,
        format!("cannot read data file {path} for compaction: {e}"),
    )
}
