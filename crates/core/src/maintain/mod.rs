//! Table maintenance, owned by icepipe and safe next to its writers: expire snapshots, merge
//! manifests, compact small files, remove orphan files. Every change that commits is a standard
//! Iceberg operation committed through the table's committer (its pace, the catalog budget,
//! assert-table-uuid + assert-ref-snapshot-id, recomputed after a lost race). Work is done in
//! steps (one commit, or one orphan sweep), so a Worker invocation runs one and the next resumes.
//! See docs/maintenance.md.

pub mod compact;
pub mod expire;
pub mod health;
pub mod inventory;
pub mod manifests;
pub mod orphans;
pub mod settings;

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use iceberg::spec::{Operation, SnapshotReference, SnapshotRetention, TableMetadata};
use iceberg::TableUpdate;
use serde::Serialize;
use uuid::Uuid;

use crate::catalog::{CatalogError, LoadedTable};
use crate::commit::ledger::{Ledger, LedgerError, LedgerUpdate};
use crate::commit::snapshot::{parent_manifests, write_manifest, write_snapshot, SnapshotPlan};
use crate::commit::{new_snapshot_id, overwrite, CommitError, MAIN_BRANCH};
use crate::committer::store::CommitterStore;
use crate::committer::table::{
    ChangeOutcome, CommitContext, MaintenanceChange, PreparedChange, TableCommitter,
};
use crate::committer::CommitterError;
use crate::storage::{ObjectUrl, StorageError, StoreResolver};
use compact::{plan_compaction, rewrite, CompactionGroup};
use expire::snapshots_to_expire;
use inventory::{referenced_files, Inventory};
use manifests::{merge_group, plan_merge};
pub use settings::MaintenanceSettings;

#[derive(Debug, thiserror::Error)]
pub enum MaintainError {
    #[error("table metadata: {0}")]
    Iceberg(#[from] iceberg::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Committer(#[from] CommitterError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl MaintainError {
    pub fn is_transient(&self) -> bool {
        match self {
            MaintainError::Iceberg(_) | MaintainError::Storage(_) => true,
            MaintainError::Ledger(e) => e.is_transient(),
            MaintainError::Committer(e) => e.is_transient(),
            MaintainError::Catalog(e) => e.is_transient(),
        }
    }
}

impl MaintainError {
    /// As the table's coordinator reports it across the wire.
    pub fn into_committer_error(self, table: &str) -> CommitterError {
        match self {
            MaintainError::Committer(e) => e,
            MaintainError::Catalog(e) => e.into(),
            other if other.is_transient() => CommitterError::Unavailable {
                table: table.to_string(),
                reason: format!("maintenance: {other}"),
            },
            other => CommitterError::Refused {
                table: table.to_string(),
                reason: format!("maintenance: {other}"),
            },
        }
    }
}

/// The kinds of step, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    ExpireSnapshots,
    MergeManifests,
    Compact,
    RemoveOrphans,
}

/// What maintenance would do next on a table state (health pages, `--dry-run`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaintenancePlan {
    pub expire_snapshots: Vec<i64>,
    /// Manifests to merge and how many they become.
    pub merge_manifests: Option<(usize, usize)>,
    /// Partitions to compact: (partition, files, bytes).
    pub compact: Vec<(String, usize, u64)>,
    /// Orphan removal runs after the steps that commit (it needs a listing to plan).
    pub remove_orphans: bool,
}

impl MaintenancePlan {
    pub fn of(
        metadata: &TableMetadata,
        inventory: &Inventory,
        settings: &MaintenanceSettings,
        now_ms: i64,
    ) -> Self {
        let expire = if settings.expire_snapshots {
            snapshots_to_expire(metadata, settings, now_ms)
        } else {
            Vec::new()
        };
        let merge = settings
            .merge_manifests
            .then(|| plan_merge(&inventory.manifests, settings))
            .flatten()
            .map(|groups| (groups.iter().map(Vec::len).sum(), groups.len()));
        let compact = if settings.compact {
            plan_compaction(metadata, inventory, settings)
                .iter()
                .map(|g| (g.partition.clone(), g.files.len(), g.bytes()))
                .collect()
        } else {
            Vec::new()
        };
        Self {
            expire_snapshots: expire,
            merge_manifests: merge,
            compact,
            remove_orphans: settings.remove_orphans,
        }
    }

