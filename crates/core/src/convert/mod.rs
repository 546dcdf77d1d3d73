//! Converting raw Parquet objects into one table: probe every footer, create or evolve the table,
//! stream each object into data files, and commit them all in one snapshot, exactly once: an
//! append, or an overwrite when objects of a `replace` load come along (objects of a load older
//! than the table's are superseded and never written).
//!
//! Objects that cannot be converted are reported per object (permanent or transient) and, with
//! [`OnInvalid::Skip`], left out while the rest commit; with [`OnInvalid::Abort`] one bad object
//! stops the whole call before anything is committed.

mod compression;
mod int96;
pub mod probe;
pub mod reader;
pub mod rows;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::catalog::{CatalogError, CreateTable, LoadedTable, RestCatalog};
use crate::clock::Clock;
use crate::commit::ledger::committed_objects;
use crate::commit::outcome::{ObjectFailure, SupersededObject, TableOutcome};
use crate::commit::replace::{triage, Offered};
use crate::commit::{commit, CommitError, PendingCommit, PendingObject, DEFAULT_COMMIT_ATTEMPTS};
use crate::raw::error_record::FailureKind;
use crate::raw::key::TableName;
use crate::raw::object::{RawObject, RawObjectId};
use crate::schema::{evolve, LOADED_AT_COLUMN};
use iceberg::io::FileIO;
use iceberg::spec::{Schema, Transform, UnboundPartitionSpec};
use probe::{probe, ProbedObject};
use writer::TableWriter;

/// Partition field name of new tables: `day(_loaded_at)`.
pub const LOADED_AT_DAY_PARTITION: &str = "_loaded_at_day";
/// How often a conversion starts over when a concurrent writer changed the schema.
const SCHEMA_RACE_ROUNDS: u32 = 3;

/// What to do with objects that cannot be converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInvalid {
    /// Commit nothing and report them (the CLI's default: a backfill is all or nothing).
    Abort,
    /// Commit the others and report them (the Worker: one bad file must not hold up a batch).
    Skip,
}

#[derive(Debug, Clone)]
pub struct ConvertOptions {
    pub on_invalid: OnInvalid,
    pub commit_attempts: u32,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        Self {
            on_invalid: OnInvalid::Abort,
            commit_attempts: DEFAULT_COMMIT_ATTEMPTS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Boxed: commit errors are large and conversions return `Result` everywhere.
    #[error(transparent)]
    Commit(Box<CommitError>),
    #[error("table {table}: {count} object(s) cannot be converted, nothing committed:\n  {list}", count = failures.len(), list = failures.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("\n  "))]
    Rejected {
        table: String,
        failures: Vec<ObjectFailure>,
    },
    #[error("table {table}: {reason}")]
    Table { table: String, reason: String },
}

impl From<CommitError> for ConvertError {
    fn from(err: CommitError) -> Self {
        ConvertError::Commit(Box::new(err))
    }
}

impl ConvertError {
    /// Whether the same call may succeed later (catalog or storage trouble, races).
    pub fn is_transient(&self) -> bool {
        match self {
            ConvertError::Catalog(e) => e.is_transient(),
            ConvertError::Commit(e) => e.is_transient(),
            ConvertError::Rejected { failures, .. } => {
                failures.iter().all(|f| f.kind == FailureKind::Transient)
            }
            ConvertError::Table { .. } => false,
        }
    }
}

/// Converts raw objects into tables of one catalog.
#[derive(Debug, Clone)]
pub struct Converter {
    pub catalog: Arc<RestCatalog>,
    pub file_io: FileIO,
    pub clock: Arc<dyn Clock>,
    pub options: ConvertOptions,
}

impl Converter {
    /// Converts `objects` into `table` with one snapshot. Objects the table already holds are
    /// skipped; per-object failures are reported in the outcome (or abort, per the options).
    pub async fn convert(
        &self,
        table: &TableName,
        objects: Vec<RawObject>,
    ) -> Result<TableOutcome, ConvertError> {
        let mut round = 1;
        loop {
            match self.convert_once(table, objects.clone()).await {
                Err(ConvertError::Commit(e))
                    if matches!(*e, CommitError::SchemaChanged { .. })
                        && round < SCHEMA_RACE_ROUNDS =>
                {
                    round += 1
                }
                result => return result,
            }
        }
    }

