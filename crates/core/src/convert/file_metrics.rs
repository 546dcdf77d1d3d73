//! The Iceberg metrics of a Parquet data file (column sizes, value, null and NaN counts,
//! lower/upper bounds, split offsets), built from the footer the writer returns, exactly as the
//! `iceberg` crate's own `ParquetWriter` builds them (its builder is crate-private, so our
//! column-parallel writer, [`super::parallel_writer`], needs its own). A unit test there holds
//! the two side by side for every type the readers' tests use.
//!
//! Columns are matched to fields by the Parquet field id the schema conversion wrote, which is
//! what the `iceberg` crate's path-name index resolves to for a schema it converted itself.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use iceberg::spec::{
    DataContentType, DataFileBuilder, DataFileFormat, Datum, NestedFieldRef, PrimitiveType,
    SchemaRef, Struct, Type,
};
use iceberg::{Error, ErrorKind, Result};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

/// A [`DataFileBuilder`] with the file's metrics; the caller adds partition and spec id.
pub fn data_file_builder(
    schema: &SchemaRef,
    metadata: &Arc<ParquetMetaData>,
    written_size: usize,
    file_path: String,
    nan_value_counts: HashMap<i32, u64>,
) -> Result<DataFileBuilder> {
    let mut column_sizes: HashMap<i32, u64> = HashMap::new();
    let mut value_counts: HashMap<i32, u64> = HashMap::new();
    let mut null_value_counts: HashMap<i32, u64> = HashMap::new();
    let mut bounds = Bounds::default();
    for row_group in metadata.row_groups() {
        for column in row_group.columns() {
            let info = column.column_descr().self_type().get_basic_info();
            if !info.has_id() {
                continue;
            }
            let field_id = info.id();
            let Some(field) = schema.field_by_id(field_id) else {
                continue;
            };
            *column_sizes.entry(field_id).or_default() += column.compressed_size() as u64;
            *value_counts.entry(field_id).or_default() += column.num_values() as u64;
            if let Some(statistics) = column.statistics() {
                if let Some(nulls) = statistics.null_count_opt() {
                    *null_value_counts.entry(field_id).or_default() += nulls;
                }
                let Type::Primitive(ty) = field.field_type.as_ref() else {
                    return Err(Error::new(
                        ErrorKind::Unexpected,
                        format!(
                            "Composed type {} is not supported for min max aggregation.",
                            field.field_type
                        ),
                    ));
                };
                bounds.update(field_id, ty, statistics)?;
            }
        }
    }
    let mut builder = DataFileBuilder::default();
    builder
        .content(DataContentType::Data)
        .file_path(file_path)
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .record_count(metadata.file_metadata().num_rows() as u64)
        .file_size_in_bytes(written_size as u64)
        .column_sizes(column_sizes)
        .value_counts(value_counts)
        .null_value_counts(null_value_counts)
        .nan_value_counts(nan_value_counts)
        .lower_bounds(bounds.lower)
        .upper_bounds(bounds.upper)
        .split_offsets(Some(
            metadata
                .row_groups()
                .iter()
                .filter_map(|group| group.file_offset())
                .collect(),
        ));
    Ok(builder)
}

/// The smallest lower and largest upper bound of each field over its column chunks; a chunk's
/// bound counts only when its statistics say it is exact (not truncated).
#[derive(Default)]
struct Bounds {
    lower: HashMap<i32, Datum>,
    upper: HashMap<i32, Datum>,
}

