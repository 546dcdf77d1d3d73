//! The `merge` write disposition: one merge object becomes one snapshot that removes the rows
//! it replaces and adds the object's surviving rows. How rows are removed is the table's
//! `write.merge.mode` ([`mode`]): copy-on-write rewrites the data files holding replaced rows
//! (an `overwrite` snapshot of plain data files every reader reads); merge-on-read writes
//! Iceberg v2 position delete files for them instead (a row-delta snapshot). See docs/merge.md.
//!
//! - The newest version of each key wins, by the version column, never by arrival: incoming
//!   duplicates collapse ([`incoming`]); a table row with a newer version than the incoming one
//!   stays and the incoming row is dropped; older-or-equal table rows are replaced.
//! - A hard-deleted key removes the table's rows of that key with an older-or-equal version.
//! - With a `merge_key`, a load restates whole groups: the table's rows of a group it carries
//!   are replaced up to the group's version, and an older load of a group changes nothing
//!   ([`groups`]).
//! - Files are chosen by manifest bounds of the leading key column and read key-columns first
//!   ([`scan`]), rows already deleted by position delete files skipped; only files that lose
//!   rows are rewritten (one at a time) or get position deletes.
//! - The snapshot records the object in the ledger, atomically: a redelivered or replayed merge
//!   object is held and changes nothing. It is prepared on the table as loaded and committed
//!   through the table's committer (pace, budget, parent assertion); a lost race prepares it
//!   again on the new parent, so files rewritten meanwhile by another merge or a compaction
//!   are never applied twice (and position deletes never name a file that is gone).

pub mod groups;
pub mod incoming;
pub mod keys;
pub mod mode;
pub mod scan;
pub mod tombstones;

use std::collections::HashSet;
use std::sync::Mutex;

use iceberg::io::FileIO;
use iceberg::spec::{DataFile, ManifestFile, Operation, TableMetadata};
use uuid::Uuid;

use crate::catalog::LoadedTable;
use crate::commit::ledger::{Ledger, LedgerError};
use crate::commit::overwrite::RemovedFile;
use crate::commit::snapshot::{parent_manifests, write_manifest, write_snapshot, SnapshotPlan};
use crate::commit::{new_snapshot_id, overwrite, CommitError};
pub use crate::committer::handoff::{MergeOutcome, MergeStats};
use crate::committer::store::CommitterStore;
use crate::committer::table::{
    ChangeOutcome, CommitContext, MaintenanceChange, PreparedChange, TableCommitter,
};
use crate::committer::CommitterError;
use crate::convert::probe::ProbedObject;
use crate::convert::writer::TableWriter;
use crate::deletes::{write_delete_manifests, write_position_deletes, DeletedRows, NewDeleteFile};
use crate::maintain::inventory::{Inventory, LiveFile};
use crate::raw::error_record::FailureKind;
use crate::raw::footer::MergeKeys;
use crate::raw::object::RawObject;
use incoming::Incoming;
use mode::MergeMode;
use scan::{candidates, rewrite, Affected, Scan};
use tombstones::{Remembered, Tombstones};

/// Why a merge could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The merge object cannot be read (storage trouble: may pass later).
    #[error("cannot read merge object {object}: {reason}")]
    Unreadable { object: String, reason: String },
    /// The merge object's rows cannot be merged (a key column missing or null, rows that do
    /// not fit the table): the same object never will.
    #[error("merge object {object}: {reason}")]
    Rows { object: String, reason: String },
    /// A data file of the table cannot be read as the manifests describe it.
    #[error("data file {path}: {reason}")]
    DataFile { path: String, reason: String },
    /// Table files cannot be read or written (storage).
    #[error("table files: {0}")]
    Table(iceberg::Error),
    /// The table has equality delete files (another engine's): icepipe does not apply them, so
    /// a merge could bring their deleted rows back.
    #[error("table {table} has {count} equality delete file(s); icepipe applies position deletes only (compact the table with an engine that applies equality deletes first)")]
    DeleteFiles { table: String, count: usize },
    /// Boxed: ledger errors carry storage errors.
    #[error(transparent)]
    Ledger(Box<LedgerError>),
    /// A table property icepipe reads for merges has a value it cannot use.
    #[error("table property {name} = {value:?}: {reason}")]
    BadProperty {
        name: String,
        value: String,
        reason: String,
    },
    #[error("{reason}")]
    Internal { reason: String },
}

