//! Primary keys, versions and delete markers read from Arrow columns as plain values that compare
//! the same whichever integer width, string encoding or timestamp unit a file stored them with
//! (a raw file and a data file written before a type was widened must still match).

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use std::collections::HashSet;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use iceberg::spec::{Datum, PrimitiveLiteral};
use rustc_hash::FxBuildHasher;

/// One column value, ordered within its kind (`Null` sorts first, so a missing version is the
/// oldest). Floats are kept as their IEEE total-order key.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Str(String),
    Bytes(Vec<u8>),
}

impl Scalar {
    fn float(value: f64) -> Self {
        let bits = value.to_bits();
        // Flip all bits of negatives and the sign bit of positives: unsigned order = float order.
        let key = if bits >> 63 == 1 {
            !bits
        } else {
            bits | (1 << 63)
        };
        Scalar::Float(key)
    }

    /// A manifest bound as a value comparable with column values (`None`: not comparable, so
    /// the bound prunes nothing). Timestamps compare as microseconds, as the data files hold them.
    pub fn of_bound(datum: &Datum) -> Option<Self> {
        Some(match datum.literal() {
            PrimitiveLiteral::Boolean(b) => Scalar::Bool(*b),
            PrimitiveLiteral::Int(i) => Scalar::Int(i64::from(*i)),
            PrimitiveLiteral::Long(l) => Scalar::Int(*l),
            PrimitiveLiteral::Float(f) => Scalar::float(f64::from(f.0)),
            PrimitiveLiteral::Double(d) => Scalar::float(d.0),
            PrimitiveLiteral::String(s) => Scalar::Str(s.clone()),
            PrimitiveLiteral::Binary(b) => Scalar::Bytes(b.clone()),
            _ => return None,
        })
    }
}

/// A column normalized to one of the few shapes [`Scalar`] reads.
#[derive(Debug, Clone)]
pub struct Column(ArrayRef);

#[derive(Debug, Clone, thiserror::Error)]
#[error("column {column}: {reason}")]
pub struct KeyColumnError {
    pub column: String,
    pub reason: String,
}

impl Column {
    /// `name` of `batch`, cast to its comparable shape.
    pub fn of(batch: &RecordBatch, name: &str) -> Result<Self, KeyColumnError> {
        let error = |reason: String| KeyColumnError {
            column: name.to_string(),
            reason,
        };
        let array = batch
            .column_by_name(name)
            .ok_or_else(|| error("not in the rows".into()))?;
        let target = match array.data_type() {
            DataType::Boolean => DataType::Boolean,
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32 => DataType::Int64,
            // Timestamps compare in microseconds whatever unit the file used.
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => DataType::Float64,
            DataType::Binary | DataType::LargeBinary | DataType::FixedSizeBinary(_) => {
                DataType::LargeBinary
            }
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(..) => DataType::LargeUtf8,
            // Decimals, unsigned 64-bit: compared by their text (equality holds, order may not).
            _ => DataType::LargeUtf8,
        };
        let cast = arrow_cast::cast(array, &target).map_err(|e| error(e.to_string()))?;
        let cast = match cast.data_type() {
            DataType::Timestamp(..) => {
                arrow_cast::cast(&cast, &DataType::Int64).map_err(|e| error(e.to_string()))?
            }
            _ => cast,
        };
        Ok(Self(cast))
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.0.is_null(row)
    }

    /// The row's value as an integer when the column holds integers (no allocation).
    fn int(&self, row: usize) -> Option<i64> {
        (self.0.data_type() == &DataType::Int64 && !self.0.is_null(row))
            .then(|| self.0.as_primitive::<Int64Type>().value(row))
    }

    /// The row's value as text when the column holds text (borrowed, no allocation).
    fn str(&self, row: usize) -> Option<&str> {
        (self.0.data_type() == &DataType::LargeUtf8 && !self.0.is_null(row))
            .then(|| self.0.as_string::<i64>().value(row))
    }