impl Bounds {
    fn update(&mut self, field_id: i32, ty: &PrimitiveType, stats: &Statistics) -> Result<()> {
        let mismatch = || {
            Error::new(
                ErrorKind::Unexpected,
                format!("Statistics {stats} is not match with field type {ty}."),
            )
        };
        if stats.min_is_exact() {
            let min = stat_as_datum(ty, stats, End::Min)?.ok_or_else(mismatch)?;
            let slot = self.lower.entry(field_id).or_insert_with(|| min.clone());
            if *slot > min {
                *slot = min;
            }
        }
        if stats.max_is_exact() {
            let max = stat_as_datum(ty, stats, End::Max)?.ok_or_else(mismatch)?;
            let slot = self.upper.entry(field_id).or_insert_with(|| max.clone());
            if *slot < max {
                *slot = max;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum End {
    Min,
    Max,
}

/// One end of a column chunk's statistics as an Iceberg value of the field's type; `None` when
/// the statistics have no such end or their physical type does not fit the field.
fn stat_as_datum(ty: &PrimitiveType, stats: &Statistics, end: End) -> Result<Option<Datum>> {
    fn pick<T>(end: End, min: Option<T>, max: Option<T>) -> Option<T> {
        match end {
            End::Min => min,
            End::Max => max,
        }
    }
    // Iceberg's binary form of a decimal is its big-endian two's complement, as in Parquet.
    let decimal = |value: i128| Datum::try_from_bytes(&value.to_be_bytes(), ty.clone());
    Ok(match (ty, stats) {
        (PrimitiveType::Boolean, Statistics::Boolean(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::bool(*v))
        }
        (PrimitiveType::Int, Statistics::Int32(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::int(*v))
        }
        (PrimitiveType::Date, Statistics::Int32(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::date(*v))
        }
        (PrimitiveType::Long, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::long(*v))
        }
        (PrimitiveType::Time, Statistics::Int64(s)) => match pick(end, s.min_opt(), s.max_opt()) {
            Some(v) => Some(Datum::time_micros(*v)?),
            None => None,
        },
        (PrimitiveType::Timestamp, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::timestamp_micros(*v))
        }
        (PrimitiveType::Timestamptz, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::timestamptz_micros(*v))
        }
        (PrimitiveType::TimestampNs, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::timestamp_nanos(*v))
        }
        (PrimitiveType::TimestamptzNs, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::timestamptz_nanos(*v))
        }
        (PrimitiveType::Float, Statistics::Float(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::float(*v))
        }
        (PrimitiveType::Double, Statistics::Double(s)) => {
            pick(end, s.min_opt(), s.max_opt()).map(|v| Datum::double(*v))
        }
        (PrimitiveType::String, Statistics::ByteArray(s)) => {
            match pick(end, s.min_opt(), s.max_opt()) {
                Some(v) => Some(Datum::string(v.as_utf8().map_err(|e| {
                    Error::new(ErrorKind::DataInvalid, "string statistics are not UTF-8")
                        .with_source(e)
                })?)),
                None => None,
            }
        }
        (PrimitiveType::Decimal { .. }, Statistics::ByteArray(s)) => {
            match pick(end, s.min_bytes_opt(), s.max_bytes_opt()) {
                Some(bytes) => {
                    let bytes: [u8; 16] = bytes.try_into().map_err(|e| {
                        Error::new(
                            ErrorKind::DataInvalid,
                            "decimal statistics are not 16 bytes",
                        )
                        .with_source(e)
                    })?;
                    Some(decimal(i128::from_be_bytes(bytes))?)
                }
                None => None,
            }
        }
        (PrimitiveType::Decimal { .. }, Statistics::FixedLenByteArray(s)) => {
            match pick(end, s.min_bytes_opt(), s.max_bytes_opt()) {
                Some(bytes) => Some(Datum::try_from_bytes(bytes, ty.clone())?),
                None => None,
            }
        }
        (PrimitiveType::Decimal { .. }, Statistics::Int32(s)) => {
            pick(end, s.min_opt(), s.max_opt())
                .map(|v| decimal(i128::from(*v)))
                .transpose()?
        }
        (PrimitiveType::Decimal { .. }, Statistics::Int64(s)) => {
            pick(end, s.min_opt(), s.max_opt())
                .map(|v| decimal(i128::from(*v)))
                .transpose()?
        }
        (PrimitiveType::Uuid, Statistics::FixedLenByteArray(s)) => {
            match pick(end, s.min_bytes_opt(), s.max_bytes_opt()) {
                Some(bytes) => {
                    let bytes: [u8; 16] = bytes.try_into().map_err(|_| {
                        Error::new(ErrorKind::Unexpected, "Invalid length of uuid bytes.")
                    })?;
                    Some(Datum::uuid(uuid::Uuid::from_bytes(bytes)))
                }
                None => None,
            }
        }
        (PrimitiveType::Fixed(len), Statistics::FixedLenByteArray(s)) => {
            match pick(end, s.min_bytes_opt(), s.max_bytes_opt()) {
                Some(bytes) if bytes.len() as u64 != *len => {
                    return Err(Error::new(
                        ErrorKind::Unexpected,
                        "Invalid length of fixed bytes.",
                    ))
                }
                Some(bytes) => Some(Datum::fixed(bytes.to_vec())),
                None => None,
            }
        }
        (PrimitiveType::Binary, Statistics::ByteArray(s)) => {
            pick(end, s.min_bytes_opt(), s.max_bytes_opt()).map(|b| Datum::binary(b.to_vec()))
        }
        _ => None,
    })
}

/// NaN values per float field, over every batch written: nested fields too, each float field
/// present with a count (0 included), as the `iceberg` crate's NaN visitor counts them (a list's
/// or map's whole child array).
#[derive(Debug, Default)]
pub struct NanCounts(HashMap<i32, u64>);

impl NanCounts {
    /// Counts the NaNs of `batch`, whose columns are the schema's fields in order.
    pub fn add(&mut self, schema: &SchemaRef, batch: &RecordBatch) {
        for (field, column) in schema.as_struct().fields().iter().zip(batch.columns()) {
            self.add_field(field, column);
        }
    }

    fn add_field(&mut self, field: &NestedFieldRef, array: &ArrayRef) {
        let nans = match array.data_type() {
            DataType::Float32 => Some(
                array
                    .as_primitive::<Float32Type>()
                    .iter()
                    .flatten()
                    .filter(|v| v.is_nan())
                    .count(),
            ),
            DataType::Float64 => Some(
                array
                    .as_primitive::<Float64Type>()
                    .iter()
                    .flatten()
                    .filter(|v| v.is_nan())
                    .count(),
            ),
            _ => None,
        };
        if let Some(nans) = nans {
            *self.0.entry(field.id).or_default() += nans as u64;
        }
        match field.field_type.as_ref() {
            Type::Struct(fields) => {
                if let Some(array) = array.as_struct_opt() {
                    for (child, column) in fields.fields().iter().zip(array.columns()) {
                        self.add_field(child, column);
                    }
                }
            }
            Type::List(list) => {
                let values = match array.data_type() {
                    DataType::List(_) => Some(array.as_list::<i32>().values()),
                    DataType::LargeList(_) => Some(array.as_list::<i64>().values()),
                    _ => None,
                };
                if let Some(values) = values {
                    self.add_field(&list.element_field, values);
                }
            }
            Type::Map(map) => {
                if let Some(array) = array.as_map_opt() {
                    self.add_field(&map.key_field, array.keys());
                    self.add_field(&map.value_field, array.values());
                }
            }
            Type::Primitive(_) => {}
        }
    }

    pub fn into_map(self) -> HashMap<i32, u64> {
        self.0
    }
}
