//! What an overwrite snapshot removes from its parent: every live data file not added by a snapshot
//! it keeps. A manifest holding removed files is rewritten the way Iceberg writers do it: the
//! removed files as DELETED entries, the others as EXISTING, both with their original sequence
//! numbers; manifests without removed files are carried as they are.

use std::collections::HashSet;
use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, ManifestEntry, ManifestFile, PartitionSpecRef, SchemaRef, TableMetadata,
};

use super::manifest::manifest_writer;

/// A data file the overwrite removes, with the schema and spec of the manifest that listed it
/// (what its partition tuple means).
#[derive(Debug, Clone)]
pub struct RemovedFile {
    pub file: DataFile,
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
}

/// The parent's manifests as the overwrite lists them, and the files it removes.
#[derive(Debug, Clone, Default)]
pub struct Removal {
    pub manifests: Vec<ManifestFile>,
    pub removed: Vec<RemovedFile>,
}

/// Removes from `manifests` (the parent's) every live data and delete file whose adding snapshot
/// is not in `keep`: the delete files of a replaced table delete nothing any more.
pub async fn remove_files(
    file_io: &FileIO,
    base: &TableMetadata,
    manifests: Vec<ManifestFile>,
    snapshot_id: i64,
    keep: &HashSet<i64>,
) -> iceberg::Result<Removal> {
    remove_matching(
        file_io,
        base,
        manifests,
        snapshot_id,
        |m| all_kept(m, keep),
        |e| !e.snapshot_id().is_some_and(|id| keep.contains(&id)),
    )
    .await
}

/// Removes from `manifests` every live data or delete file `removed` matches (a compaction's
/// inputs and the delete files it applied, an overwrite's old rows); `unaffected` manifests are
/// carried unread. A manifest is rewritten with its own content type (data or deletes).
pub async fn remove_matching(
    file_io: &FileIO,
    base: &TableMetadata,
    manifests: Vec<ManifestFile>,
    snapshot_id: i64,
    unaffected: impl Fn(&ManifestFile) -> bool,
    removed: impl Fn(&ManifestEntry) -> bool,
) -> iceberg::Result<Removal> {
    let mut removal = Removal::default();
    for manifest in manifests {
        if unaffected(&manifest) {
            removal.manifests.push(manifest);
            continue;
        }
        let loaded = manifest.load_manifest(file_io).await?;
        let is_removed = |e: &ManifestEntry| e.is_alive() && removed(e);
        if !loaded.entries().iter().any(|e| is_removed(e)) {
            removal.manifests.push(manifest);
            continue;
        }
        let (entries, metadata) = loaded.into_parts();
        let schema = metadata.schema().clone();
        let spec = Arc::new(metadata.partition_spec().clone());
        let mut writer = manifest_writer(
            file_io,
            base,
            snapshot_id,
            schema.clone(),
            spec.clone(),
            "m1",
            manifest.content,
        )?;
        // Entries deleted by earlier snapshots are dropped: the spec keeps them one snapshot only.
        for entry in entries.iter().filter(|e| e.is_alive()) {
            let sequence_number = entry.sequence_number().ok_or_else(|| no_sequence(entry))?;
            let file_sequence_number = entry.file_sequence_number.or(Some(sequence_number));
            if is_removed(entry) {
                writer.add_delete_file(
                    entry.data_file().clone(),
                    sequence_number,
                    file_sequence_number,
                )?;
                removal.removed.push(RemovedFile {
                    file: entry.data_file().clone(),
                    schema: schema.clone(),
                    spec: spec.clone(),
                });
            } else {
                let added_by = entry.snapshot_id().ok_or_else(|| no_sequence(entry))?;
                writer.add_existing_file(
                    entry.data_file().clone(),
                    added_by,
                    sequence_number,
                    file_sequence_number,
                )?;
            }
        }
        removal.manifests.push(writer.write_manifest_file().await?);
    }
    Ok(removal)
}

/// Removes exactly the live data or delete files at `paths` from `base`'s current snapshot (a
/// compaction's inputs and applied delete files, a merge's rewritten files); `None` when some of them are no longer live there (another
/// writer removed them: plan again on the new parent).
pub async fn remove_paths(
    file_io: &FileIO,
    base: &TableMetadata,
    snapshot_id: i64,
    paths: &HashSet<&str>,
) -> iceberg::Result<Option<Removal>> {
    let manifests = super::snapshot::parent_manifests(file_io, base).await?;
    let removal = remove_matching(
        file_io,
        base,
        manifests,
        snapshot_id,
        |_| false,
        |e| paths.contains(e.file_path()),
    )
    .await?;
    Ok((removal.removed.len() == paths.len()).then_some(removal))
}

/// A manifest whose every live entry was added by the snapshot that wrote it (no EXISTING ones)
/// is kept whole, unread, when that snapshot is kept.
fn all_kept(manifest: &ManifestFile, keep: &HashSet<i64>) -> bool {
    manifest.existing_files_count == Some(0) && keep.contains(&manifest.added_snapshot_id)
}

pub(crate) fn no_sequence(entry: &ManifestEntry) -> iceberg::Error {
    iceberg::Error::new(
        iceberg::ErrorKind::DataInvalid,
        format!(
            "manifest entry of {} lacks its snapshot id or sequence number",
            entry.file_path()
        ),
    )
}
