//! The rows of one table buffered for the current part, with the column types widened as they
//! arrive. Types and columns outlive a flush, so later parts of a load never narrow a column.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Field, Schema};
use serde_json::Value;

use super::build::{build_array, data_type};
use super::contract::{
    fits, type_name, variant, variant_suffix, RecordedColumn, RecordedTable, SchemaChange,
    SchemaContract,
};
use super::infer::{merge, type_of, ColType};
use super::naming::NameRegistry;
use super::normalize::{display_source, Cell, Row};

/// A variant column's source: its column's and the value type (`<source>\u{2}<type>`).
fn variant_source(source: &str, suffix: &str) -> String {
    format!("{source}\u{2}{suffix}")
}

#[derive(Debug)]
struct Column {
    name: String,
    ty: ColType,
    /// Written by an earlier part or load: its type no longer changes.
    recorded: bool,
}

#[derive(Debug)]
pub struct TableBuffer {
    pub name: String,
    names: NameRegistry,
    columns: Vec<Column>,
    by_source: HashMap<String, usize>,
    /// Sparse rows: (column index, value), sorted by column index.
    rows: Vec<Vec<(usize, Value)>>,
    approx_bytes: usize,
    contract: SchemaContract,
    /// Whether the table had columns before this load (`discard_value` keeps it at those).
    had_schema: bool,
    changes: BTreeSet<SchemaChange>,
}

impl TableBuffer {
    pub fn new(name: &str) -> Self {
        Self::from_recorded(name, None, SchemaContract::Evolve)
    }

    /// A table that starts from its recorded columns (their names and types kept).
    pub fn from_recorded(
        name: &str,
        recorded: Option<&RecordedTable>,
        contract: SchemaContract,
    ) -> Self {
        let mut table = Self {
            name: name.to_string(),
            names: NameRegistry::default(),
            columns: Vec::new(),
            by_source: HashMap::new(),
            rows: Vec::new(),
            approx_bytes: 0,
            contract,
            had_schema: recorded.is_some_and(|r| !r.columns.is_empty()),
            changes: BTreeSet::new(),
        };
        for column in recorded.map_or(&[][..], |r| &r.columns[..]) {
            table.names.assign(&column.source, &column.name);
            table
                .by_source
                .insert(column.source.clone(), table.columns.len());
            table.columns.push(Column {
                name: column.name.clone(),
                ty: column.ty.clone(),
                recorded: true,
            });
        }
        table
    }

    /// The column of source field `source`, added (named `wanted`, or `wanted_2`, ... when taken)
    /// if it has none.
    fn column_for(&mut self, source: &str, wanted: &str) -> usize {
        if let Some(&index) = self.by_source.get(source) {
            return index;
        }
        let name = self.names.name_for(source, wanted).to_string();
        if name != wanted {
            self.changes.insert(SchemaChange::Renamed {
                table: self.name.clone(),
                key: display_source(source),
                column: name.clone(),
            });
        }
        self.columns.push(Column {
            name,
            ty: ColType::Null,
            recorded: false,
        });
        self.by_source
            .insert(source.to_string(), self.columns.len() - 1);
        self.columns.len() - 1
    }

    /// Why `freeze` refuses `row`, if it does: a key without a column or a value that does not
    /// fit its recorded column.
    pub fn frozen_violation(&self, row: &Row) -> Option<String> {
        row.cells.iter().find_map(|cell| {
            match self.by_source.get(&cell.source).map(|&i| &self.columns[i]) {
                None => Some(format!(
                    "key {:?} of {} has no column",
                    display_source(&cell.source),
                    self.name
                )),
                Some(column) if column.recorded && !fits(&column.ty, &cell.value) => Some(format!(
                    "{} does not fit {}.{} ({})",
                    cell.value,
                    self.name,
                    column.name,
                    type_name(&column.ty)
                )),
                Some(_) => None,
            }
        })
    }

    pub fn push(&mut self, row: Row) {
        let mut cells = Vec::with_capacity(row.cells.len());
        for cell in row.cells {
            let is_new = !self.by_source.contains_key(&cell.source);
            if is_new && self.had_schema && self.contract == SchemaContract::DiscardValue {
                self.discard(&cell.name, "the key has no column".into());
                continue;
            }
            let mut index = self.column_for(&cell.source, &cell.name);
            let mut value = cell.value;
            let column = &self.columns[index];
            if column.recorded && !fits(&column.ty, &value) {
                let (name, recorded) = (column.name.clone(), type_name(&column.ty));
                if self.contract != SchemaContract::Evolve {
                    let reason = format!("{} does not fit {recorded}", type_name(&type_of(&value)));
                    self.discard(&name, reason);
                    continue;
                }
                let (suffix, stored) = variant(value);
                let variant_name = format!("{name}__v_{suffix}");
                index = self.column_for(&variant_source(&cell.source, suffix), &variant_name);
                value = stored;
                self.changes.insert(SchemaChange::Varied {
                    table: self.name.clone(),
                    column: name,
                    recorded,
                    variant: self.columns[index].name.clone(),
                });
            }
            let column = &mut self.columns[index];
            let before = std::mem::replace(&mut column.ty, ColType::Null);
            column.ty = merge(before.clone(), type_of(&value));
            if before != ColType::Null && before != column.ty {
                self.changes.insert(SchemaChange::Widened {
                    table: self.name.clone(),
                    column: column.name.clone(),
                    from: type_name(&before),
                    to: type_name(&column.ty),
                });
            }
            self.approx_bytes += approx_size(&value);
            cells.push((index, value));
        }
        cells.sort_by_key(|(index, _)| *index);
        self.rows.push(cells);
    }