    /// The next step that commits, if any.
    pub fn next_commit(&self) -> Option<StepKind> {
        if !self.expire_snapshots.is_empty() {
            Some(StepKind::ExpireSnapshots)
        } else if self.merge_manifests.is_some() {
            Some(StepKind::MergeManifests)
        } else if !self.compact.is_empty() {
            Some(StepKind::Compact)
        } else {
            None
        }
    }

    /// One line per thing to do, for people.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.expire_snapshots.is_empty() {
            out.push(format!(
                "expire {} snapshot(s)",
                self.expire_snapshots.len()
            ));
        }
        if let Some((from, to)) = self.merge_manifests {
            out.push(format!("merge {from} manifests into {to}"));
        }
        for (partition, files, bytes) in &self.compact {
            out.push(format!(
                "compact {files} files ({bytes} bytes) of {partition}"
            ));
        }
        if self.remove_orphans {
            out.push("remove orphan files older than the grace period".into());
        }
        out
    }
}

/// What one step did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StepReport {
    pub table: String,
    pub step: StepKind,
    pub dry_run: bool,
    /// The snapshot the step committed (compaction, manifest merge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
    pub snapshots_expired: usize,
    pub manifests_merged: usize,
    pub files_rewritten: usize,
    pub files_written: usize,
    pub files_deleted: usize,
    pub bytes_deleted: u64,
    pub commit_attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl StepReport {
    fn new(table: &str, step: StepKind, dry_run: bool) -> Self {
        Self {
            table: table.to_string(),
            step,
            dry_run,
            snapshot_id: None,
            snapshots_expired: 0,
            manifests_merged: 0,
            files_rewritten: 0,
            files_written: 0,
            files_deleted: 0,
            bytes_deleted: 0,
            commit_attempts: 0,
            detail: None,
        }
    }
}

/// Runs maintenance steps on one table through its committer.
pub struct Maintainer<'a, S: CommitterStore> {
    pub ctx: CommitContext<'a>,
    pub committer: &'a TableCommitter<S>,
    /// The table's storage (orphan removal lists the bucket holding its location).
    pub stores: Arc<dyn StoreResolver>,
}

