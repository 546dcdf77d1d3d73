//! What a table state consists of: the current snapshot's manifests and live data files (for
//! planning and health), and every file any snapshot still references (for file cleanup).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use iceberg::arrow::ArrowFileReader;
use iceberg::io::{FileIO, FileMetadata};
use iceberg::spec::{
    DataContentType, ManifestContentType, ManifestEntryRef, ManifestFile, ManifestList,
    PartitionSpecRef, SchemaRef, TableMetadata,
};

use crate::commit::ledger;

use super::MaintainError;

/// A live data (or delete) file of the current snapshot, with what its partition tuple means.
#[derive(Debug, Clone)]
pub struct LiveFile {
    pub entry: ManifestEntryRef,
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
    /// `spec id` + the partition path (`_loaded_at_day=2026-11-30`), for grouping.
    pub partition: String,
}

impl LiveFile {
    pub fn path(&self) -> &str {
        self.entry.file_path()
    }

    /// This data file as ranged reads, its size taken from the manifest (no HEAD request):
    /// Parquet readers over it hold one row group at a time, never the whole file (a Worker has
    /// 128 MB; data files grow towards `write.target-file-size-bytes`, 512 MB by default).
    pub async fn ranged_reader(&self, file_io: &FileIO) -> iceberg::Result<ArrowFileReader> {
        let reader = file_io.new_input(self.path())?.reader().await?;
        Ok(ArrowFileReader::new(
            FileMetadata { size: self.size() },
            reader,
        ))
    }
    pub fn size(&self) -> u64 {
        self.entry.data_file().file_size_in_bytes()
    }
    pub fn rows(&self) -> u64 {
        self.entry.data_file().record_count()
    }
}

/// The current snapshot's manifests and live files.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub manifests: Vec<ManifestFile>,
    pub data_files: Vec<LiveFile>,
    /// Live delete files (merge-on-read tables, or another engine's deletes): the merge scan
    /// and compaction apply position deletes; equality deletes are refused.
    pub delete_files: Vec<LiveFile>,
}

impl Inventory {
    pub async fn of_current(
        file_io: &FileIO,
        metadata: &TableMetadata,
    ) -> Result<Inventory, MaintainError> {
        let mut inventory = Inventory::default();
        let Some(snapshot) = metadata.current_snapshot() else {
            return Ok(inventory);
        };
        inventory.manifests = manifest_list(file_io, metadata, snapshot.manifest_list()).await?;
        for manifest in &inventory.manifests {
            let loaded = manifest.load_manifest(file_io).await?;
            let schema = loaded.metadata().schema().clone();
            let spec = Arc::new(loaded.metadata().partition_spec().clone());
            for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
                let partition = format!(
                    "{}:{}",
                    spec.spec_id(),
                    spec.partition_to_path(entry.data_file().partition(), schema.clone())
                );
                let file = LiveFile {
                    entry: entry.clone(),
                    schema: schema.clone(),
                    spec: spec.clone(),
                    partition,
                };
                match manifest.content {
                    ManifestContentType::Deletes => inventory.delete_files.push(file),
                    ManifestContentType::Data => inventory.data_files.push(file),
                }
            }
        }
        Ok(inventory)
    }

    /// Live equality delete files (another engine's): icepipe does not apply them.
    pub fn equality_deletes(&self) -> usize {
        self.delete_files
            .iter()
            .filter(|f| f.entry.data_file().content_type() == DataContentType::EqualityDeletes)
            .count()
    }

    /// Live data files per partition.
    pub fn by_partition(&self) -> BTreeMap<&str, Vec<&LiveFile>> {
        let mut out: BTreeMap<&str, Vec<&LiveFile>> = BTreeMap::new();
        for file in &self.data_files {
            out.entry(file.partition.as_str()).or_default().push(file);
        }
        out
    }
}

pub async fn manifest_list(
    file_io: &FileIO,
    metadata: &TableMetadata,
    path: &str,
) -> Result<Vec<ManifestFile>, MaintainError> {
    let bytes = file_io.new_input(path)?.read().await?;
    Ok(
        ManifestList::parse_with_version(&bytes, metadata.format_version())?
            .consume_entries()
            .into_iter()
            .collect(),
    )
}

/// Every file the table state references: metadata files (current and logged), manifest lists,
/// manifests and data/delete files of every snapshot (entries of any status), statistics files,
/// and the ledger's files. Nothing in this set may be deleted.
pub async fn referenced_files(
    file_io: &FileIO,
    metadata: &TableMetadata,
    metadata_location: Option<&str>,
) -> Result<BTreeSet<String>, MaintainError> {
    let mut files: BTreeSet<String> = metadata
        .metadata_log()
        .iter()
        .map(|m| m.metadata_file.clone())
        .collect();
    files.extend(metadata_location.map(str::to_string));
    files.extend(
        metadata
            .statistics_iter()
            .map(|s| s.statistics_path.clone()),
    );
    files.extend(
        metadata
            .partition_statistics_iter()
            .map(|s| s.statistics_path.clone()),
    );
    let mut manifests: BTreeSet<String> = BTreeSet::new();
    for snapshot in metadata.snapshots() {
        files.insert(snapshot.manifest_list().to_string());
        for manifest in manifest_list(file_io, metadata, snapshot.manifest_list()).await? {
            if !manifests.insert(manifest.manifest_path.clone()) {
                continue;
            }
            let loaded = manifest.load_manifest(file_io).await?;
            files.extend(loaded.entries().iter().map(|e| e.file_path().to_string()));
        }
    }
    files.extend(manifests);
    files.extend(ledger::referenced_files(file_io, metadata).await?);
    // A merge table's tombstones of keys and of merge-key groups (crate::merge::tombstones).
    use crate::raw::summary::{GROUP_TOMBSTONES_PROPERTY, TOMBSTONES_PROPERTY};
    files.extend(
        [TOMBSTONES_PROPERTY, GROUP_TOMBSTONES_PROPERTY]
            .into_iter()
            .filter_map(|p| metadata.properties().get(p).cloned()),
    );
    Ok(files)
}
