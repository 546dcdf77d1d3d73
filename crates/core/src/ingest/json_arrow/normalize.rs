//! One JSON record to flat rows: nested objects flattened with `__`, arrays of scalars kept as
//! lists, arrays of objects split into child tables `<table>__<field>` (linked by `_parent_row_id`
//! and `_list_idx`) or, in nested mode, kept as list<struct> values with normalized keys.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::naming::{normalize, table_name};
use super::SystemColumns;
use crate::ingest::config::Nesting;

/// A cell: `source` identifies the field (its raw key path), `name` is the proposed column name.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub source: String,
    pub name: String,
    pub value: Value,
}

/// A row for one table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub table: String,
    pub cells: Vec<Cell>,
}

/// Separator of raw key paths in `Cell::source`: cannot occur in JSON keys we care about.
const PATH_SEP: char = '\u{1}';

pub struct Normalize<'a> {
    pub nesting: Nesting,
    pub system: &'a SystemColumns,
}

impl Normalize<'_> {
    /// The rows of one record: the root row first, then its children depth-first.
    pub fn record(&self, table: &str, record: Value, row_id: String) -> Vec<Row> {
        let mut rows = Vec::new();
        self.row(
            table,
            record,
            self.system.cells(&row_id, None),
            &row_id,
            &mut rows,
        );
        rows
    }

    fn row(
        &self,
        table: &str,
        value: Value,
        mut cells: Vec<Cell>,
        row_id: &str,
        out: &mut Vec<Row>,
    ) {
        let index = out.len();
        out.push(Row {
            table: table.to_string(),
            cells: Vec::new(),
        });
        let mut children = Vec::new();
        match value {
            Value::Object(map) => self.flatten(map, "", "", &mut cells, &mut children),
            // A scalar in a list of objects (or a non-object record) becomes a `value` column.
            other => cells.push(Cell {
                source: "value".into(),
                name: "value".into(),
                value: other,
            }),
        }
        out[index].cells = cells;
        for (field, items) in children {
            let child_table = table_name(&format!("{table}__{field}"));
            for (idx, item) in items.into_iter().enumerate() {
                let child_id = digest(&[row_id, &field, &idx.to_string()]);
                let cells = self.system.cells(&child_id, Some((row_id, idx as i64)));
                self.row(&child_table, item, cells, &child_id, out);
            }
        }
    }

    fn flatten(
        &self,
        map: Map<String, Value>,
        source_prefix: &str,
        name_prefix: &str,
        cells: &mut Vec<Cell>,
        children: &mut Vec<(String, Vec<Value>)>,
    ) {
        for (key, value) in map {
            let source = format!("{source_prefix}{PATH_SEP}{key}");
            let name = if name_prefix.is_empty() {
                normalize(&key)
            } else {
                format!("{name_prefix}__{}", normalize(&key))
            };
            match value {
                Value::Object(inner) => self.flatten(inner, &source, &name, cells, children),
                Value::Array(items)
                    if self.nesting == Nesting::ChildTables
                        && items.iter().any(Value::is_object) =>
                {
                    children.push((name, items))
                }
                // An empty array says nothing about its items: as a column it would become a
                // list of strings that later arrays of objects (child rows) contradict. Like dlt,
                // it adds no value (no child rows; NULL where the column exists).
                Value::Array(items) if self.nesting == Nesting::ChildTables && items.is_empty() => {
                }
                other => {
                    let value = match self.nesting {
                        Nesting::Nested => normalize_keys(other),
                        Nesting::ChildTables => other,
                    };
                    cells.push(Cell {
                        source,
                        name,
                        value,
                    })
                }
            }
        }
    }
}