impl<S: CommitterStore> Maintainer<'_, S> {
    fn table(&self) -> String {
        self.committer.table().to_string()
    }

    /// The table, its inventory, its settings and what maintenance would do next.
    pub async fn plan(
        &self,
    ) -> Result<(LoadedTable, Inventory, MaintenanceSettings, MaintenancePlan), MaintainError> {
        let base = self.ctx.catalog.load_table(self.committer.table()).await?;
        let inventory = Inventory::of_current(self.ctx.file_io, &base.metadata).await?;
        let settings = MaintenanceSettings::from_properties(base.metadata.properties());
        let plan = MaintenancePlan::of(
            &base.metadata,
            &inventory,
            &settings,
            self.ctx.clock.now_ms(),
        );
        Ok((base, inventory, settings, plan))
    }

    /// Runs the next step (at most one commit, or one orphan sweep once nothing is left to
    /// commit); `None` when there is nothing to do. `orphans` allows the sweep.
    pub async fn step(
        &self,
        dry_run: bool,
        orphans: bool,
    ) -> Result<Option<StepReport>, MaintainError> {
        let (base, _, settings, plan) = self.plan().await?;
        let table = self.table();
        let Some(kind) = plan.next_commit() else {
            if orphans && settings.remove_orphans {
                return self
                    .remove_orphans(&base, &settings, dry_run)
                    .await
                    .map(Some);
            }
            return Ok(None);
        };
        let mut report = StepReport::new(&table, kind, dry_run);
        if dry_run {
            report.detail = Some(plan.describe().join("; "));
            return Ok(Some(report));
        }
        let ctx = self.ctx;
        let outcome = match kind {
            StepKind::ExpireSnapshots => {
                self.committer
                    .commit_change(ctx, &ExpireChange { ctx, settings })
                    .await?
            }
            StepKind::MergeManifests => {
                self.committer
                    .commit_change(ctx, &MergeChange { ctx, settings })
                    .await?
            }
            StepKind::Compact => {
                self.committer
                    .commit_change(ctx, &CompactChange { ctx, settings })
                    .await?
            }
            StepKind::RemoveOrphans => unreachable!("not a commit"),
        };
        let ChangeOutcome::Applied {
            before,
            after,
            attempts,
        } = outcome
        else {
            report.detail = Some("nothing to do on the table as it is now".into());
            return Ok(Some(report));
        };
        report.commit_attempts = attempts;
        let new_snapshot = after
            .metadata
            .current_snapshot()
            .filter(|s| before.metadata.current_snapshot_id() != Some(s.snapshot_id()));
        report.snapshot_id = new_snapshot.map(|s| s.snapshot_id());
        if let Some(summary) = new_snapshot.map(|s| &s.summary().additional_properties) {
            let count = |k: &str| {
                summary
                    .get(k)
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0)
            };
            report.manifests_merged = count("manifests-replaced");
            report.files_rewritten = count("deleted-data-files");
            report.files_written = count("added-data-files");
        }
        if kind == StepKind::ExpireSnapshots {
            let (expired, deleted, bytes) = self.clean_expired(&before, &after).await?;
            report.snapshots_expired = expired;
            report.files_deleted = deleted;
            report.bytes_deleted = bytes;
        }
        Ok(Some(report))
    }

    /// Deletes files only the expired snapshots referenced (as Iceberg's ExpireSnapshots and
    /// R2's managed expiration do).
    async fn clean_expired(
        &self,
        before: &LoadedTable,
        after: &LoadedTable,
    ) -> Result<(usize, usize, u64), MaintainError> {
        let file_io = self.ctx.file_io;
        let remaining: BTreeSet<i64> = after
            .metadata
            .snapshots()
            .map(|s| s.snapshot_id())
            .collect();
        let mut candidates: BTreeSet<String> = BTreeSet::new();
        let mut expired = 0;
        for snapshot in before.metadata.snapshots() {
            if remaining.contains(&snapshot.snapshot_id()) {
                continue;
            }
            expired += 1;
            candidates.insert(snapshot.manifest_list().to_string());
            let manifests =
                inventory::manifest_list(file_io, &before.metadata, snapshot.manifest_list())
                    .await?;
            for manifest in manifests {
                // Snapshots share most manifests: each is read once.
                if !candidates.insert(manifest.manifest_path.clone()) {
                    continue;
                }
                let loaded = manifest.load_manifest(file_io).await?;
                candidates.extend(loaded.entries().iter().map(|e| e.file_path().to_string()));
            }
        }
        let referenced =
            referenced_files(file_io, &after.metadata, after.metadata_location.as_deref()).await?;
        let mut deleted = 0;
        let mut bytes = 0;
        for path in expire::unreferenced(candidates, &referenced) {
            // Already gone (another tool's cleanup): nothing to do.
            let Ok(meta) = file_io.new_input(&path)?.metadata().await else {
                continue;
            };
            file_io.delete(&path).await?;
            deleted += 1;
            bytes += meta.size;
        }
        Ok((expired, deleted, bytes))
    }

    /// Deletes files under the table's location that nothing references and that are older
    /// than the grace period (a commit in progress may be about to reference a young one).
    async fn remove_orphans(
        &self,
        base: &LoadedTable,
        settings: &MaintenanceSettings,
        dry_run: bool,
    ) -> Result<StepReport, MaintainError> {
        let mut report = StepReport::new(&self.table(), StepKind::RemoveOrphans, dry_run);
        let referenced = referenced_files(
            self.ctx.file_io,
            &base.metadata,
            base.metadata_location.as_deref(),
        )
        .await?;
        let cutoff = self.ctx.clock.now_ms() - settings.orphan_grace_ms;
        let location = base.metadata.location();
        let bucket = ObjectUrl::parse(location)
            .map(|u| u.bucket)
            .ok_or_else(|| {
                StorageError::other(location, "the table location is not an s3:// URL")
            })?;
        let store = self.stores.store_for_bucket(&bucket)?;
        let orphans = orphans::find(
            store.as_ref(),
            base.metadata.location(),
            &referenced,
            cutoff,
        )
        .await?;
        // Bounded per step (subrequests of a Worker invocation); the next sweep goes on.
        for orphan in orphans.iter().take(orphans::MAX_DELETES_PER_STEP) {
            if !dry_run {
                match store.delete(&orphan.key).await {
                    Ok(()) | Err(StorageError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            report.files_deleted += 1;
            report.bytes_deleted += orphan.size;
        }
        Ok(report)
    }

    /// Runs steps until nothing is left or `max_steps` ran; orphans last.
    pub async fn run(
        &self,
        dry_run: bool,
        max_steps: usize,
    ) -> Result<Vec<StepReport>, MaintainError> {
        let mut reports = Vec::new();
        if dry_run {
            if let Some(report) = self.step(true, false).await? {
                reports.push(report);
            }
            let (base, _, settings, _) = self.plan().await?;
            if settings.remove_orphans {
                reports.push(self.remove_orphans(&base, &settings, true).await?);
            }
            return Ok(reports);
        }
        while reports.len() < max_steps {
            let Some(report) = self.step(false, true).await? else {
                break;
            };
            let done = report.step == StepKind::RemoveOrphans
                || (report.snapshot_id.is_none() && report.snapshots_expired == 0);
            reports.push(report);
            if done {
                break;
            }
        }
        Ok(reports)
    }
}

/// The ledger carried into a maintenance snapshot: a new index (no objects added) so that the
/// snapshot points at it and, in a replace-disposition table, joins the current load.
async fn carry_ledger(
    ctx: CommitContext<'_>,
    base: &TableMetadata,
    snapshot_id: i64,
) -> Result<LedgerUpdate, CommitterError> {
    let ledger = Ledger::load(ctx.file_io, base)
        .await
        .map_err(|e| ledger_error(base, e))?;
    let replace = ledger.replace_after(snapshot_id, None);
    ledger
        .record(ctx.file_io, base, &[], snapshot_id, replace)
        .await
        .map_err(|e| ledger_error(base, e))
}

fn ledger_error(base: &TableMetadata, source: LedgerError) -> CommitterError {
    CommitError::Ledger {
        table: base.location().to_string(),
        source,
    }
    .into()
}

fn metadata_error(base: &TableMetadata, source: iceberg::Error) -> CommitterError {
    CommitError::Metadata {
        table: base.location().to_string(),
        source,
    }
    .into()
}

/// The updates that add a maintenance snapshot and move main to it.
pub(crate) fn snapshot_updates(
    snapshot: iceberg::spec::Snapshot,
    ledger: &LedgerUpdate,
) -> Vec<TableUpdate> {
    let snapshot_id = snapshot.snapshot_id();
    vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_string(),
            reference: SnapshotReference::new(
                snapshot_id,
                SnapshotRetention::branch(None, None, None),
            ),
        },
        TableUpdate::SetProperties {
            updates: [ledger.table_property()].into(),
        },
    ]
}