impl From<LedgerError> for MergeError {
    fn from(err: LedgerError) -> Self {
        MergeError::Ledger(Box::new(err))
    }
}

impl MergeError {
    pub fn rows(object: &str, reason: impl std::fmt::Display) -> Self {
        MergeError::Rows {
            object: object.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn data_file(path: &str, reason: impl std::fmt::Display) -> Self {
        MergeError::DataFile {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            MergeError::Unreadable { .. } | MergeError::Table(_) => true,
            MergeError::Ledger(e) => e.is_transient(),
            MergeError::Rows { .. }
            | MergeError::DataFile { .. }
            | MergeError::DeleteFiles { .. }
            | MergeError::BadProperty { .. }
            | MergeError::Internal { .. } => false,
        }
    }

    /// As the table's committer reports it.
    pub fn into_committer_error(self, table: &str) -> CommitterError {
        let reason = self.to_string();
        match self {
            MergeError::Ledger(source) => CommitError::Ledger {
                table: table.to_string(),
                source: *source,
            }
            .into(),
            e if e.is_transient() => CommitterError::Unavailable {
                table: table.to_string(),
                reason,
            },
            _ => CommitterError::Refused {
                table: table.to_string(),
                reason,
            },
        }
    }
}

/// Applies `object` (a merge file) to the table of `committer`: one commit through it, prepared
/// again after a lost race; `Held` when the table's ledger already holds the object. The CLI's
/// committer and the convert Worker's coordinator both run this.
pub async fn apply<S: CommitterStore>(
    committer: &TableCommitter<S>,
    ctx: CommitContext<'_>,
    object: &RawObject,
    keys: &MergeKeys,
) -> Result<MergeOutcome, CommitterError> {
    let table = committer.table().to_string();
    let probed =
        crate::convert::probe::probe(object.clone())
            .await
            .map_err(|failure| match failure.kind {
                FailureKind::Transient => CommitterError::Unavailable {
                    table: table.clone(),
                    reason: failure.to_string(),
                },
                FailureKind::Permanent => CommitterError::Refused {
                    table: table.clone(),
                    reason: failure.to_string(),
                },
            })?;
    let change = MergeChange::new(ctx, &probed, keys);
    Ok(match committer.commit_change(ctx, &change).await? {
        ChangeOutcome::NothingToDo { .. } => MergeOutcome::Held,
        ChangeOutcome::Applied {
            after, attempts, ..
        } => MergeOutcome::Applied {
            snapshot_id: after.metadata.current_snapshot_id().unwrap_or_default(),
            stats: change.stats(),
            attempts,
        },
    })
}

/// Summary keys of a merge snapshot (besides the standard added/deleted counts).
pub const SUMMARY_STALE_KEYS: &str = "icepipe.merge.stale-keys";
pub const SUMMARY_FILES_READ: &str = "icepipe.merge.files-read";
pub const SUMMARY_MODE: &str = "icepipe.merge.mode";
/// Merges with a merge key: groups the load replaced, and groups it carried that the table
/// holds a newer load of.
pub const SUMMARY_GROUPS_REPLACED: &str = "icepipe.merge.groups-replaced";
pub const SUMMARY_STALE_GROUPS: &str = "icepipe.merge.stale-groups";

/// One merge object as a change for the table's committer ([`MaintenanceChange`]): prepared on
/// every attempt from the table as loaded.
pub struct MergeChange<'a> {
    pub ctx: CommitContext<'a>,
    pub object: &'a ProbedObject,
    pub keys: &'a MergeKeys,
    /// What the last prepared attempt does (read once the commit applied).
    pub stats: Mutex<MergeStats>,
}

impl<'a> MergeChange<'a> {
    pub fn new(ctx: CommitContext<'a>, object: &'a ProbedObject, keys: &'a MergeKeys) -> Self {
        Self {
            ctx,
            object,
            keys,
            stats: Mutex::new(MergeStats::default()),
        }
    }