    pub fn value(&self, row: usize) -> Scalar {
        let array = &self.0;
        if array.is_null(row) {
            return Scalar::Null;
        }
        match array.data_type() {
            DataType::Boolean => Scalar::Bool(array.as_boolean().value(row)),
            DataType::Int64 => Scalar::Int(array.as_primitive::<Int64Type>().value(row)),
            DataType::Float64 => Scalar::float(array.as_primitive::<Float64Type>().value(row)),
            DataType::LargeBinary => Scalar::Bytes(array.as_binary::<i64>().value(row).to_vec()),
            _ => Scalar::Str(array.as_string::<i64>().value(row).to_string()),
        }
    }

    /// A hard-delete marker: `true` for a boolean column, any non-null value otherwise (dlt's
    /// `hard_delete` hint).
    pub fn marks_delete(&self, row: usize) -> bool {
        match self.value(row) {
            Scalar::Null => false,
            Scalar::Bool(b) => b,
            _ => true,
        }
    }
}

/// The primary key columns of one batch.
#[derive(Debug, Clone)]
pub struct KeyColumns(Vec<(String, Column)>);

impl KeyColumns {
    pub fn of(batch: &RecordBatch, names: &[String]) -> Result<Self, KeyColumnError> {
        names
            .iter()
            .map(|n| Ok((n.clone(), Column::of(batch, n)?)))
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// The first key column.
    pub fn leading(&self) -> &Column {
        &self.0[0].1
    }

    /// The row's key, or the name of a key column it leaves null.
    pub fn key(&self, row: usize) -> Result<Vec<Scalar>, &str> {
        self.0
            .iter()
            .map(|(name, column)| match column.is_null(row) {
                true => Err(name.as_str()),
                false => Ok(column.value(row)),
            })
            .collect()
    }
}

/// The values of the incoming keys' first column, to pass over table rows no incoming key can
/// match before building their key: in a merge spread over a large table almost every row is
/// such a row, and building a key allocates. Integers and text are looked up as they are stored.
#[derive(Debug, Default)]
pub struct LeadingValues {
    ints: HashSet<i64, FxBuildHasher>,
    strs: HashSet<String, FxBuildHasher>,
    others: HashSet<Scalar, FxBuildHasher>,
}

impl LeadingValues {
    pub fn of<'a>(values: impl IntoIterator<Item = &'a Scalar>) -> Self {
        let mut leading = Self::default();
        for value in values {
            match value {
                Scalar::Int(i) => {
                    leading.ints.insert(*i);
                }
                Scalar::Str(s) => {
                    leading.strs.insert(s.clone());
                }
                other => {
                    leading.others.insert(other.clone());
                }
            }
        }
        leading
    }

