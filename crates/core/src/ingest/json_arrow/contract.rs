//! A resource's schema kept across loads, and what happens to a value that no longer fits it.
//!
//! Every column a load writes is recorded ([`ResourceSchema`], stored under `_state/` by
//! [`crate::ingest::schema_state`]) with the source key it holds and its type. Later loads start
//! from it: a source key keeps its column whatever order keys arrive in (colliding keys such as
//! `userId` / `user_id` keep the `_2`, `_3` they were given first), and a recorded column's type
//! never changes, so no raw file can contradict an earlier one (the converter refuses `long` then
//! `double`). A value that does not fit its recorded column (a recorded `long` gets `1.5`) goes,
//! by the resource's [`SchemaContract`]:
//! - `evolve` (default): to a variant column named after the value's type, as dlt does:
//!   `n__v_double`, `n__v_bigint`, `n__v_bool`, `n__v_timestamp`, `n__v_text`, `n__v_json`
//!   (lists and objects, as JSON text). New columns are added.
//! - `freeze`: the load is refused naming the column (no new column, no value that does not fit).
//! - `discard_value`: the value is dropped (the row lands with NULL there), as are values of keys
//!   without a column.
//!
//! What fits a recorded type: the same type; an integer in a `double` column (exact up to 2^53,
//! beyond it the integer goes to `__v_bigint`); anything in a `text` column (as its JSON text);
//! null everywhere. Within one load, before anything is written, types widen as before
//! (`long` + `double` -> `double`, anything else -> `text`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::infer::{merge, type_of, ColType};

/// What a load may do to its resource's recorded schema (`schema_contract` in the sources
/// config; pushed streams without a declaration use `evolve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SchemaContract {
    #[default]
    Evolve,
    Freeze,
    DiscardValue,
}

/// The columns every table of a resource has had, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceSchema {
    pub tables: BTreeMap<String, RecordedTable>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedTable {
    pub columns: Vec<RecordedColumn>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedColumn {
    /// The source key path (see `normalize::Cell::source`).
    pub source: String,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColType,
}

/// What a load did to its resource's schema beyond adding columns, for its report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SchemaChange {
    /// A key whose normalized name was taken got another column name.
    Renamed {
        table: String,
        key: String,
        column: String,
    },
    /// A new column's type widened within the load (`long` -> `double`, ... -> `text`).
    Widened {
        table: String,
        column: String,
        from: String,
        to: String,
    },
    /// Values that did not fit their recorded column went to a variant column.
    Varied {
        table: String,
        column: String,
        recorded: String,
        variant: String,
    },
    /// Values dropped by `discard_value`.
    Discarded {
        table: String,
        column: String,
        reason: String,
    },
}

impl std::fmt::Display for SchemaChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaChange::Renamed { table, key, column } => {
                write!(f, "renamed: key {key:?} of {table} is column {column} (its name was taken)")
            }
            SchemaChange::Widened {
                table,
                column,
                from,
                to,
            } => write!(f, "widened: {table}.{column} from {from} to {to}"),
            SchemaChange::Varied {
                table,
                column,
                recorded,
                variant,
            } => write!(
                f,
                "varied: values of {table}.{column} that do not fit its {recorded} went to {variant}"
            ),
            SchemaChange::Discarded {
                table,
                column,
                reason,
            } => write!(f, "discarded: values of {table}.{column} ({reason})"),
        }
    }
}

/// A load refused by `freeze`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}, and the resource's schema_contract is freeze")]
pub struct FrozenSchemaError {
    pub what: String,
    pub reason: String,
}

/// Integers beyond this lose digits as a double.
const EXACT_IN_DOUBLE: u64 = 1 << 53;

/// Whether `value` can be written to a column recorded as `ty` without changing its type.
pub fn fits(ty: &ColType, value: &Value) -> bool {
    match (ty, value) {
        (_, Value::Null) | (ColType::Text, _) => true,
        (ColType::Float, Value::Number(n)) if !n.is_f64() => n
            .as_i64()
            .map(|i| i.unsigned_abs() <= EXACT_IN_DOUBLE)
            .unwrap_or(false),
        (ty, value) => merge(ty.clone(), type_of(value)) == *ty,
    }
}

/// The variant column suffix for a value that does not fit: its type.
pub fn variant_suffix(value: &Value) -> &'static str {
    match type_of(value) {
        ColType::Bool => "bool",
        ColType::Int => "bigint",
        ColType::Float => "double",
        ColType::Timestamp => "timestamp",
        ColType::List(_) | ColType::Struct(_) => "json",
        ColType::Null | ColType::Text => "text",
    }
}

/// The variant column suffix for a value that does not fit, and the value as it is stored there
/// (lists, objects and integers beyond i64 as their JSON text).
pub fn variant(value: Value) -> (&'static str, Value) {
    let suffix = variant_suffix(&value);
    let stored = match (suffix, value) {
        ("json" | "text", v @ (Value::Array(_) | Value::Object(_) | Value::Number(_))) => {
            Value::String(v.to_string())
        }
        (_, v) => v,
    };
    (suffix, stored)
}

/// How a column type is named in reports.
pub fn type_name(ty: &ColType) -> String {
    match ty {
        ColType::Null => "null".into(),
        ColType::Bool => "bool".into(),
        ColType::Int => "long".into(),
        ColType::Float => "double".into(),
        ColType::Timestamp => "timestamp".into(),
        ColType::Text => "text".into(),
        ColType::List(item) => format!("list<{}>", type_name(item)),
        ColType::Struct(_) => "struct".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_fits_a_recorded_type() {
        assert!(fits(&ColType::Int, &json!(5)));
        assert!(!fits(&ColType::Int, &json!(1.5)));
        assert!(fits(&ColType::Float, &json!(5)));
        assert!(fits(&ColType::Float, &json!(9_007_199_254_740_992u64)));
        assert!(!fits(&ColType::Float, &json!(9_007_199_254_740_993u64)));
        assert!(fits(&ColType::Text, &json!({"a": 1})));
        assert!(fits(&ColType::Bool, &json!(null)));
        assert!(!fits(&ColType::Timestamp, &json!("soon")));
        assert!(fits(&ColType::Timestamp, &json!("2024-01-01T00:00:00Z")));
        let list = ColType::List(Box::new(ColType::Float));
        assert!(fits(&list, &json!([1, 2.5])));
        assert!(!fits(&list, &json!(["x"])));
    }

    #[test]
    fn variants_are_named_by_the_value_type() {
        assert_eq!(variant(json!(1.5)), ("double", json!(1.5)));
        assert_eq!(variant(json!(true)), ("bool", json!(true)));
        assert_eq!(variant(json!([1])), ("json", json!("[1]")));
        assert_eq!(variant(json!("x")), ("text", json!("x")));
    }

    #[test]
    fn the_schema_round_trips_as_json() {
        let schema = ResourceSchema {
            tables: BTreeMap::from([(
                "t".to_string(),
                RecordedTable {
                    columns: vec![RecordedColumn {
                        source: "\u{1}n".into(),
                        name: "n".into(),
                        ty: ColType::List(Box::new(ColType::Int)),
                    }],
                },
            )]),
        };
        let text = serde_json::to_string(&schema).unwrap();
        assert_eq!(
            text,
            r#"{"tables":{"t":{"columns":[{"source":"\u0001n","name":"n","type":{"list":"int"}}]}}}"#
        );
        assert_eq!(
            serde_json::from_str::<ResourceSchema>(&text).unwrap(),
            schema
        );
    }
}
