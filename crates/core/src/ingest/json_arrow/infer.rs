//! Column types inferred from JSON values and how they widen when records disagree:
//! int + float -> float, null + x -> x, anything else incompatible -> text (the JSON text of
//! non-string values), so no value is ever dropped.

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColType {
    /// Only nulls so far (written as a string column).
    Null,
    Bool,
    Int,
    Float,
    /// ISO-8601 / RFC 3339 strings: timestamp (UTC, microseconds).
    Timestamp,
    Text,
    List(Box<ColType>),
    /// Fields in first-seen order (nested mode only).
    Struct(Vec<(String, ColType)>),
}

/// The narrowest type that holds `value`.
pub fn type_of(value: &Value) -> ColType {
    match value {
        Value::Null => ColType::Null,
        Value::Bool(_) => ColType::Bool,
        Value::Number(n) if n.is_i64() => ColType::Int,
        // Beyond i64 a float would round: keep the digits as text.
        Value::Number(n) if n.is_u64() => ColType::Text,
        Value::Number(_) => ColType::Float,
        Value::String(s) if parse_timestamp_micros(s).is_some() => ColType::Timestamp,
        Value::String(_) => ColType::Text,
        Value::Array(items) => ColType::List(Box::new(
            items
                .iter()
                .fold(ColType::Null, |acc, item| merge(acc, type_of(item))),
        )),
        Value::Object(map) if map.is_empty() => ColType::Null,
        Value::Object(map) => {
            ColType::Struct(map.iter().map(|(k, v)| (k.clone(), type_of(v))).collect())
        }
    }
}

/// The type that holds values of both `a` and `b`.
pub fn merge(a: ColType, b: ColType) -> ColType {
    use ColType::*;
    match (a, b) {
        (Null, x) | (x, Null) => x,
        (Int, Float) | (Float, Int) => Float,
        (List(x), List(y)) => List(Box::new(merge(*x, *y))),
        (Struct(mut fields), Struct(other)) => {
            for (name, ty) in other {
                match fields.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, existing)) => *existing = merge(std::mem::replace(existing, Null), ty),
                    None => fields.push((name, ty)),
                }
            }
            Struct(fields)
        }
        (x, y) if x == y => x,
        _ => Text,
    }
}

/// Microseconds since the epoch of an ISO-8601 date-time (with offset, or naive taken as UTC).
/// A cheap shape check first: most strings are not timestamps.
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
    {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fold(values: &[Value]) -> ColType {
        values
            .iter()
            .fold(ColType::Null, |acc, v| merge(acc, type_of(v)))
    }

    #[test]
    fn widening_rules() {
        assert_eq!(fold(&[json!(1), json!(null), json!(2)]), ColType::Int);
        assert_eq!(fold(&[json!(1), json!(2.5)]), ColType::Float);
        assert_eq!(fold(&[json!(1), json!(2.5), json!("x")]), ColType::Text);
        assert_eq!(fold(&[json!(true), json!(1)]), ColType::Text);
        assert_eq!(
            fold(&[json!("2024-01-01T00:00:00Z"), json!("2024-01-02 10:00:00")]),
            ColType::Timestamp
        );
        assert_eq!(
            fold(&[json!("2024-01-01T00:00:00Z"), json!("soon")]),
            ColType::Text
        );
        assert_eq!(
            fold(&[json!([1]), json!([2.0])]),
            ColType::List(Box::new(ColType::Float))
        );
        assert_eq!(fold(&[json!([1]), json!({"a": 1})]), ColType::Text);
        assert_eq!(fold(&[json!(u64::MAX)]), ColType::Text);
        assert_eq!(
            fold(&[json!({"a": 1}), json!({"b": "x", "a": 1.5})]),
            ColType::Struct(vec![
                ("a".into(), ColType::Float),
                ("b".into(), ColType::Text)
            ])
        );
    }

    #[test]
    fn timestamps_with_offsets_are_utc_micros() {
        assert_eq!(
            parse_timestamp_micros("1970-01-01T00:00:01.5Z"),
            Some(1_500_000)
        );
        assert_eq!(parse_timestamp_micros("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_timestamp_micros("2024-01-01"), None);
        assert_eq!(parse_timestamp_micros("not a date at all!!"), None);
    }
}