    /// Whether the row's value in `column` is one of the values (a null never is).
    pub fn hold(&self, column: &Column, row: usize) -> bool {
        if column.is_null(row) {
            return false;
        }
        if let Some(i) = column.int(row) {
            return self.ints.contains(&i);
        }
        if let Some(s) = column.str(row) {
            return self.strs.contains(s);
        }
        self.others.contains(&column.value(row))
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use arrow_array::{
        Float64Array, Int32Array, Int64Array, StringArray, TimestampNanosecondArray,
    };
    use arrow_schema::{Field, Schema};

    use super::*;

    /// Merge keys on `id` with version `v` (the merge module's tests').
    pub(in crate::merge) fn merge_keys(
        hard_delete: Option<&str>,
        merge_key: &[&str],
    ) -> crate::raw::footer::MergeKeys {
        crate::raw::footer::MergeKeys {
            primary_key: vec!["id".into()],
            version_column: "v".into(),
            hard_delete_column: hard_delete.map(str::to_string),
            merge_key: merge_key.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// A batch of nullable columns (also the merge module's other tests').
    pub(in crate::merge) fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap()
    }

    #[test]
    fn widths_and_units_compare_alike() {
        let narrow = batch(vec![(
            "id",
            Arc::new(Int32Array::from(vec![7])) as ArrayRef,
        )]);
        let wide = batch(vec![(
            "id",
            Arc::new(Int64Array::from(vec![7])) as ArrayRef,
        )]);
        assert_eq!(
            Column::of(&narrow, "id").unwrap().value(0),
            Column::of(&wide, "id").unwrap().value(0)
        );
        let nanos = batch(vec![(
            "t",
            Arc::new(TimestampNanosecondArray::from(vec![5_000])) as ArrayRef,
        )]);
        assert_eq!(Column::of(&nanos, "t").unwrap().value(0), Scalar::Int(5));
    }

    #[test]
    fn floats_and_nulls_order_as_values() {
        let floats = batch(vec![(
            "v",
            Arc::new(Float64Array::from(vec![
                Some(-2.5),
                Some(-1.0),
                Some(0.0),
                Some(3.0),
                None,
            ])) as ArrayRef,
        )]);
        let column = Column::of(&floats, "v").unwrap();
        let values: Vec<Scalar> = (0..5).map(|i| column.value(i)).collect();
        let mut sorted = values.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                values[4].clone(),
                values[0].clone(),
                values[1].clone(),
                values[2].clone(),
                values[3].clone()
            ]
        );
    }

    #[test]
    fn compound_keys_and_null_parts() {
        let rows = batch(vec![
            (
                "tenant",
                Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
            ),
            ("id", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ]);
        let keys = KeyColumns::of(&rows, &["tenant".into(), "id".into()]).unwrap();
        assert_eq!(
            keys.key(0).unwrap(),
            [Scalar::Str("a".into()), Scalar::Int(1)]
        );
        assert_eq!(keys.key(1).unwrap_err(), "tenant");
        assert!(KeyColumns::of(&rows, &["missing".into()]).is_err());
    }

    #[test]
    fn leading_values_hold_exactly_the_incoming_values() {
        let incoming = [Scalar::Int(7), Scalar::Str("b".into()), Scalar::Bool(true)];
        let leading = LeadingValues::of(&incoming);
        let ints = batch(vec![(
            "id",
            Arc::new(Int32Array::from(vec![Some(7), Some(8), None])) as ArrayRef,
        )]);
        let ints = Column::of(&ints, "id").unwrap();
        assert_eq!(
            (0..3).map(|r| leading.hold(&ints, r)).collect::<Vec<_>>(),
            [true, false, false]
        );
        let strs = batch(vec![(
            "id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        )]);
        let strs = Column::of(&strs, "id").unwrap();
        assert_eq!(
            (0..2).map(|r| leading.hold(&strs, r)).collect::<Vec<_>>(),
            [false, true]
        );
        let bools = batch(vec![(
            "id",
            Arc::new(arrow_array::BooleanArray::from(vec![false, true])) as ArrayRef,
        )]);
        let bools = Column::of(&bools, "id").unwrap();
        assert_eq!(
            (0..2).map(|r| leading.hold(&bools, r)).collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn delete_markers() {
        let rows = batch(vec![
            (
                "deleted",
                Arc::new(arrow_array::BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                ])) as ArrayRef,
            ),
            (
                "deleted_at",
                Arc::new(StringArray::from(vec![None, Some("2026-01-01"), None])) as ArrayRef,
            ),
        ]);
        let flag = Column::of(&rows, "deleted").unwrap();
        assert_eq!(
            (0..3).map(|i| flag.marks_delete(i)).collect::<Vec<_>>(),
            [true, false, false]
        );
        let stamp = Column::of(&rows, "deleted_at").unwrap();
        assert_eq!(
            (0..3).map(|i| stamp.marks_delete(i)).collect::<Vec<_>>(),
            [false, true, false]
        );
    }
}
