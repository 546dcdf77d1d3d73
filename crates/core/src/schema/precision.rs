//! Nanosecond timestamps and times in an Iceberg table of microseconds (format v1/v2; v3's
//! `timestamp_ns` is not written by icepipe, see the README). Nanosecond values convert exactly
//! when they have no digits below the microsecond; otherwise the table property
//! `icepipe.nanosecond-timestamps` decides: `reject` (the default: the file is refused, naming
//! the column and the value) or `truncate` (rounded down to the microsecond, as Spark does).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Time64NanosecondType, TimestampNanosecondType};
use arrow_array::{ArrayRef, PrimitiveArray, Time64MicrosecondArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, TimeUnit};

/// Table property choosing what happens to sub-microsecond digits.
pub const NANOSECONDS_PROPERTY: &str = "icepipe.nanosecond-timestamps";

const NANOS_PER_MICRO: i64 = 1000;

/// What to do with nanosecond values that have digits below the microsecond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubMicros {
    /// Refuse the file: nothing is lost silently.
    #[default]
    Reject,
    /// Round down to the microsecond (towards the past, also before 1970).
    Truncate,
}

/// Why nanoseconds cannot go into the table: both need a person (a property to fix or set).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrecisionError {
    #[error(
        "table property {NANOSECONDS_PROPERTY} = {value:?}: expected \"reject\" or \"truncate\""
    )]
    UnknownPolicy { value: String },
    #[error(
        "nanosecond value {value} has digits below the microsecond, which an Iceberg v2 table \
         (microseconds) cannot hold; set the table property {NANOSECONDS_PROPERTY}=truncate to \
         keep them to the microsecond"
    )]
    SubMicrosecond { value: i64 },
}

impl SubMicros {
    /// From the table's properties; an unknown value is an error naming the property.
    pub fn from_properties(properties: &HashMap<String, String>) -> Result<Self, PrecisionError> {
        match properties.get(NANOSECONDS_PROPERTY).map(String::as_str) {
            None | Some("reject") => Ok(Self::Reject),
            Some("truncate") => Ok(Self::Truncate),
            Some(other) => Err(PrecisionError::UnknownPolicy {
                value: other.to_string(),
            }),
        }
    }
}

/// Whether a type carries nanoseconds (which an Iceberg v2 column cannot hold).
pub fn is_nanoseconds(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(TimeUnit::Nanosecond, _) | DataType::Time64(TimeUnit::Nanosecond)
    )
}

/// A nanosecond timestamp or time array in microseconds (same zone, same nulls), or why not.
pub fn nanos_to_micros(array: &ArrayRef, policy: SubMicros) -> Result<ArrayRef, PrecisionError> {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, zone) => {
            let micros: TimestampMicrosecondArray =
                to_micros(array.as_primitive::<TimestampNanosecondType>(), policy)?;
            Ok(Arc::new(micros.with_timezone_opt(zone.clone())))
        }
        DataType::Time64(TimeUnit::Nanosecond) => {
            let micros: Time64MicrosecondArray =
                to_micros(array.as_primitive::<Time64NanosecondType>(), policy)?;
            Ok(Arc::new(micros))
        }
        _ => Ok(array.clone()),
    }
}

fn to_micros<From, To>(
    nanos: &PrimitiveArray<From>,
    policy: SubMicros,
) -> Result<PrimitiveArray<To>, PrecisionError>
where
    From: arrow_array::ArrowPrimitiveType<Native = i64>,
    To: arrow_array::ArrowPrimitiveType<Native = i64>,
{
    if policy == SubMicros::Reject {
        if let Some(value) = nanos
            .iter()
            .flatten()
            .find(|v| v.rem_euclid(NANOS_PER_MICRO) != 0)
        {
            return Err(PrecisionError::SubMicrosecond { value });
        }
    }
    Ok(nanos.unary(|v| v.div_euclid(NANOS_PER_MICRO)))
}

#[cfg(test)]
mod tests {
    use arrow_array::{Array, Time64NanosecondArray, TimestampNanosecondArray};

    use super::*;

    fn props(value: &str) -> HashMap<String, String> {
        HashMap::from([(NANOSECONDS_PROPERTY.to_string(), value.to_string())])
    }

    #[test]
    fn policy_from_properties() {
        assert_eq!(
            SubMicros::from_properties(&HashMap::new()),
            Ok(SubMicros::Reject)
        );
        assert_eq!(
            SubMicros::from_properties(&props("reject")),
            Ok(SubMicros::Reject)
        );
        assert_eq!(
            SubMicros::from_properties(&props("truncate")),
            Ok(SubMicros::Truncate)
        );
        let err = SubMicros::from_properties(&props("round"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(NANOSECONDS_PROPERTY) && err.contains("round"),
            "{err}"
        );
    }

    #[test]
    fn whole_microseconds_convert_exactly_under_either_policy() {
        let ns: ArrayRef = Arc::new(
            TimestampNanosecondArray::from(vec![Some(1_000), None, Some(-2_000)])
                .with_timezone("+00:00"),
        );
        for policy in [SubMicros::Reject, SubMicros::Truncate] {
            let us = nanos_to_micros(&ns, policy).unwrap();
            assert_eq!(
                us.data_type(),
                &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
            );
            let us = us.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
            assert_eq!(us.iter().collect::<Vec<_>>(), vec![Some(1), None, Some(-2)]);
        }
    }

    #[test]
    fn sub_microsecond_digits_are_refused_or_rounded_down() {
        let ns: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![1_999, -1]));
        let err = nanos_to_micros(&ns, SubMicros::Reject)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("1999") && err.contains(NANOSECONDS_PROPERTY),
            "{err}"
        );
        let us = nanos_to_micros(&ns, SubMicros::Truncate).unwrap();
        let us = us.as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        assert_eq!(us.values().to_vec(), vec![1, -1]);

        let time: ArrayRef = Arc::new(Time64NanosecondArray::from(vec![86_399_999_999_999]));
        assert!(nanos_to_micros(&time, SubMicros::Reject).is_err());
        let us = nanos_to_micros(&time, SubMicros::Truncate).unwrap();
        assert_eq!(us.data_type(), &DataType::Time64(TimeUnit::Microsecond));
        assert_eq!(us.len(), 1);
    }
}