    pub fn stats(&self) -> MergeStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn plan(&self, base: &LoadedTable) -> Result<Option<PreparedChange>, MergeError> {
        let meta = &base.metadata;
        let file_io = self.ctx.file_io;
        let id = self.object.object.id();
        let schema = meta.current_schema().clone();
        let writer =
            TableWriter::new(file_io.clone(), meta, schema.clone()).map_err(MergeError::Table)?;
        let now_ms = self.ctx.clock.now_ms();
        // Everything the plan reads from storage first, at once: each is a round trip or more,
        // and a merge is mostly waiting on them.
        let held = async {
            let ledger = Ledger::load(file_io, meta).await?;
            let holdings = ledger.holdings(file_io, std::slice::from_ref(&id)).await?;
            Ok::<_, MergeError>((holdings.contains(&id), ledger))
        };
        let group_tombstones = async {
            match self.keys.merge_key.is_empty() {
                true => Ok(Tombstones::default()),
                false => Tombstones::load_of(Remembered::Groups, file_io, meta, now_ms).await,
            }
        };
        let inventory = async {
            Inventory::of_current(file_io, meta)
                .await
                .map_err(|e| MergeError::Internal {
                    reason: format!("cannot list the table's files: {e}"),
                })
        };
        let (held, incoming, inventory, tombstones, group_tombstones) = futures::join!(
            held,
            Incoming::read(&writer, self.object, self.keys),
            inventory,
            Tombstones::load(file_io, meta, now_ms),
            group_tombstones,
        );
        // A held object changes nothing, whatever became of it or of the table's other files.
        let (held, ledger) = held?;
        if held {
            return Ok(None);
        }
        let (mut incoming, inventory, mut tombstones) = (incoming?, inventory?, tombstones?);
        let (keys_in, deletes_in) = (incoming.keys(), incoming.deletes());
        // Groups older than the load that last replaced them leave the merge before the table
        // is read: they neither choose files nor replace rows.
        let mut group_tombstones = group_tombstones?;
        let group_tombstones_before = group_tombstones.clone();
        let settled = groups::settle(
            &mut incoming,
            &mut group_tombstones,
            self.keys,
            &self.object.object.location(),
        )?;
        let equality_deletes = inventory.equality_deletes();
        if equality_deletes > 0 {
            return Err(MergeError::DeleteFiles {
                table: meta.location().to_string(),
                count: equality_deletes,
            });
        }
        let mode = MergeMode::of(meta)?;
        let chosen = candidates(
            &inventory.data_files,
            &schema,
            self.keys,
            &incoming.leading_values(),
            &incoming.groups.leading_values(),
        );
        let deleted = DeletedRows::load(file_io, &inventory.delete_files, &chosen)
            .await
            .map_err(MergeError::Table)?;
        let mut scan =
            Scan::of_files(file_io, &schema, &chosen, self.keys, &incoming, &deleted).await?;
        // Keys deleted at a newer-or-equal version than their incoming upsert stay deleted.
        for (key, winner) in incoming.winners() {
            if tombstones.get(key).is_some_and(|v| *v >= winner.version) {
                scan.stale.insert(key.clone());
            }
        }
        scan.stale.extend(settled.stale_keys.iter().cloned());
        let tombstones_before = tombstones.clone();
        for (key, winner) in incoming.winners() {
            match (winner.deletes, scan.stale.contains(key)) {
                (true, false) => tombstones.delete(key.clone(), winner.version.clone()),
                (false, false) => tombstones.revive(key),
                (_, true) => {}
            }
        }
        let snapshot_id = new_snapshot_id(meta);
        let prefix = format!("icepipe-merge-{}", Uuid::new_v4().simple());
        let removal = async {
            match mode {
                MergeMode::CopyOnWrite => {
                    let rewrite = Rewrite {
                        writer: &writer,
                        scan: &scan,
                        deleted: &deleted,
                        live: &inventory.data_files,
                    };
                    copy_on_write(file_io, meta, rewrite, snapshot_id, &prefix).await
                }
                MergeMode::MergeOnRead => merge_on_read(file_io, meta, &scan, &prefix).await,
            }
        };
        let added = async {
            let mut sink =
                crate::convert::writer::BatchSink::new(&writer, &format!("{prefix}-new"))
                    .map_err(MergeError::Table)?;
            for batch in incoming.survivors(&scan.stale)? {
                sink.write(batch).await.map_err(MergeError::Table)?;
            }
            sink.close().await.map_err(MergeError::Table)
        };
        let replace = ledger.replace_after(snapshot_id, None);
        let recorded = async {
            Ok::<_, MergeError>(
                ledger
                    .record(file_io, meta, &[id], snapshot_id, replace)
                    .await?,
            )
        };
        let tombstones_written = futures::future::try_join(
            tombstones.property_update(&tombstones_before, file_io, meta, snapshot_id),
            group_tombstones.property_update(&group_tombstones_before, file_io, meta, snapshot_id),
        );
        // The files the snapshot is made of are independent of each other: written at once.
        let (mut rows, new_files, ledger_update, (key_update, group_update)) =
            futures::try_join!(removal, added, recorded, tombstones_written)?;
        let tombstone_updates = key_update.into_iter().chain(group_update);
        let rows_removed: u64 = scan.affected.iter().map(Affected::dropped).sum();
        let rows_added = new_files.iter().map(DataFile::record_count).sum();
        rows.data_files.extend(new_files);

        let spec = meta.default_partition_spec().clone();
        let data_manifest = async {
            if rows.data_files.is_empty() {
                return Ok(None);
            }
            write_manifest(
                file_io,
                meta,
                schema.clone(),
                spec.clone(),
                snapshot_id,
                &rows.data_files,
            )
            .await
            .map(Some)
        };
        let (mut manifests, data_manifest) = futures::try_join!(
            write_delete_manifests(file_io, meta, snapshot_id, &rows.deletes),
            data_manifest
        )
        .map_err(MergeError::Table)?;
        manifests.extend(data_manifest);
        let mut extra = ledger_update.summary.clone();
        extra.extend([
            (SUMMARY_STALE_KEYS.to_string(), scan.stale.len().to_string()),
            (SUMMARY_FILES_READ.to_string(), scan.files_read.to_string()),
            (SUMMARY_MODE.to_string(), mode.as_str().to_string()),
        ]);
        if !self.keys.merge_key.is_empty() {
            extra.extend([
                (
                    SUMMARY_GROUPS_REPLACED.to_string(),
                    settled.replaced.to_string(),
                ),
                (SUMMARY_STALE_GROUPS.to_string(), settled.stale.to_string()),
            ]);
        }
        let added: Vec<DataFile> = rows
            .data_files
            .iter()
            .chain(rows.deletes.iter().map(|d| &d.file))
            .cloned()
            .collect();
        let plan = SnapshotPlan {
            snapshot_id,
            schema_id: meta.current_schema_id(),
            timestamp_ms: self.ctx.clock.now_ms().max(meta.last_updated_ms() + 1),
            schema,
            spec,
            operation: rows.operation(),
            data_files: &added,
            removed: &rows.removed,
            extra_summary: &extra,
            replace_load: ledger.replace_load(),
            attempt: 1,
        };
        let snapshot = write_snapshot(file_io, meta, rows.carried, &manifests, &plan)
            .await
            .map_err(MergeError::Table)?;
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = MergeStats {
            rows_read: incoming.rows_read,
            keys: keys_in,
            deletes: deletes_in,
            stale: scan.stale.len(),
            groups_replaced: settled.replaced,
            groups_stale: settled.stale,
            rows_added,
            rows_removed,
            files_live: inventory.data_files.len(),
            files_read: scan.files_read,
            files_rewritten: match mode {
                MergeMode::CopyOnWrite => scan.affected.len(),
                MergeMode::MergeOnRead => 0,
            },
            files_added: rows.data_files.len(),
            delete_files_added: rows.deletes.len(),
        };
        let mut updates = crate::maintain::snapshot_updates(snapshot, &ledger_update);
        updates.extend(tombstone_updates);
        Ok(Some(PreparedChange {
            requirements: Vec::new(),
            updates,
        }))
    }
}

impl MaintenanceChange for MergeChange<'_> {
    async fn prepare(&self, base: &LoadedTable) -> Result<Option<PreparedChange>, CommitterError> {
        let table = base.metadata.location().to_string();
        self.plan(base)
            .await
            .map_err(|e| e.into_committer_error(&table))
    }
}