    fn discard(&mut self, column: &str, reason: String) {
        self.changes.insert(SchemaChange::Discarded {
            table: self.name.clone(),
            column: column.to_string(),
            reason,
        });
    }

    /// Columns seen so far (typed or still all-null).
    pub fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// The source key of the column `cell` goes to under `evolve`: its own, or its variant's
    /// when the value does not fit the recorded column.
    pub fn destination<'c>(&self, cell: &'c Cell) -> Cow<'c, str> {
        match self.by_source.get(&cell.source).map(|&i| &self.columns[i]) {
            Some(column) if column.recorded && !fits(&column.ty, &cell.value) => {
                Cow::Owned(variant_source(&cell.source, variant_suffix(&cell.value)))
            }
            _ => Cow::Borrowed(&cell.source),
        }
    }

    /// Whether the source field `source` already has a column.
    pub fn has_source(&self, source: &str) -> bool {
        self.by_source.contains_key(source)
    }

    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// Estimated memory of the buffered values (what the part size limit is checked against).
    pub fn approx_bytes(&self) -> usize {
        self.approx_bytes
    }

    /// The columns written so far, to be recorded with the resource.
    pub fn recorded(&self) -> RecordedTable {
        let mut sources: Vec<(&String, &usize)> = self.by_source.iter().collect();
        sources.sort_by_key(|(_, &index)| index);
        RecordedTable {
            columns: sources
                .into_iter()
                .map(|(source, &index)| (source, &self.columns[index]))
                .filter(|(_, column)| column.recorded)
                .map(|(source, column)| RecordedColumn {
                    source: source.clone(),
                    name: column.name.clone(),
                    ty: column.ty.clone(),
                })
                .collect(),
        }
    }

    /// What this load did to the table's columns beyond adding them.
    pub fn changes(&self) -> impl Iterator<Item = &SchemaChange> {
        self.changes.iter()
    }

    /// The buffered rows as one batch (every column seen so far, widened), emptying the buffer.
    /// Its columns are recorded from then on: later parts and loads keep their types.
    pub fn take_batch(&mut self) -> Result<RecordBatch, ArrowError> {
        let rows = std::mem::take(&mut self.rows);
        self.approx_bytes = 0;
        // Like dlt, a column that has only seen nulls is left out until a value gives it a type:
        // writing it as a string now would make the table's later int/bool/... a lossy change.
        let typed: Vec<(usize, &Column)> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ty != ColType::Null)
            .collect();
        let fields: Vec<Field> = typed
            .iter()
            .map(|(_, c)| Field::new(&c.name, data_type(&c.ty), true))
            .collect();
        let arrays = typed
            .iter()
            .map(|&(index, column)| {
                let values: Vec<Option<&Value>> = rows
                    .iter()
                    .map(|cells| {
                        cells
                            .binary_search_by_key(&index, |(i, _)| *i)
                            .ok()
                            .map(|at| &cells[at].1)
                    })
                    .collect();
                build_array(&column.ty, &values)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        for column in self.columns.iter_mut().filter(|c| c.ty != ColType::Null) {
            column.recorded = true;
        }
        Ok(batch)
    }
}

/// Rough in-memory size of a JSON value (heap plus the enum itself).
fn approx_size(value: &Value) -> usize {
    32 + match value {
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(approx_size).sum(),
        Value::Object(map) => map.iter().map(|(k, v)| k.len() + approx_size(v)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::json_arrow::normalize::Cell;
    use serde_json::json;

    fn row(cells: &[(&str, serde_json::Value)]) -> Row {
        Row {
            table: "t".into(),
            cells: cells
                .iter()
                .map(|(name, value)| Cell {
                    source: name.to_string(),
                    name: name.to_string(),
                    value: value.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn all_null_columns_wait_for_a_value_and_types_survive_a_flush() {
        let mut table = TableBuffer::new("t");
        table.push(row(&[("a", json!(1)), ("b", json!(null))]));
        let first = table.take_batch().unwrap();
        assert_eq!(first.schema().fields().len(), 1);
        table.push(row(&[("b", json!(true))]));
        table.push(row(&[("a", json!(null))]));
        let second = table.take_batch().unwrap();
        let schema = second.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(
            second.schema().field(0).data_type(),
            &arrow_schema::DataType::Int64
        );
        assert_eq!(second.num_rows(), 2);
    }
}
