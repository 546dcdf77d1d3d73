//! One load of one resource into the raw bucket, whether pulled ([`super::run`]) or pushed
//! ([`super::push`]): records are normalized into tables (child tables, system columns) and
//! written as Parquet parts whenever the buffered tables reach `part_bytes`, so memory stays
//! bounded however large the load.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::config::Nesting;
use super::json_arrow::{Normalizer, SystemColumns};
use super::parquet_out::{PartError, PartWriter};
use crate::raw::footer::WriteDisposition;
use crate::raw::limits::{LimitError, MAX_COLUMNS};
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
}

/// The buffered tables of one load and the parts written so far.
#[derive(Debug)]
pub struct LoadWriter {
    normalizer: Normalizer,
    parts: PartWriter,
    part_bytes: usize,
}

impl LoadWriter {
    /// A load `load_id` that started at `now` (its rows' `_loaded_at`, its files' date folder).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        target: LoadTarget<'_>,
        load_id: &str,
        now: DateTime<Utc>,
        limits: LoadLimits,
    ) -> Self {
        let loaded_at = now.to_rfc3339_opts(SecondsFormat::Micros, true);
        Self {
            normalizer: Normalizer::new(
                target.resource,
                target.nesting,
                target.primary_key.to_vec(),
                SystemColumns::new(load_id, &loaded_at),
                limits.max_columns,
            ),
            parts: PartWriter::new(
                store,
                target.source,
                target.resource,
                load_id,
                now,
                target.disposition,
            ),
            part_bytes: limits.part_bytes,
        }
    }

    /// Buffers one record, or refuses it (nothing of it buffered) past a limit.
    pub fn push(&mut self, record: Value) -> Result<(), LimitError> {
        self.normalizer.push(record)
    }

    /// Writes the buffered tables as parts once they reach `part_bytes`.
    pub async fn flush_if_full(&mut self) -> Result<(), PartError> {
        if self.normalizer.approx_bytes() >= self.part_bytes {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes whatever is buffered.
    pub async fn flush(&mut self) -> Result<(), PartError> {
        for table in self.normalizer.tables_mut() {
            self.parts.flush(table).await?;
        }
        Ok(())
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
