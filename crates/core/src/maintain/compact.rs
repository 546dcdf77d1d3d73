//! Compaction with Iceberg's RewriteFiles semantics: the small data files of one partition are
//! read back and written as fewer files towards `write.target-file-size-bytes`; a `replace`
//! snapshot marks the inputs DELETED (keeping their sequence numbers) and adds the outputs. The
//! rows are the same rows: counts are checked before anything is committed.
//!
//! Position deletes (merge-on-read) are applied: a partition with delete files is compacted even
//! when its files are not small, its deleted rows are left out of the new files, and the delete
//! files that named only rewritten files are removed in the same snapshot. Tables with equality
//! deletes (another engine's) are left alone.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema as ArrowSchema};
use futures::StreamExt;
use iceberg::io::FileIO;
use iceberg::spec::{DataFile, Schema, TableMetadata};
use parquet::arrow::{ParquetRecordBatchStreamBuilder, PARQUET_FIELD_ID_META_KEY};

use arrow_select::filter::filter_record_batch;

use super::inventory::{Inventory, LiveFile};
use super::settings::MaintenanceSettings;
use crate::convert::writer::{BatchSink, TableWriter};
use crate::deletes::{live_mask, DeletedRows};
use crate::schema::{conform_batch, ConstantColumns, SubMicros};

/// One partition's small files to rewrite together, with the partition's position delete files.
#[derive(Debug, Clone)]
pub struct CompactionGroup {
    pub partition: String,
    pub files: Vec<LiveFile>,
    pub deletes: Vec<LiveFile>,
}

/// What a compaction wrote, and the position deletes it applied.
#[derive(Debug, Clone)]
pub struct Compacted {
    pub written: Vec<DataFile>,
    pub applied: DeletedRows,
}

impl CompactionGroup {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(LiveFile::size).sum()
    }
    pub fn rows(&self) -> u64 {
        self.files.iter().map(LiveFile::rows).sum()
    }
}

/// Partitions of the current spec with at least `min-input-files` small files, or with position
/// delete files (every data file then, whatever its size), most files first; each group holds at
/// most `max-compaction-bytes` (its smallest files first).
pub fn plan_compaction(
    metadata: &TableMetadata,
    inventory: &Inventory,
    settings: &MaintenanceSettings,
) -> Vec<CompactionGroup> {
    if inventory.equality_deletes() > 0 {
        // Equality deletes match rows by value across files: icepipe does not apply them.
        return Vec::new();
    }
    let spec_id = metadata.default_partition_spec_id();
    let mut deletes: HashMap<&str, Vec<LiveFile>> = HashMap::new();
    for file in &inventory.delete_files {
        deletes
            .entry(file.partition.as_str())
            .or_default()
            .push(file.clone());
    }
    let mut groups: Vec<CompactionGroup> = inventory
        .by_partition()
        .into_iter()
        .filter_map(|(partition, files)| {
            let deletes = deletes.remove(partition).unwrap_or_default();
            let mut chosen: Vec<LiveFile> = files
                .into_iter()
                .filter(|f| {
                    f.spec.spec_id() == spec_id
                        && (!deletes.is_empty() || f.size() < settings.small_file_bytes())
                })
                .cloned()
                .collect();
            if deletes.is_empty() && chosen.len() < settings.min_input_files {
                return None;
            }
            chosen.sort_by_key(LiveFile::size);
            let mut bytes = 0u64;
            let mut first = true;
            chosen.retain(|f| {
                bytes += f.size();
                // One file at least when deletes are to be applied, whatever its size.
                let keep = bytes <= settings.max_compaction_bytes || (first && !deletes.is_empty());
                first = false;
                keep
            });
            let enough = if deletes.is_empty() {
                chosen.len() >= 2
            } else {
                !chosen.is_empty()
            };
            enough.then(|| CompactionGroup {
                partition: partition.to_string(),
                files: chosen,
                deletes,
            })
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.files.len()));
    groups
}

/// Reads the group's files and writes their rows again with the table's current schema
/// (columns matched by field id, so renamed columns keep their values), without the rows the
/// partition's position delete files delete.
pub async fn rewrite(
    file_io: &FileIO,
    metadata: &TableMetadata,
    group: &CompactionGroup,
    name_prefix: &str,
) -> iceberg::Result<Compacted> {
    let schema = metadata.current_schema().clone();
    let writer = TableWriter::new(file_io.clone(), metadata, schema.clone())?;
    let mut sink = BatchSink::new(&writer, name_prefix)?;
    let constants = ConstantColumns {
        loaded_at_us: 0,
        load_id: String::new(),
    };
    let inputs: Vec<&LiveFile> = group.files.iter().collect();
    let deleted = DeletedRows::load(file_io, &group.deletes, &inputs).await?;
    let mut expected = 0u64;
    for file in &group.files {
        let gone = deleted.of(file.path());
        expected += file.rows() - deleted.count(file.path()).min(file.rows());
        let mut reader = ParquetRecordBatchStreamBuilder::new(file.ranged_reader(file_io).await?)
            .await
            .map_err(|e| data_error(file.path(), e))?
            .build()
            .map_err(|e| data_error(file.path(), e))?;
        let mut offset = 0u64;
        while let Some(batch) = reader.next().await {
            let batch = batch.map_err(|e| data_error(file.path(), e))?;
            let rows = batch.num_rows();
            let batch = match live_mask(gone, offset, rows) {
                Some(keep) => {
                    filter_record_batch(&batch, &keep).map_err(|e| data_error(file.path(), e))?
                }
                None => batch,
            };
            offset += rows as u64;
            let batch = by_current_names(&batch, &schema);
            // Data files hold microseconds already: nothing finer to refuse or truncate.
            let batch = conform_batch(&batch, writer.arrow_schema(), &constants, SubMicros::Reject)
                .map_err(|e| data_error(file.path(), e))?;
            sink.write(batch).await?;
        }
    }
    let written = sink.close().await?;
    let rows: u64 = written.iter().map(DataFile::record_count).sum();
    if rows != expected {
        return Err(iceberg::Error::new(
            iceberg::ErrorKind::DataInvalid,
            format!(
                "compaction of {} wrote {} rows where the manifests and delete files say {}: nothing committed",
                group.partition, rows, expected
            ),
        ));
    }
    Ok(Compacted {
        written,
        applied: deleted,
    })
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
