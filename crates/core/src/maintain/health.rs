//! A table's health: the sizes that decide how fast it is to read and to commit to, and what
//! maintenance would do next (`icepipe tables --health`, the convert Worker's `GET /tables`).

use std::collections::BTreeMap;

use iceberg::io::FileIO;
use serde::Serialize;

use super::inventory::Inventory;
use super::{MaintainError, MaintenancePlan, MaintenanceSettings};
use crate::catalog::LoadedTable;
use crate::commit::ledger::{Ledger, LedgerStats};

#[derive(Debug, Clone, Serialize)]
pub struct TableHealth {
    pub metadata_json_bytes: u64,
    pub snapshots: usize,
    pub manifests: usize,
    pub data_files: usize,
    pub delete_files: usize,
    /// Rows in data files, and rows of them position delete files delete (merge-on-read; a
    /// compaction drops them).
    pub records: u64,
    pub deleted_records: u64,
    pub data_bytes: u64,
    pub average_file_bytes: u64,
    /// Partitions (e.g. days) with more than one small file, and how many they hold.
    pub small_files_per_partition: BTreeMap<String, usize>,
    pub max_files_in_a_partition: usize,
    pub oldest_snapshot_ms: Option<i64>,
    pub last_commit_age_ms: Option<i64>,
    pub ledger: LedgerStats,
    /// What maintenance would do next, in words.
    pub next_maintenance: Vec<String>,
}

pub async fn table_health(
    file_io: &FileIO,
    table: &LoadedTable,
    now_ms: i64,
) -> Result<TableHealth, MaintainError> {
    let meta = &table.metadata;
    let metadata_json_bytes = match &table.metadata_location {
        Some(location) => file_io.new_input(location)?.metadata().await?.size,
        None => 0,
    };
    let inventory = Inventory::of_current(file_io, meta).await?;
    let settings = MaintenanceSettings::from_properties(meta.properties());
    let plan = MaintenancePlan::of(meta, &inventory, &settings, now_ms);
    let data_bytes: u64 = inventory.data_files.iter().map(|f| f.size()).sum();
    let records: u64 = inventory.data_files.iter().map(|f| f.rows()).sum();
    let by_partition = inventory.by_partition();
    let small_files_per_partition = by_partition
        .iter()
        .map(|(p, files)| {
            let small = files
                .iter()
                .filter(|f| f.size() < settings.small_file_bytes())
                .count();
            (p.to_string(), small)
        })
        .filter(|(_, small)| *small > 1)
        .collect();
    let ledger = Ledger::load(file_io, meta).await?.stats();
    Ok(TableHealth {
        metadata_json_bytes,
        snapshots: meta.snapshots().len(),
        manifests: inventory.manifests.len(),
        data_files: inventory.data_files.len(),
        delete_files: inventory.delete_files.len(),
        records,
        deleted_records: inventory.delete_files.iter().map(|f| f.rows()).sum(),
        data_bytes,
        average_file_bytes: data_bytes
            .checked_div(inventory.data_files.len() as u64)
            .unwrap_or(0),
        small_files_per_partition,
        max_files_in_a_partition: by_partition.values().map(Vec::len).max().unwrap_or(0),
        oldest_snapshot_ms: meta.snapshots().map(|s| s.timestamp_ms()).min(),
        last_commit_age_ms: meta.current_snapshot().map(|s| now_ms - s.timestamp_ms()),
        ledger,
        next_maintenance: plan.describe(),
    })
}