fn plan_for<'a>(
    base: &TableMetadata,
    ctx: CommitContext<'_>,
    snapshot_id: i64,
    data_files: &'a [iceberg::spec::DataFile],
    removed: &'a [overwrite::RemovedFile],
    extra_summary: &'a [(String, String)],
) -> SnapshotPlan<'a> {
    SnapshotPlan {
        snapshot_id,
        schema_id: base.current_schema_id(),
        timestamp_ms: ctx.clock.now_ms().max(base.last_updated_ms() + 1),
        schema: base.current_schema().clone(),
        spec: base.default_partition_spec().clone(),
        operation: Operation::Replace,
        data_files,
        removed,
        extra_summary,
        replace_load: None,
        attempt: 1,
    }
}

struct ExpireChange<'a> {
    ctx: CommitContext<'a>,
    settings: MaintenanceSettings,
}

impl MaintenanceChange for ExpireChange<'_> {
    async fn prepare(&self, base: &LoadedTable) -> Result<Option<PreparedChange>, CommitterError> {
        let meta = &base.metadata;
        let mut expire = snapshots_to_expire(meta, &self.settings, self.ctx.clock.now_ms());
        expire.truncate(expire::MAX_SNAPSHOTS_PER_STEP);
        if expire.is_empty() {
            return Ok(None);
        }
        let mut updates = vec![TableUpdate::RemoveSnapshots {
            snapshot_ids: expire,
        }];
        // Objects still named only by first-format summaries are folded into a ledger index
        // (pointed at by the table property) before the snapshots naming them go.
        let ledger = Ledger::load(self.ctx.file_io, meta)
            .await
            .map_err(|e| ledger_error(meta, e))?;
        if let (true, Some(current)) = (
            ledger.stats().legacy_objects > 0,
            meta.current_snapshot_id(),
        ) {
            let replace = ledger.replace_after(current, None);
            let update = ledger
                .record(self.ctx.file_io, meta, &[], current, replace)
                .await
                .map_err(|e| ledger_error(meta, e))?;
            updates.push(TableUpdate::SetProperties {
                updates: [update.table_property()].into(),
            });
        }
        Ok(Some(PreparedChange {
            requirements: Vec::new(),
            updates,
        }))
    }
}

struct MergeChange<'a> {
    ctx: CommitContext<'a>,
    settings: MaintenanceSettings,
}