    async fn convert_once(
        &self,
        table: &TableName,
        objects: Vec<RawObject>,
    ) -> Result<TableOutcome, ConvertError> {
        let ident = table.to_ident();
        let mut outcome = TableOutcome {
            table: table.to_string(),
            ..Default::default()
        };
        let started = self.clock.now_ms();
        let existing = match self.catalog.load_table(&ident).await {
            Ok(loaded) => Some(loaded),
            Err(CatalogError::TableNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let held = existing
            .as_ref()
            .map(|t| committed_objects(&t.metadata))
            .unwrap_or_default();
        let mut seen = HashSet::new();
        let mut todo = Vec::new();
        for object in objects {
            let id = object.id();
            if held.contains(&id) {
                outcome.skipped.push(object.location());
            } else if seen.insert(id) {
                todo.push(object);
            }
        }
        outcome.timings_ms.load = self.clock.now_ms() - started;
        if todo.is_empty() {
            return Ok(outcome);
        }

        let started = self.clock.now_ms();
        let mut probed = Vec::new();
        for object in todo {
            match probe(object).await {
                Ok(p) => probed.push(p),
                Err(failure) => outcome.failed.push(failure),
            }
        }
        outcome.timings_ms.probe = self.clock.now_ms() - started;
        self.abort_if_rejected(&outcome)?;
        let probed = drop_superseded(existing.as_ref(), probed, &mut outcome);
        let Some(first) = probed.first() else {
            return Ok(outcome);
        };

        let base = match existing {
            Some(loaded) => loaded,
            None => {
                outcome.created_table = true;
                self.create_table(table, &first.schema).await?
            }
        };
        let (schema, accepted) = self.fit_schema(&base, probed, &mut outcome);
        self.abort_if_rejected(&outcome)?;
        if accepted.is_empty() {
            return Ok(outcome);
        }

        let started = self.clock.now_ms();
        let writer = TableWriter::new(self.file_io.clone(), &base.metadata, Arc::new(schema))
            .map_err(|e| ConvertError::Table {
                table: table.to_string(),
                reason: format!("cannot set up the data file writer: {e}"),
            })?;
        let mut written: Vec<PendingObject> = Vec::new();
        for p in &accepted {
            match writer.write(p).await {
                Ok(files) => {
                    written.push(PendingObject {
                        id: p.object.id(),
                        location: p.object.location(),
                        replace_load: p.load.replace_load().map(str::to_string),
                        files,
                    });
                }
                Err(failure) => outcome.failed.push(failure),
            }
        }
        outcome.timings_ms.write = self.clock.now_ms() - started;
        self.abort_if_rejected(&outcome)?;
        if written.is_empty() {
            return Ok(outcome);
        }

        let started = self.clock.now_ms();
        let pending = PendingCommit {
            table: ident,
            schema: writer.schema().clone(),
            spec: writer.spec().clone(),
            objects: written,
        };
        commit(
            &self.catalog,
            &self.file_io,
            self.clock.as_ref(),
            base,
            &pending,
            self.options.commit_attempts,
            &mut outcome,
        )
        .await?;
        outcome.timings_ms.commit = self.clock.now_ms() - started;
        Ok(outcome)
    }

    fn abort_if_rejected(&self, outcome: &TableOutcome) -> Result<(), ConvertError> {
        if self.options.on_invalid == OnInvalid::Abort && !outcome.failed.is_empty() {
            return Err(ConvertError::Rejected {
                table: outcome.table.clone(),
                failures: outcome.failed.clone(),
            });
        }
        Ok(())
    }

    /// Folds every object's schema into the table's; objects that would need a lossy change
    /// are rejected and the others go on.
    fn fit_schema(
        &self,
        base: &LoadedTable,
        probed: Vec<ProbedObject>,
        outcome: &mut TableOutcome,
    ) -> (Schema, Vec<ProbedObject>) {
        let mut schema = base.metadata.current_schema().as_ref().clone();
        let mut last_column_id = base.metadata.last_column_id();
        let mut accepted = Vec::new();
        for p in probed {
            match evolve(&schema, &p.schema, last_column_id) {
                Ok(evolution) => {
                    if let Some(next) = evolution.schema {
                        last_column_id = last_column_id.max(next.highest_field_id());
                        schema = next;
                        outcome.schema_changes.extend(evolution.changes);
                    }
                    accepted.push(p);
                }
                Err(e) => outcome.failed.push(ObjectFailure::new(
                    &p.object,
                    FailureKind::Permanent,
                    format!("incompatible schema change: {e}"),
                )),
            }
        }
        (schema, accepted)
    }

    /// Creates the table (and its namespaces) partitioned by `day(_loaded_at)`; a concurrent
    /// creator's table is loaded and used instead.
    async fn create_table(
        &self,
        table: &TableName,
        schema: &Schema,
    ) -> Result<LoadedTable, ConvertError> {
        let table_error = |reason: String| ConvertError::Table {
            table: table.to_string(),
            reason,
        };
        self.catalog
            .ensure_namespace(&table.namespace_ident())
            .await?;
        let loaded_at = schema
            .field_by_name(LOADED_AT_COLUMN)
            .ok_or_else(|| table_error(format!("schema has no {LOADED_AT_COLUMN} column")))?;
        let spec = UnboundPartitionSpec::builder()
            .add_partition_field(loaded_at.id, LOADED_AT_DAY_PARTITION, Transform::Day)
            .map_err(|e| table_error(format!("invalid partition spec: {e}")))?
            .build();
        let mut create = CreateTable::new(schema.clone());
        create.partition_spec = Some(spec);
        create.properties = HashMap::from([
            ("format-version".to_string(), "2".to_string()),
            (
                "write.parquet.compression-codec".to_string(),
                "zstd".to_string(),
            ),
        ]);
        Ok(self.catalog.create_table(&table.to_ident(), create).await?)
    }
}

/// Leaves out, before anything is written, objects of a replace load that the table's load or a
/// newer load in the same call supersedes (the commit checks again on the table it commits to).
fn drop_superseded(
    existing: Option<&LoadedTable>,
    probed: Vec<ProbedObject>,
    outcome: &mut TableOutcome,
) -> Vec<ProbedObject> {
    let ids: Vec<RawObjectId> = probed.iter().map(|p| p.object.id()).collect();
    let offered: Vec<Offered<'_>> = probed
        .iter()
        .zip(&ids)
        .map(|(p, id)| Offered {
            id,
            replace_load: p.load.replace_load(),
        })
        .collect();
    let sorted = triage(existing.map(|t| &t.metadata), &offered);
    for s in &sorted.superseded {
        let location = probed[s.index].object.location();
        outcome.superseded.push(SupersededObject::new(
            location,
            &ids[s.index],
            &s.load,
            &s.by_load,
        ));
    }
    let left_out: HashSet<usize> = sorted.superseded.iter().map(|s| s.index).collect();
    probed
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !left_out.contains(i))
        .map(|(_, p)| p)
        .collect()
}