/// Renames object keys recursively (nested mode: struct field names follow the same rules);
/// keys that collide get `_2`, `_3`, ... in key order.
fn normalize_keys(value: Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_keys).collect()),
        Value::Object(map) => {
            let mut names = super::naming::NameRegistry::default();
            let mut out = Map::new();
            for (key, inner) in map {
                let name = names.name_for(&key, &normalize(&key)).to_string();
                out.insert(name, normalize_keys(inner));
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// A cell's source as people write it: `address.geo.lat` (icepipe's own columns: `_load_id`).
pub fn display_source(source: &str) -> String {
    source
        .trim_start_matches(['\0', PATH_SEP])
        .replace(PATH_SEP, ".")
        .replace('\u{2}', " as ")
}

/// The record's field nested deepest and its depth (a JSON array or object is one level, the
/// record itself none), or `None` for a record without fields.
pub fn deepest_field(record: &Value) -> Option<(&str, usize)> {
    record
        .as_object()?
        .iter()
        .map(|(key, value)| (key.as_str(), depth(value)))
        .max_by_key(|(_, depth)| *depth)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The digest of `prefix` and the record's primary key values, or `None` when there is no
/// primary key or the record lacks (or nulls) part of it.
pub fn key_digest(prefix: &str, primary_key: &[String], record: &Value) -> Option<String> {
    if primary_key.is_empty() {
        return None;
    }
    let values: Vec<String> = primary_key
        .iter()
        .map(|k| record.get(k).filter(|v| !v.is_null()).map(canonical_json))
        .collect::<Option<_>>()?;
    let parts: Vec<&str> = std::iter::once(prefix)
        .chain(values.iter().map(String::as_str))
        .collect();
    Some(digest(&parts))
}

/// Hex of the first 16 bytes of SHA-256 over the parts (length-prefixed, so parts cannot blur).
pub fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// JSON with object keys sorted at every level: the same record always hashes the same.
pub fn canonical_json(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        Value::String((*k).clone()),
                        canonical_json(&map[*k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(canonical_json)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn system() -> SystemColumns {
        SystemColumns::new("load1", "2024-01-01T00:00:00Z")
    }

    fn names(row: &Row) -> Vec<&str> {
        row.cells.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn flattens_objects_and_splits_arrays_of_objects_into_child_tables() {
        let system = system();
        let n = Normalize {
            nesting: Nesting::ChildTables,
            system: &system,
        };
        let record = json!({"id": 1, "address": {"geo": {"lat": "1.5"}}, "tags": ["a"], "items": [{"sku": "x", "parts": [{"n": 1}]}, 7]});
        let rows = n.record("orders", record, "r1".into());
        let tables: Vec<&str> = rows.iter().map(|r| r.table.as_str()).collect();
        assert_eq!(
            tables,
            [
                "orders",
                "orders__items",
                "orders__items__parts",
                "orders__items"
            ]
        );
        assert_eq!(
            names(&rows[0]),
            [
                "_load_id",
                "_loaded_at",
                "_row_id",
                "address__geo__lat",
                "id",
                "tags"
            ]
        );
        assert_eq!(
            names(&rows[1]),
            [
                "_load_id",
                "_loaded_at",
                "_row_id",
                "_parent_row_id",
                "_list_idx",
                "sku"
            ]
        );
        assert_eq!(rows[1].cells[3].value, json!("r1"));
        assert_eq!(rows[3].cells[4].value, json!(1));
        assert_eq!(rows[3].cells[5].value, json!(7));
        // The grandchild points at its parent child row.
        assert_eq!(rows[2].cells[3].value, rows[1].cells[2].value);
    }

    #[test]
    fn an_empty_array_adds_no_column_and_no_child_rows() {
        let system = system();
        let n = Normalize {
            nesting: Nesting::ChildTables,
            system: &system,
        };
        let rows = n.record("posts", json!({"id": 1, "tags": []}), "r1".into());
        assert_eq!(rows.len(), 1);
        assert_eq!(names(&rows[0]), ["_load_id", "_loaded_at", "_row_id", "id"]);
    }

    #[test]
    fn nested_mode_keeps_arrays_of_objects_with_normalized_keys() {
        let system = system();
        let n = Normalize {
            nesting: Nesting::Nested,
            system: &system,
        };
        let rows = n.record("t", json!({"items": [{"skuId": 1}]}), "r".into());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].cells[3].value, json!([{"sku_id": 1}]));
    }

    #[test]
    fn depth_counts_arrays_and_objects_inside_the_record() {
        let record = json!({"flat": 1, "list": [[1], [[[2]]]], "obj": {"a": {"b": [1]}}});
        assert_eq!(deepest_field(&record), Some(("list", 4)));
        assert_eq!(deepest_field(&json!({"a": 1})), Some(("a", 0)));
        assert_eq!(deepest_field(&json!({})), None);
    }

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": [1, {"d": 1, "c": 2}], "a": "x"})),
            r#"{"a":"x","b":[1,{"c":2,"d":1}]}"#
        );
    }
}
