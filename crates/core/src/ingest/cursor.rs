//! Incremental cursors: comparing values seen in records, subtracting the lag, rendering the
//! value as a request parameter. Timestamps compare as instants, numbers as numbers.

use std::cmp::Ordering;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::json_arrow::infer::parse_timestamp_micros;

/// Orders two cursor values of the same kind; `None` when they cannot be compared.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            match (parse_timestamp_micros(x), parse_timestamp_micros(y)) {
                (Some(x), Some(y)) => Some(x.cmp(&y)),
                _ => Some(x.cmp(y)),
            }
        }
        _ => None,
    }
}

/// The start value minus `lag`: seconds for timestamps (re-rendered as RFC 3339), units for numbers.
pub fn minus_lag(value: &Value, lag: f64) -> Value {
    match value {
        Value::Number(n) if n.is_i64() && lag.fract() == 0.0 => {
            Value::from(n.as_i64().unwrap_or(0) - lag as i64)
        }
        Value::Number(n) => Value::from(n.as_f64().unwrap_or(0.0) - lag),
        Value::String(s) => match parse_timestamp_micros(s) {
            Some(micros) => {
                let shifted = micros - (lag * 1_000_000.0) as i64;
                DateTime::<Utc>::from_timestamp_micros(shifted)
                    .map(|t| Value::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
                    .unwrap_or_else(|| value.clone())
            }
            None => value.clone(),
        },
        _ => value.clone(),
    }
}

/// A cursor as a query parameter value (strings without JSON quotes).
pub fn as_param(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_compare_as_instants_and_numbers_as_numbers() {
        assert_eq!(
            compare(
                &json!("2024-01-02T00:00:00+02:00"),
                &json!("2024-01-01T23:00:00Z")
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(
                &json!("2024-01-01T23:00:00+00:00"),
                &json!("2024-01-01T23:00:00Z")
            ),
            Some(Ordering::Equal)
        );
        assert_eq!(compare(&json!(10), &json!(9)), Some(Ordering::Greater));
        assert_eq!(compare(&json!(2.5), &json!(9)), Some(Ordering::Less));
        assert_eq!(compare(&json!(null), &json!(9)), None);
        assert_eq!(compare(&json!("a"), &json!(9)), None);
    }

    #[test]
    fn lag_moves_the_start_back() {
        assert_eq!(
            minus_lag(&json!("2024-01-01T00:01:00Z"), 60.0),
            json!("2024-01-01T00:00:00Z")
        );
        assert_eq!(minus_lag(&json!(100), 10.0), json!(90));
        assert_eq!(as_param(&json!("a")), "a");
        assert_eq!(as_param(&json!(5)), "5");
    }
}
