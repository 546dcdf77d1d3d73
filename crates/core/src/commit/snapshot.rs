//! Writes what a snapshot consists of: one manifest for the new data files, a manifest list
//! carrying the parent's live manifests (as an overwrite left them) plus ours, and the `Snapshot`
//! with its summary.

use std::collections::HashMap;

use iceberg::io::FileIO;
use iceberg::spec::{
    DataContentType, DataFile, FormatVersion, ManifestContentType, ManifestFile, ManifestList,
    ManifestListWriter, Operation, PartitionSpecRef, SchemaRef, Snapshot, SnapshotSummaryCollector,
    Summary, TableMetadata,
};
use uuid::Uuid;

use super::manifest::{check_format, manifest_writer, metadata_dir};
use super::overwrite::RemovedFile;
use crate::raw::summary::REPLACE_LOAD_PROPERTY;

/// Writes the manifest listing `data_files` as added by `snapshot_id`.
pub async fn write_manifest(
    file_io: &FileIO,
    base: &TableMetadata,
    schema: SchemaRef,
    spec: PartitionSpecRef,
    snapshot_id: i64,
    data_files: &[DataFile],
) -> iceberg::Result<ManifestFile> {
    check_format(base)?;
    let mut writer = manifest_writer(
        file_io,
        base,
        snapshot_id,
        schema,
        spec,
        "m0",
        ManifestContentType::Data,
    )?;
    for file in data_files {
        // A negative sequence number means "inherit the manifest's", assigned at commit.
        writer.add_file(file.clone(), -1)?;
    }
    writer.write_manifest_file().await
}

/// Everything the snapshot needs besides its manifests.
pub struct SnapshotPlan<'a> {
    pub snapshot_id: i64,
    pub schema_id: i32,
    pub timestamp_ms: i64,
    pub schema: SchemaRef,
    pub spec: PartitionSpecRef,
    pub operation: Operation,
    /// The data and delete files the snapshot adds.
    pub data_files: &'a [DataFile],
    /// Data (and delete) files an overwrite removes (DELETED entries of the manifests).
    pub removed: &'a [RemovedFile],
    /// Summary properties besides the standard ones (the ledger pointer, maintenance counts).
    pub extra_summary: &'a [(String, String)],
    /// The replace load the table's rows come from after this snapshot.
    pub replace_load: Option<&'a str>,
    /// `attempt` keeps each try's manifest list a distinct file.
    pub attempt: u32,
}

/// The manifests of `base`'s current snapshot that still list live files (a manifest left with
/// only DELETED entries by an overwrite is dropped by the next snapshot, as the spec allows).
pub async fn parent_manifests(
    file_io: &FileIO,
    base: &TableMetadata,
) -> iceberg::Result<Vec<ManifestFile>> {
    let Some(parent) = base.current_snapshot() else {
        return Ok(Vec::new());
    };
    let bytes = file_io.new_input(parent.manifest_list())?.read().await?;
    Ok(
        ManifestList::parse_with_version(&bytes, base.format_version())?
            .consume_entries()
            .into_iter()
            .filter(|m| m.has_added_files() || m.has_existing_files())
            .collect(),
    )
}

