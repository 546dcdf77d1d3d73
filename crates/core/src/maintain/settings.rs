//! Maintenance settings, read from the table's properties (so other tools' settings are honoured)
//! with R2 Data Catalog's managed defaults where it has them.

use std::collections::HashMap;

/// Iceberg's standard snapshot-retention properties.
pub const MAX_SNAPSHOT_AGE_MS: &str = "history.expire.max-snapshot-age-ms";
pub const MIN_SNAPSHOTS_TO_KEEP: &str = "history.expire.min-snapshots-to-keep";
/// Iceberg's target data file size (compaction writes towards it).
pub const TARGET_FILE_SIZE_BYTES: &str = "write.target-file-size-bytes";
/// Iceberg's target manifest size (merged manifests stop growing at it).
pub const MANIFEST_TARGET_SIZE_BYTES: &str = "commit.manifest.target-size-bytes";
/// icepipe's own: turn a step off (`false`) when R2's managed maintenance does it instead.
pub const EXPIRE_ENABLED: &str = "icepipe.maintenance.expire-snapshots";
pub const COMPACT_ENABLED: &str = "icepipe.maintenance.compact";
pub const MERGE_MANIFESTS_ENABLED: &str = "icepipe.maintenance.merge-manifests";
pub const REMOVE_ORPHANS_ENABLED: &str = "icepipe.maintenance.remove-orphans";
/// More live manifests than this in the current snapshot: merge them.
pub const MAX_MANIFESTS: &str = "icepipe.maintenance.max-manifests";
/// A partition with at least this many small files is compacted (Iceberg's min-input-files).
pub const MIN_INPUT_FILES: &str = "icepipe.maintenance.min-input-files";
/// Unreferenced files younger than this are never removed (a commit may be about to use them).
pub const ORPHAN_GRACE_MS: &str = "icepipe.maintenance.orphan-grace-ms";
/// Most bytes of data files one compaction step reads (bounds a Worker invocation).
pub const MAX_COMPACTION_BYTES: &str = "icepipe.maintenance.max-compaction-bytes";

const DAY_MS: i64 = 24 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MaintenanceSettings {
    pub expire_snapshots: bool,
    pub merge_manifests: bool,
    pub compact: bool,
    pub remove_orphans: bool,
    pub max_snapshot_age_ms: i64,
    pub min_snapshots_to_keep: usize,
    pub target_file_size: u64,
    pub manifest_target_size: u64,
    pub max_manifests: usize,
    pub min_input_files: usize,
    pub orphan_grace_ms: i64,
    pub max_compaction_bytes: u64,
}

impl Default for MaintenanceSettings {
    fn default() -> Self {
        Self {
            expire_snapshots: true,
            merge_manifests: true,
            compact: true,
            remove_orphans: true,
            // R2 Data Catalog's managed expiration defaults.
            max_snapshot_age_ms: 30 * DAY_MS,
            min_snapshots_to_keep: 5,
            target_file_size: 512 * 1024 * 1024,
            manifest_target_size: 8 * 1024 * 1024,
            max_manifests: 16,
            min_input_files: 5,
            // Iceberg's DeleteOrphanFiles default.
            orphan_grace_ms: 3 * DAY_MS,
            // Read one file at a time, but written files buffer a row group: a Worker's 128 MB.
            max_compaction_bytes: 32 * 1024 * 1024,
        }
    }
}

impl MaintenanceSettings {
    pub fn from_properties(properties: &HashMap<String, String>) -> Self {
        let d = Self::default();
        let num = |key: &str| {
            properties
                .get(key)
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        let flag = |key: &str, default: bool| {
            properties
                .get(key)
                .map_or(default, |v| !v.trim().eq_ignore_ascii_case("false"))
        };
        Self {
            expire_snapshots: flag(EXPIRE_ENABLED, d.expire_snapshots),
            merge_manifests: flag(MERGE_MANIFESTS_ENABLED, d.merge_manifests),
            compact: flag(COMPACT_ENABLED, d.compact),
            remove_orphans: flag(REMOVE_ORPHANS_ENABLED, d.remove_orphans),
            max_snapshot_age_ms: num(MAX_SNAPSHOT_AGE_MS).unwrap_or(d.max_snapshot_age_ms),
            min_snapshots_to_keep: num(MIN_SNAPSHOTS_TO_KEEP)
                .map_or(d.min_snapshots_to_keep, |v| v.max(1) as usize),
            target_file_size: num(TARGET_FILE_SIZE_BYTES)
                .map_or(d.target_file_size, |v| v.max(1) as u64),
            manifest_target_size: num(MANIFEST_TARGET_SIZE_BYTES)
                .map_or(d.manifest_target_size, |v| v.max(1) as u64),
            max_manifests: num(MAX_MANIFESTS).map_or(d.max_manifests, |v| v.max(1) as usize),
            min_input_files: num(MIN_INPUT_FILES).map_or(d.min_input_files, |v| v.max(2) as usize),
            orphan_grace_ms: num(ORPHAN_GRACE_MS).unwrap_or(d.orphan_grace_ms).max(0),
            max_compaction_bytes: num(MAX_COMPACTION_BYTES)
                .map_or(d.max_compaction_bytes, |v| v.max(1) as u64),
        }
    }

    /// A file smaller than this is "small" (Iceberg's rewrite default: 75% of the target).
    pub fn small_file_bytes(&self) -> u64 {
        self.target_file_size / 4 * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_override_r2_defaults() {
        let d = MaintenanceSettings::from_properties(&HashMap::new());
        assert_eq!(
            (d.max_snapshot_age_ms, d.min_snapshots_to_keep),
            (30 * DAY_MS, 5)
        );
        let props: HashMap<String, String> = [
            (MIN_SNAPSHOTS_TO_KEEP.into(), "1".into()),
            (COMPACT_ENABLED.into(), "false".into()),
            (TARGET_FILE_SIZE_BYTES.into(), "1000".into()),
        ]
        .into();
        let s = MaintenanceSettings::from_properties(&props);
        assert_eq!(s.min_snapshots_to_keep, 1);
        assert!(!s.compact && s.expire_snapshots);
        assert_eq!(s.small_file_bytes(), 750);
    }
}
