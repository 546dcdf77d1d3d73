//! JSON records to Arrow record batches, dlt-style: inference with widening ([`infer`]),
//! naming ([`naming`]), flattening and child tables ([`normalize`]), per-table buffers
//! ([`table`]) and array building ([`build`]).

pub mod build;
pub mod contract;
pub mod infer;
pub mod naming;
pub mod normalize;
pub mod table;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::ingest::config::Nesting;
use crate::raw::limits::{LimitError, MAX_NESTING_DEPTH};
use contract::{FrozenSchemaError, ResourceSchema, SchemaChange, SchemaContract};
use normalize::{canonical_json, deepest_field, digest, key_digest, Cell, Normalize, Row};
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

/// Why a record was refused (none of its rows buffered).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordRefused {
    #[error(transparent)]
    Limit(#[from] LimitError),
    #[error(transparent)]
    Frozen(#[from] FrozenSchemaError),
}

impl RecordRefused {
    /// The records themselves (or the limits, or the contract) must change.
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// Turns a resource's records into per-table buffers.
#[derive(Debug)]
pub struct Normalizer {
    resource: String,
    nesting: Nesting,
    primary_key: Vec<String>,
    system: SystemColumns,
    /// Most columns a table of this load may reach.
    max_columns: usize,
    /// The resource's schema as recorded before this load.
    recorded: ResourceSchema,
    contract: SchemaContract,
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
        max_columns: usize,
    ) -> Self {
        Self {
            resource: resource.to_string(),
            nesting,
            primary_key,
            system,
            max_columns,
            recorded: ResourceSchema::default(),
            contract: SchemaContract::Evolve,
            tables: BTreeMap::new(),
            records: 0,
            rows: BTreeMap::new(),
        }
    }

    /// Starts from the resource's recorded schema, under `contract`.
    pub fn with_schema(mut self, recorded: ResourceSchema, contract: SchemaContract) -> Self {
        self.recorded = recorded;
        self.contract = contract;
        self
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

    /// Buffers one record's rows, or refuses the record (buffering none of its rows) when it is
    /// nested deeper than [`MAX_NESTING_DEPTH`] or would widen a table past the column limit.
    pub fn push(&mut self, record: Value) -> Result<(), RecordRefused> {
        let what = || format!("record {} of {}", self.records, self.resource);
        if let Some((field, depth)) = deepest_field(&record).filter(|(_, d)| *d > MAX_NESTING_DEPTH)
        {
            return Err(LimitError::TooDeep {
                what: format!("field {field:?} of {}", what()),
                depth,
                limit: MAX_NESTING_DEPTH,
            }
            .into());
        }
        let row_id = self.row_id(&record);
        let rows = Normalize {
            nesting: self.nesting,
            system: &self.system,
        }
        .record(&self.resource, record, row_id);
        // Every table the record reaches, from its recorded columns: the checks see them all.
        for row in &rows {
            if !self.tables.contains_key(&row.table) {
                let recorded = self.recorded.tables.get(&row.table);
                let table = TableBuffer::from_recorded(&row.table, recorded, self.contract);
                self.tables.insert(row.table.clone(), table);
            }
        }
        self.check_width(&rows)
            .map_err(|(table, column)| LimitError::TooManyColumns {
                what: format!("{}, in table {table},", what()),
                column,
                limit: self.max_columns,
            })?;
        if self.contract == SchemaContract::Freeze {
            self.check_frozen(&rows, &what)?;
        }
        self.records += 1;
        for row in rows {
            *self.rows.entry(row.table.clone()).or_insert(0) += 1;
            if let Some(table) = self.tables.get_mut(&row.table) {
                table.push(row);
            }
        }
        Ok(())
    }

    /// Why `freeze` refuses one record's rows: a table or key the schema does not have, or a
    /// value that does not fit. A resource without a recorded schema takes its first load whole.
    fn check_frozen(
        &self,
        rows: &[Row],
        what: &dyn Fn() -> String,
    ) -> Result<(), FrozenSchemaError> {
        if self.recorded.tables.is_empty() {
            return Ok(());
        }
        let refused = |reason| FrozenSchemaError {
            what: what(),
            reason,
        };
        for row in rows {
            if !self.recorded.tables.contains_key(&row.table) {
                return Err(refused(format!(
                    "table {} is not in the resource's schema",
                    row.table
                )));
            }
            if let Some(reason) = self.tables[&row.table].frozen_violation(row) {
                return Err(refused(reason));
            }
        }
        Ok(())
    }

    /// The resource's schema with every column written so far.
    pub fn schema(&self) -> ResourceSchema {
        let mut schema = self.recorded.clone();
        for (name, table) in &self.tables {
            let recorded = table.recorded();
            if !recorded.columns.is_empty() {
                schema.tables.insert(name.clone(), recorded);
            }
        }
        schema
    }

    /// What this load did to the resource's schema beyond adding columns, table by table.
    pub fn changes(&self) -> Vec<&SchemaChange> {
        self.tables
            .values()
            .flat_map(TableBuffer::changes)
            .collect()
    }

    /// The table and the first column past the limit when `rows` (one record's) would give a
    /// table more than `max_columns` columns.
    fn check_width(&self, rows: &[Row]) -> Result<(), (String, String)> {
        let mut added: HashMap<&str, HashSet<Cow<str>>> = HashMap::new();
        for row in rows {
            let table = &self.tables[&row.table];
            let new = added.entry(&row.table).or_default();
            for cell in &row.cells {
                // A value that does not fit its recorded column widens the table by its variant.
                let source = match self.contract {
                    SchemaContract::Evolve => table.destination(cell),
                    _ => Cow::Borrowed(cell.source.as_str()),
                };
                if table.has_source(&source) {
                    continue;
                }
                new.insert(source);
                if table.column_count() + new.len() > self.max_columns {
                    return Err((row.table.clone(), cell.name.clone()));
                }
            }
        }
        Ok(())
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
