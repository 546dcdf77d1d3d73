//! One load of one resource into the raw bucket, whether pulled ([`super::run`]) or pushed
//! ([`super::push`]): records are normalized into tables (child tables, system columns) and
//! written as Parquet parts whenever the buffered tables reach `part_bytes`, so memory stays
//! bounded however large the load.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::config::Nesting;
use super::json_arrow::contract::{ResourceSchema, SchemaContract};
use super::json_arrow::{Normalizer, RecordRefused, SystemColumns};
use super::parquet_out::{PartError, PartWriter};
use super::state::{StateError, StateStore, Versioned};
use crate::raw::footer::{MergeKeys, WriteDisposition};
use crate::raw::limits::MAX_COLUMNS;
use crate::raw::reserved::schema_key;
use crate::storage::ObjectStore;

/// How much one load buffers and how wide its tables may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Estimated buffered bytes at which a part is written.
    pub part_bytes: usize,
    /// Most columns a table may reach ([`MAX_COLUMNS`] unless lowered).
    pub max_columns: usize,
}

impl LoadLimits {
    pub fn with_part_bytes(part_bytes: usize) -> Self {
        Self {
            part_bytes,
            max_columns: MAX_COLUMNS,
        }
    }
}

/// Which stream a load belongs to and how its records are shaped.
#[derive(Debug, Clone, Copy)]
pub struct LoadTarget<'a> {
    pub source: &'a str,
    pub resource: &'a str,
    pub nesting: Nesting,
    pub primary_key: &'a [String],
    pub disposition: WriteDisposition,
    pub contract: SchemaContract,
    /// What a `merge` load merges on (written into every file's footer).
    pub merge: Option<&'a MergeKeys>,
}

/// The resource's recorded schema as read at the start of a load, with its version.
pub type SchemaSnapshot = Versioned<ResourceSchema>;

/// Reads the resource's recorded schema (none yet: empty).
pub async fn load_schema(
    store: Arc<dyn ObjectStore>,
    source: &str,
    resource: &str,
) -> Result<SchemaSnapshot, StateError> {
    StateStore::new(store)
        .load_json(&schema_key(source, resource))
        .await
}

/// The buffered tables of one load and the parts written so far.
#[derive(Debug)]
pub struct LoadWriter {
    normalizer: Normalizer,
    parts: PartWriter,
    part_bytes: usize,
    states: StateStore,
    schema_key: String,
    /// The resource's schema as last read or stored by this load.
    schema: SchemaSnapshot,
}

impl LoadWriter {
    /// A load `load_id` that started at `now` (its rows' `_loaded_at`, its files' date folder),
    /// from the resource's recorded `schema`.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        target: LoadTarget<'_>,
        load_id: &str,
        now: DateTime<Utc>,
        limits: LoadLimits,
        schema: SchemaSnapshot,
    ) -> Self {
        let loaded_at = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        Self {
            normalizer: Normalizer::new(
                target.resource,
                target.nesting,
                target.primary_key.to_vec(),
                SystemColumns::new(load_id, &loaded_at),
                limits.max_columns,
            )
            .with_schema(schema.state.clone().unwrap_or_default(), target.contract),
            states: StateStore::new(store.clone()),
            schema_key: schema_key(target.source, target.resource),
            schema,
            parts: PartWriter::new(
                store,
                target.source,
                target.resource,
                load_id,
                now,
                target.disposition,
                target.merge.cloned(),
            ),
            part_bytes: limits.part_bytes,
        }
    }

    /// Buffers one record, or refuses it (nothing of it buffered) past a limit or the contract.
    pub fn push(&mut self, record: Value) -> Result<(), RecordRefused> {
        self.normalizer.push(record)
    }

    /// Writes the buffered tables as parts once they reach `part_bytes`.
    pub async fn flush_if_full(&mut self) -> Result<(), PartError> {
        if self.normalizer.approx_bytes() >= self.part_bytes {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes whatever is buffered: first the resource's schema with the columns the parts
    /// bring (compare-and-swap: a concurrent load that changed it first makes this one fail,
    /// transient, before any part), then the parts.
    pub async fn flush(&mut self) -> Result<(), PartError> {
        let batches = self
            .normalizer
            .tables_mut()
            .map(|table| Ok((table.name.clone(), PartWriter::take(table)?)))
            .collect::<Result<Vec<_>, PartError>>()?;
        if batches.is_empty() {
            return Ok(());
        }
        self.record_schema().await?;
        for (table, batch) in batches {
            self.parts.write(&table, batch).await?;
        }
        Ok(())
    }

    /// Stores the resource's schema if this load changed it, and reads back the version stored.
    async fn record_schema(&mut self) -> Result<(), StateError> {
        let schema = self.normalizer.schema();
        if self.schema.state.as_ref() == Some(&schema) {
            return Ok(());
        }
        self.states
            .save_json(&self.schema_key, &self.schema, &schema)
            .await?;
        let stored: SchemaSnapshot = self.states.load_json(&self.schema_key).await?;
        if stored.state.as_ref() != Some(&schema) {
            return Err(StateError::Conflict {
                key: self.schema_key.clone(),
            });
        }
        self.schema = stored;
        Ok(())
    }

    /// What this load did to the resource's schema beyond adding columns (for its report).
    pub fn schema_changes(&self) -> Vec<String> {
        self.normalizer
            .changes()
            .into_iter()
            .map(ToString::to_string)
            .collect()
    }

    /// Raw keys written so far, in order.
    pub fn files(&self) -> &[String] {
        &self.parts.files
    }

    /// Rows written so far per table (the resource and its child tables), as the footers of the
    /// files written declare them.
    pub fn rows(&self) -> &BTreeMap<String, u64> {
        &self.parts.rows
    }

    /// Rows the records pushed so far normalized into, per table (what [`Self::rows`] must reach).
    pub fn normalized(&self) -> &BTreeMap<String, u64> {
        self.normalizer.rows_per_table()
    }
}
