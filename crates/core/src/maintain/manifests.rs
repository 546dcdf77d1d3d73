//! Manifest merging with Iceberg's RewriteManifests semantics: small data manifests of one
//! partition spec are rewritten into fewer, every live entry EXISTING with the snapshot id and
//! sequence numbers it had; a `replace` snapshot that changes no data. Keeps the cost of planning
//! a scan (and of our own commits, which carry the manifest list forward) flat.

use std::collections::BTreeMap;
use std::sync::Arc;

use iceberg::io::FileIO;
use iceberg::spec::{ManifestContentType, ManifestFile, TableMetadata};

use crate::commit::manifest::manifest_writer;
use crate::commit::overwrite::no_sequence;

use super::settings::MaintenanceSettings;

/// Groups of manifests to merge into one each (`None`: few enough manifests already).
pub fn plan_merge(
    manifests: &[ManifestFile],
    settings: &MaintenanceSettings,
) -> Option<Vec<Vec<ManifestFile>>> {
    if manifests.len() <= settings.max_manifests {
        return None;
    }
    let mut by_spec: BTreeMap<i32, Vec<&ManifestFile>> = BTreeMap::new();
    for m in manifests {
        if m.content == ManifestContentType::Data
            && (m.manifest_length as u64) < settings.manifest_target_size
        {
            by_spec.entry(m.partition_spec_id).or_default().push(m);
        }
    }
    let mut groups = Vec::new();
    for (_, mut small) in by_spec {
        small.sort_by_key(|m| m.sequence_number);
        let mut group: Vec<ManifestFile> = Vec::new();
        let mut bytes = 0u64;
        for m in small {
            if !group.is_empty() && bytes + m.manifest_length as u64 > settings.manifest_target_size
            {
                groups.push(std::mem::take(&mut group));
                bytes = 0;
            }
            bytes += m.manifest_length as u64;
            group.push(m.clone());
        }
        groups.push(group);
    }
    groups.retain(|g| g.len() > 1);
    (!groups.is_empty()).then_some(groups)
}

/// Writes one manifest holding every live entry of `group` as EXISTING.
pub async fn merge_group(
    file_io: &FileIO,
    base: &TableMetadata,
    snapshot_id: i64,
    group: &[ManifestFile],
) -> iceberg::Result<ManifestFile> {
    let mut writer = None;
    for manifest in group {
        let loaded = manifest.load_manifest(file_io).await?;
        let (entries, meta) = loaded.into_parts();
        let writer = match &mut writer {
            Some(w) => w,
            None => writer.insert(manifest_writer(
                file_io,
                base,
                snapshot_id,
                meta.schema().clone(),
                Arc::new(meta.partition_spec().clone()),
                "m2",
                ManifestContentType::Data,
            )?),
        };
        for entry in entries.iter().filter(|e| e.is_alive()) {
            let sequence_number = entry.sequence_number().ok_or_else(|| no_sequence(entry))?;
            let added_by = entry.snapshot_id().ok_or_else(|| no_sequence(entry))?;
            writer.add_existing_file(
                entry.data_file().clone(),
                added_by,
                sequence_number,
                entry.file_sequence_number.or(Some(sequence_number)),
            )?;
        }
    }
    writer
        .ok_or_else(|| {
            iceberg::Error::new(iceberg::ErrorKind::Unexpected, "an empty manifest group")
        })?
        .write_manifest_file()
        .await
}