/// How one merge changes the parent's files, before the incoming survivors are added.
struct Rows {
    /// The parent's manifests as the snapshot keeps them.
    carried: Vec<ManifestFile>,
    /// Data files the snapshot adds (rewrites, then the survivors).
    data_files: Vec<DataFile>,
    /// Position delete files the snapshot adds (merge-on-read).
    deletes: Vec<NewDeleteFile>,
    /// Data files the snapshot removes (copy-on-write).
    removed: Vec<RemovedFile>,
}

impl Rows {
    /// The spec's operation: `overwrite` when files are removed or rows deleted alongside new
    /// ones, `delete` for deletes only, `append` when only rows are added.
    fn operation(&self) -> Operation {
        match (
            self.removed.is_empty() && self.deletes.is_empty(),
            self.data_files.is_empty(),
        ) {
            (true, _) => Operation::Append,
            (false, true) if self.removed.is_empty() => Operation::Delete,
            _ => Operation::Overwrite,
        }
    }
}

/// What a copy-on-write merge rewrites from.
struct Rewrite<'a> {
    writer: &'a TableWriter,
    scan: &'a Scan,
    /// The position deletes of the files scanned.
    deleted: &'a DeletedRows,
    /// The table's live data files before the merge.
    live: &'a [LiveFile],
}