impl MaintenanceChange for MergeChange<'_> {
    async fn prepare(&self, base: &LoadedTable) -> Result<Option<PreparedChange>, CommitterError> {
        let meta = &base.metadata;
        let file_io = self.ctx.file_io;
        let manifests = parent_manifests(file_io, meta)
            .await
            .map_err(|e| metadata_error(meta, e))?;
        let Some(groups) = plan_merge(&manifests, &self.settings) else {
            return Ok(None);
        };
        let snapshot_id = new_snapshot_id(meta);
        let merged_paths: BTreeSet<&str> = groups
            .iter()
            .flatten()
            .map(|m| m.manifest_path.as_str())
            .collect();
        let mut kept: Vec<_> = manifests
            .iter()
            .filter(|m| !merged_paths.contains(m.manifest_path.as_str()))
            .cloned()
            .collect();
        let kept_count = kept.len();
        let mut entries = 0u64;
        for group in &groups {
            let merged = merge_group(file_io, meta, snapshot_id, group)
                .await
                .map_err(|e| metadata_error(meta, e))?;
            entries += u64::from(merged.existing_files_count.unwrap_or(0));
            kept.push(merged);
        }
        let ledger = carry_ledger(self.ctx, meta, snapshot_id).await?;
        let mut extra = ledger.summary.clone();
        extra.extend([
            ("manifests-created".to_string(), groups.len().to_string()),
            ("manifests-kept".to_string(), kept_count.to_string()),
            (
                "manifests-replaced".to_string(),
                merged_paths.len().to_string(),
            ),
            ("entries-processed".to_string(), entries.to_string()),
        ]);
        let plan = plan_for(meta, self.ctx, snapshot_id, &[], &[], &extra);
        let snapshot = write_snapshot(file_io, meta, kept, &[], &plan)
            .await
            .map_err(|e| metadata_error(meta, e))?;
        Ok(Some(PreparedChange {
            requirements: Vec::new(),
            updates: snapshot_updates(snapshot, &ledger),
        }))
    }
}

struct CompactChange<'a> {
    ctx: CommitContext<'a>,
    settings: MaintenanceSettings,
}

impl MaintenanceChange for CompactChange<'_> {
    async fn prepare(&self, base: &LoadedTable) -> Result<Option<PreparedChange>, CommitterError> {
        let meta = &base.metadata;
        let file_io = self.ctx.file_io;
        let err = |e| metadata_error(meta, e);
        let inventory = Inventory::of_current(file_io, meta)
            .await
            .map_err(|e| match e {
                MaintainError::Iceberg(e) => metadata_error(meta, e),
                MaintainError::Committer(e) => e,
                other => CommitterError::from(CommitError::Metadata {
                    table: meta.location().to_string(),
                    source: iceberg::Error::new(iceberg::ErrorKind::Unexpected, other.to_string()),
                }),
            })?;
        let Some(group): Option<CompactionGroup> =
            plan_compaction(meta, &inventory, &self.settings)
                .into_iter()
                .next()
        else {
            return Ok(None);
        };
        let snapshot_id = new_snapshot_id(meta);
        let prefix = format!("icepipe-compacted-{}", Uuid::new_v4().simple());
        let compacted = rewrite(file_io, meta, &group, &prefix).await.map_err(err)?;
        let written = compacted.written;
        let mut inputs: HashSet<&str> = group.files.iter().map(|f| f.path()).collect();
        // The delete files applied that name no data file left live are removed with them.
        let still_live: HashSet<&str> = inventory
            .data_files
            .iter()
            .map(|f| f.path())
            .filter(|p| !inputs.contains(p))
            .collect();
        inputs.extend(compacted.applied.obsolete(&still_live));
        let Some(removal) = overwrite::remove_paths(file_io, meta, snapshot_id, &inputs)
            .await
            .map_err(err)?
        else {
            // The files are not all in the current snapshot any more: plan again next time.
            return Ok(None);
        };
        let manifest = write_manifest(
            file_io,
            meta,
            meta.current_schema().clone(),
            meta.default_partition_spec().clone(),
            snapshot_id,
            &written,
        )
        .await
        .map_err(err)?;
        let ledger = carry_ledger(self.ctx, meta, snapshot_id).await?;
        let plan = plan_for(
            meta,
            self.ctx,
            snapshot_id,
            &written,
            &removal.removed,
            &ledger.summary,
        );
        let snapshot = write_snapshot(file_io, meta, removal.manifests, &[manifest], &plan)
            .await
            .map_err(err)?;
        Ok(Some(PreparedChange {
            requirements: Vec::new(),
            updates: snapshot_updates(snapshot, &ledger),
        }))
    }
}