/// Writes the manifest list (`carried`, the parent's manifests as this snapshot keeps them, then
/// `added`, the manifests of the new data and delete files) on top of `base`'s current snapshot
/// and returns the snapshot.
pub async fn write_snapshot(
    file_io: &FileIO,
    base: &TableMetadata,
    carried: Vec<ManifestFile>,
    added: &[ManifestFile],
    plan: &SnapshotPlan<'_>,
) -> iceberg::Result<Snapshot> {
    check_format(base)?;
    let parent = base.current_snapshot();
    let sequence_number = base.next_sequence_number();
    let parent_id = parent.map(|p| p.snapshot_id());
    let path = format!(
        "{}/snap-{}-{}-{}.avro",
        metadata_dir(base),
        plan.snapshot_id,
        plan.attempt,
        Uuid::new_v4()
    );
    let output = file_io.new_output(&path)?;
    let mut writer = match base.format_version() {
        FormatVersion::V1 => {
            ManifestListWriter::v1(output.writer().await?, plan.snapshot_id, parent_id)
        }
        _ => ManifestListWriter::v2(
            output.writer().await?,
            plan.snapshot_id,
            parent_id,
            sequence_number,
        ),
    };
    let manifests: Vec<ManifestFile> = carried.into_iter().chain(added.iter().cloned()).collect();
    writer.add_manifests(manifests.iter().cloned())?;
    writer.close().await?;

    let summary = summarize(plan, parent.map(|p| p.summary()), &manifests);
    let builder = Snapshot::builder()
        .with_snapshot_id(plan.snapshot_id)
        .with_parent_snapshot_id(parent_id)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(plan.timestamp_ms)
        .with_manifest_list(path)
        .with_summary(summary)
        .with_schema_id(plan.schema_id);
    Ok(builder.build())
}

/// The standard added-*, deleted-* and total-* properties plus icepipe's ledger and replace load.
fn summarize(
    plan: &SnapshotPlan<'_>,
    parent: Option<&Summary>,
    manifests: &[ManifestFile],
) -> Summary {
    let mut collector = SnapshotSummaryCollector::default();
    for file in plan.data_files {
        collector.add_file(file, plan.schema.clone(), plan.spec.clone());
    }
    for removed in plan.removed {
        collector.remove_file(&removed.file, removed.schema.clone(), removed.spec.clone());
    }
    let mut properties: HashMap<String, String> = collector.build();

    // Live files and rows come from the manifests themselves, so totals stay right even when an
    // earlier writer left them out of its summary.
    let (mut data_files, mut records, mut delete_files) = (0u64, 0u64, 0u64);
    for m in manifests {
        let files = u64::from(m.added_files_count.unwrap_or(0))
            + u64::from(m.existing_files_count.unwrap_or(0));
        match m.content {
            ManifestContentType::Data => {
                data_files += files;
                records += m.added_rows_count.unwrap_or(0) + m.existing_rows_count.unwrap_or(0);
            }
            ManifestContentType::Deletes => delete_files += files,
        }
    }
    properties.insert("total-data-files".into(), data_files.to_string());
    properties.insert("total-records".into(), records.to_string());
    properties.insert("total-delete-files".into(), delete_files.to_string());
    let parent_total = |key: &str| -> Option<u64> {
        match parent {
            None => Some(0),
            Some(p) => p
                .additional_properties
                .get(key)
                .and_then(|v| v.parse().ok()),
        }
    };
    let added_size: u64 = plan.data_files.iter().map(|f| f.file_size_in_bytes()).sum();
    let removed_size: u64 = plan
        .removed
        .iter()
        .map(|r| r.file.file_size_in_bytes())
        .sum();
    if let Some(size) = parent_total("total-files-size") {
        let total = (size + added_size).saturating_sub(removed_size);
        properties.insert("total-files-size".into(), total.to_string());
    }
    for (key, content) in [
        ("total-position-deletes", DataContentType::PositionDeletes),
        ("total-equality-deletes", DataContentType::EqualityDeletes),
    ] {
        let rows = |files: &mut dyn Iterator<Item = &DataFile>| -> u64 {
            files
                .filter(|f| f.content_type() == content)
                .map(DataFile::record_count)
                .sum()
        };
        let added = rows(&mut plan.data_files.iter());
        let removed = rows(&mut plan.removed.iter().map(|r| &r.file));
        if let Some(value) = parent_total(key) {
            properties.insert(
                key.into(),
                (value + added).saturating_sub(removed).to_string(),
            );
        }
    }
    properties.extend(plan.extra_summary.iter().cloned());
    if let Some(load) = plan.replace_load {
        properties.insert(REPLACE_LOAD_PROPERTY.into(), load.to_string());
    }
    Summary {
        operation: plan.operation.clone(),
        additional_properties: properties,
    }
}
