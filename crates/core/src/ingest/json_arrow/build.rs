//! Arrow arrays from buffered JSON values and the column's final type. Built at flush time, so a
//! type that widened after the first values were seen still holds every one of them.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    new_null_array, ArrayRef, BooleanArray, Float64Array, Int64Array, ListArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{ArrowError, DataType, Field, Fields, TimeUnit};
use serde_json::Value;

use super::infer::{parse_timestamp_micros, ColType};

pub fn data_type(ty: &ColType) -> DataType {
    match ty {
        ColType::Null | ColType::Text => DataType::Utf8,
        ColType::Bool => DataType::Boolean,
        ColType::Int => DataType::Int64,
        ColType::Float => DataType::Float64,
        ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        ColType::List(item) => DataType::List(Arc::new(item_field(item))),
        ColType::Struct(fields) => DataType::Struct(struct_fields(fields)),
    }
}

fn item_field(item: &ColType) -> Field {
    Field::new("item", data_type(item), true)
}

fn struct_fields(fields: &[(String, ColType)]) -> Fields {
    fields
        .iter()
        .map(|(name, ty)| Field::new(name, data_type(ty), true))
        .collect()
}

/// A value that is there and not JSON null.
fn present<'v>(value: &Option<&'v Value>) -> Option<&'v Value> {
    value.filter(|v| !v.is_null())
}

/// A primitive array of the values `read` accepts (the type inference made sure they all fit).
fn scalars<A: FromIterator<Option<T>>, T>(
    values: &[Option<&Value>],
    read: impl Fn(&Value) -> Option<T>,
) -> A {
    values.iter().map(|v| present(v).and_then(&read)).collect()
}

/// One array of `values` (a missing value is null) as type `ty`.
pub fn build_array(ty: &ColType, values: &[Option<&Value>]) -> Result<ArrayRef, ArrowError> {
    Ok(match ty {
        ColType::Null | ColType::Text => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 8);
            for v in values {
                match present(v) {
                    Some(Value::String(s)) => b.append_value(s),
                    Some(other) => b.append_value(other.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        ColType::Bool => Arc::new(scalars::<BooleanArray, _>(values, Value::as_bool)),
        ColType::Int => Arc::new(scalars::<Int64Array, _>(values, Value::as_i64)),
        ColType::Float => Arc::new(scalars::<Float64Array, _>(values, Value::as_f64)),
        ColType::Timestamp => Arc::new(
            scalars::<TimestampMicrosecondArray, _>(values, |v| {
                v.as_str().and_then(parse_timestamp_micros)
            })
            .with_timezone("UTC"),
        ),
        ColType::List(item) => build_list(item, values)?,
        ColType::Struct(fields) => build_struct(fields, values)?,
    })
}

fn build_list(item: &ColType, values: &[Option<&Value>]) -> Result<ArrayRef, ArrowError> {
    let mut lengths = Vec::with_capacity(values.len());
    let mut valid = Vec::with_capacity(values.len());
    let mut items: Vec<Option<&Value>> = Vec::new();
    for v in values {
        match v {
            Some(Value::Array(elements)) => {
                lengths.push(elements.len());
                valid.push(true);
                items.extend(elements.iter().map(Some));
            }
            _ => {
                lengths.push(0);
                valid.push(false);
            }
        }
    }
    let child = build_array(item, &items)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(item_field(item)),
        OffsetBuffer::from_lengths(lengths),
        child,
        Some(NullBuffer::from(valid)),
    )?))
}

fn build_struct(
    fields: &[(String, ColType)],
    values: &[Option<&Value>],
) -> Result<ArrayRef, ArrowError> {
    let valid: Vec<bool> = values
        .iter()
        .map(|v| matches!(v, Some(Value::Object(_))))
        .collect();
    let children = fields
        .iter()
        .map(|(name, ty)| {
            let column: Vec<Option<&Value>> =
                values.iter().map(|v| v.and_then(|v| v.get(name))).collect();
            build_array(ty, &column)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if fields.is_empty() {
        return Ok(new_null_array(&DataType::Utf8, values.len()));
    }
    Ok(Arc::new(StructArray::try_new(
        struct_fields(fields),
        children,
        Some(NullBuffer::from(valid)),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use arrow_array::Array;
    use serde_json::json;

    #[test]
    fn text_columns_keep_every_value_as_its_json_text() {
        let values = [json!(1), json!(2.5), json!("x"), json!({"a": 1})];
        let refs: Vec<Option<&Value>> = values.iter().map(Some).chain([None]).collect();
        let array = build_array(&ColType::Text, &refs).unwrap();
        let strings = array.as_string::<i32>();
        let got: Vec<Option<&str>> = strings.iter().collect();
        assert_eq!(
            got,
            [Some("1"), Some("2.5"), Some("x"), Some(r#"{"a":1}"#), None]
        );
    }

    #[test]
    fn lists_and_structs_nest() {
        let values = [json!([1, 2]), json!(null), json!([])];
        let refs: Vec<Option<&Value>> = values.iter().map(Some).collect();
        let list = build_array(&ColType::List(Box::new(ColType::Int)), &refs).unwrap();
        let list = list.as_list::<i32>();
        assert_eq!(list.len(), 3);
        assert!(list.is_null(1));
        assert_eq!(
            list.value(0).as_primitive::<Int64Type>().values().to_vec(),
            vec![1, 2]
        );
        assert_eq!(list.value(2).len(), 0);
    }
}
