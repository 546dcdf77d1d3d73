//! JSON records to Arrow record batches, dlt-style: inference with widening ([`infer`]),
//! naming ([`naming`]), flattening and child tables ([`normalize`]), per-table buffers
//! ([`table`]) and array building ([`build`]).

pub mod build;
pub mod infer;
pub mod naming;
pub mod normalize;
pub mod table;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ingest::config::Nesting;
use normalize::{canonical_json, digest, key_digest, Cell, Normalize};
use table::TableBuffer;

/// The columns icepipe adds to every row.
#[derive(Debug, Clone)]
pub struct SystemColumns {
    load_id: String,
    /// RFC 3339, inferred as a timestamp column like any other.
    loaded_at: String,
}

impl SystemColumns {
    pub fn new(load_id: &str, loaded_at_rfc3339: &str) -> Self {
        Self {
            load_id: load_id.to_string(),
            loaded_at: loaded_at_rfc3339.to_string(),
        }
    }

    /// `_load_id`, `_loaded_at`, `_row_id`, and for child rows `_parent_row_id`, `_list_idx`.
    /// Sources start with NUL so that a record field named `_load_id` gets its own column.
    fn cells(&self, row_id: &str, parent: Option<(&str, i64)>) -> Vec<Cell> {
        let cell = |name: &str, value: Value| Cell {
            source: format!("\0{name}"),
            name: name.into(),
            value,
        };
        let mut cells = vec![
            cell("_load_id", Value::String(self.load_id.clone())),
            cell("_loaded_at", Value::String(self.loaded_at.clone())),
            cell("_row_id", Value::String(row_id.to_string())),
        ];
        if let Some((parent_id, index)) = parent {
            cells.push(cell("_parent_row_id", Value::String(parent_id.to_string())));
            cells.push(cell("_list_idx", Value::from(index)));
        }
        cells
    }
}

/// Turns a resource's records into per-table buffers.
#[derive(Debug)]
pub struct Normalizer {
    resource: String,
    nesting: Nesting,
    primary_key: Vec<String>,
    system: SystemColumns,
    tables: BTreeMap<String, TableBuffer>,
    records: u64,
    /// Rows pushed per table since the start (buffered or already taken).
    rows: BTreeMap<String, u64>,
}

impl Normalizer {
    pub fn new(
        resource: &str,
        nesting: Nesting,
        primary_key: Vec<String>,
        system: SystemColumns,
    ) -> Self {
        Self {
            resource: resource.to_string(),
            nesting,
            primary_key,
            system,
            tables: BTreeMap::new(),
            records: 0,
            rows: BTreeMap::new(),
        }
    }

    /// `_row_id`: a digest of the primary key when configured and present, else of the record's
    /// canonical JSON, the load id and its index in the load.
    fn row_id(&self, record: &Value) -> String {
        key_digest(&self.resource, &self.primary_key, record).unwrap_or_else(|| {
            digest(&[
                &canonical_json(record),
                &self.system.load_id,
                &self.records.to_string(),
            ])
        })
    }

    pub fn push(&mut self, record: Value) {
        let row_id = self.row_id(&record);
        self.records += 1;
        let rows = Normalize {
            nesting: self.nesting,
            system: &self.system,
        }
        .record(&self.resource, record, row_id);
        for row in rows {
            *self.rows.entry(row.table.clone()).or_insert(0) += 1;
            self.tables
                .entry(row.table.clone())
                .or_insert_with(|| TableBuffer::new(&row.table))
                .push(row);
        }
    }

    /// Rows the records pushed so far normalized into, per table (child tables included).
    pub fn rows_per_table(&self) -> &BTreeMap<String, u64> {
        &self.rows
    }

    pub fn approx_bytes(&self) -> usize {
        self.tables.values().map(TableBuffer::approx_bytes).sum()
    }

    /// Tables with buffered rows (the root table first, then children by name).
    pub fn tables_mut(&mut self) -> impl Iterator<Item = &mut TableBuffer> {
        self.tables.values_mut().filter(|t| t.row_count() > 0)
    }
}