/// Copy-on-write: every affected file is written again without its lost rows (and without the
/// rows position deletes had deleted), and removed, with the delete files that name no data
/// file left live.
async fn copy_on_write(
    file_io: &FileIO,
    meta: &TableMetadata,
    rewrite_from: Rewrite<'_>,
    snapshot_id: i64,
    prefix: &str,
) -> Result<Rows, MergeError> {
    let Rewrite {
        writer,
        scan,
        deleted,
        live,
    } = rewrite_from;
    let mut data_files = Vec::new();
    for (n, affected) in scan.affected.iter().enumerate() {
        let file = &affected.file;
        let files = rewrite(
            file_io,
            writer,
            file,
            &affected.lost,
            deleted.of(file.path()),
            &format!("{prefix}-r{n}"),
        )
        .await?;
        let kept: u64 = files.iter().map(DataFile::record_count).sum();
        let dropped = affected.dropped();
        if kept + dropped + affected.deleted_before != file.rows() {
            return Err(MergeError::data_file(
                file.path(),
                format!(
                    "rewriting kept {kept}, dropped {dropped} and left out {} deleted rows of {}: nothing committed",
                    affected.deleted_before,
                    file.rows()
                ),
            ));
        }
        data_files.extend(files);
    }
    let mut rewritten: HashSet<&str> = scan.affected.iter().map(|a| a.file.path()).collect();
    let still_live: HashSet<&str> = live
        .iter()
        .map(LiveFile::path)
        .filter(|p| !rewritten.contains(p))
        .collect();
    rewritten.extend(deleted.obsolete(&still_live));
    let removal = overwrite::remove_paths(file_io, meta, snapshot_id, &rewritten)
        .await
        .map_err(MergeError::Table)?
        .ok_or_else(|| MergeError::Internal {
            reason: "files to rewrite are not in the snapshot they were read from".into(),
        })?;
    Ok(Rows {
        carried: removal.manifests,
        data_files,
        deletes: Vec::new(),
        removed: removal.removed,
    })
}

/// Merge-on-read: the lost rows of the affected files become position delete files (one per
/// partition); every data file stays.
async fn merge_on_read(
    file_io: &FileIO,
    meta: &TableMetadata,
    scan: &Scan,
    prefix: &str,
) -> Result<Rows, MergeError> {
    let lost: Vec<(&LiveFile, &[u64])> = scan
        .affected
        .iter()
        .map(|a| (&a.file, a.lost.as_slice()))
        .collect();
    let deletes = write_position_deletes(file_io, meta, &lost, prefix)
        .await
        .map_err(MergeError::Table)?;
    let carried = parent_manifests(file_io, meta)
        .await
        .map_err(MergeError::Table)?;
    Ok(Rows {
        carried,
        data_files: Vec::new(),
        deletes,
        removed: Vec::new(),
    })
}
