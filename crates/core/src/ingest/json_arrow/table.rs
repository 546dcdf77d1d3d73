//! The rows of one table buffered for the current part, with the column types widened as they
//! arrive. Types and columns outlive a flush, so later parts of a load never narrow a column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Field, Schema};
use serde_json::Value;

use super::build::{build_array, data_type};
use super::infer::{merge, type_of, ColType};
use super::naming::NameRegistry;
use super::normalize::Row;

#[derive(Debug)]
struct Column {
    name: String,
    ty: ColType,
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
}

impl TableBuffer {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            names: NameRegistry::default(),
            columns: Vec::new(),
            by_source: HashMap::new(),
            rows: Vec::new(),
            approx_bytes: 0,
        }
    }

    pub fn push(&mut self, row: Row) {
        let mut cells = Vec::with_capacity(row.cells.len());
        for cell in row.cells {
            let index = match self.by_source.get(&cell.source) {
                Some(&index) => index,
                None => {
                    let name = self.names.name_for(&cell.source, &cell.name).to_string();
                    self.columns.push(Column {
                        name,
                        ty: ColType::Null,
                    });
                    self.by_source
                        .insert(cell.source.clone(), self.columns.len() - 1);
                    self.columns.len() - 1
                }
            };
            let column = &mut self.columns[index];
            column.ty = merge(
                std::mem::replace(&mut column.ty, ColType::Null),
                type_of(&cell.value),
            );
            self.approx_bytes += approx_size(&cell.value);
            cells.push((index, cell.value));
        }
        cells.sort_by_key(|(index, _)| *index);
        self.rows.push(cells);
    }

    /// Columns seen so far (typed or still all-null).
    pub fn column_count(&self) -> usize {
        self.columns.len()
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

    /// The buffered rows as one batch (every column seen so far, widened), emptying the buffer.
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
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
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
