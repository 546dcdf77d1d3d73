//! INT96 timestamps (Spark, Impala, Hive): a deprecated 12-byte physical type, Julian day plus
//! nanoseconds of the day. Arrow's Parquet reader decodes them as nanoseconds by default, which
//! wraps around outside 1677-2262 (Spark writes years up to 9999); Iceberg stores microseconds.
//! So INT96 columns are read as microseconds, directly from the day and nanosecond parts: never
//! out of range, sub-microsecond digits (which Spark never writes) dropped, as Iceberg's own
//! Parquet readers do.
//!
//! Zone: Spark's `TimestampType` is an instant, stored in UTC, so an INT96 column becomes
//! `timestamptz` (Iceberg's mapping for INT96). A file that carries an Arrow schema (pyarrow's
//! `use_deprecated_int96_timestamps`) says itself whether the column has a zone, and is followed.

use std::sync::Arc;

use arrow_schema::{DataType, Field, FieldRef, Fields, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::basic::Type as PhysicalType;
use parquet::errors::Result as ParquetResult;
use parquet::file::metadata::ParquetMetaData;

/// Footer key under which Arrow writers store the Arrow schema.
const ARROW_SCHEMA_KEY: &str = "ARROW:schema";
const UTC: &str = "+00:00";

/// Reader options that decode every INT96 column as microseconds (plain options when the file
/// has none).
pub fn reader_options(metadata: &ParquetMetaData) -> ParquetResult<ArrowReaderOptions> {
    let file = metadata.file_metadata();
    let descr = file.schema_descr();
    let int96: Vec<bool> = descr
        .columns()
        .iter()
        .map(|c| c.physical_type() == PhysicalType::INT96)
        .collect();
    if !int96.contains(&true) {
        return Ok(ArrowReaderOptions::new());
    }
    let kv = file.key_value_metadata();
    let has_arrow_schema = kv.is_some_and(|kv| kv.iter().any(|e| e.key == ARROW_SCHEMA_KEY));
    let inferred = parquet_to_arrow_schema(descr, kv)?;
    let mut leaves = Leaves {
        int96: &int96,
        next: 0,
        default_zone: (!has_arrow_schema).then(|| Arc::from(UTC)),
    };
    let fields: Fields = inferred.fields().iter().map(|f| leaves.field(f)).collect();
    Ok(
        ArrowReaderOptions::new().with_schema(Arc::new(Schema::new_with_metadata(
            fields,
            inferred.metadata().clone(),
        ))),
    )
}

/// Walks Arrow fields in the order of the Parquet leaf columns they come from (depth first, as
/// the reader assigns them), rewriting the types of INT96 leaves.
struct Leaves<'a> {
    int96: &'a [bool],
    next: usize,
    /// The zone of INT96 columns whose type no Arrow schema gives.
    default_zone: Option<Arc<str>>,
}

impl Leaves<'_> {
    fn field(&mut self, field: &FieldRef) -> FieldRef {
        let data_type = match field.data_type() {
            DataType::Struct(children) => {
                DataType::Struct(children.iter().map(|c| self.field(c)).collect())
            }
            DataType::List(e) => DataType::List(self.field(e)),
            DataType::LargeList(e) => DataType::LargeList(self.field(e)),
            DataType::ListView(e) => DataType::ListView(self.field(e)),
            DataType::LargeListView(e) => DataType::LargeListView(self.field(e)),
            DataType::FixedSizeList(e, n) => DataType::FixedSizeList(self.field(e), *n),
            DataType::Map(entries, sorted) => DataType::Map(self.field(entries), *sorted),
            leaf => {
                let index = self.next;
                self.next += 1;
                match leaf {
                    DataType::Timestamp(_, zone) if self.int96.get(index) == Some(&true) => {
                        DataType::Timestamp(
                            TimeUnit::Microsecond,
                            zone.clone().or_else(|| self.default_zone.clone()),
                        )
                    }
                    other => other.clone(),
                }
            }
        };
        Arc::new(Field::clone(field).with_data_type(data_type))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
    use parquet::data_type::{Int96, Int96Type};
    use parquet::file::metadata::ParquetMetaDataReader;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::parser::parse_message_type;

    use super::*;

    fn footer(message: &str) -> ParquetMetaData {
        let schema = Arc::new(parse_message_type(message).unwrap());
        let mut out = Vec::new();
        let writer = SerializedFileWriter::new(
            &mut out,
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        writer.close().unwrap();
        ParquetMetaDataReader::new()
            .parse_and_finish(&bytes::Bytes::from(out))
            .unwrap()
    }

    fn schema_read(metadata: &ParquetMetaData) -> arrow_schema::SchemaRef {
        let options = reader_options(metadata).unwrap();
        ArrowReaderMetadata::try_new(Arc::new(metadata.clone()), options)
            .unwrap()
            .schema()
            .clone()
    }

    #[test]
    fn files_without_int96_read_as_usual() {
        let metadata = footer("message m { required int64 ts (TIMESTAMP(NANOS,true)); }");
        assert_eq!(
            schema_read(&metadata).field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
    }

    #[test]
    fn int96_leaves_become_utc_microseconds_at_any_depth() {
        let metadata = footer(
            "message spark_schema {
               optional int32 id;
               optional int96 at;
               optional group events (LIST) {
                 repeated group list { optional group element { optional int96 seen; optional int32 n; } }
               }
             }",
        );
        let schema = schema_read(&metadata);
        let utc_us = DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()));
        assert_eq!(schema.field(0).data_type(), &DataType::Int32);
        assert_eq!(schema.field(1).data_type(), &utc_us);
        let DataType::List(element) = schema.field(2).data_type() else {
            panic!("a list: {schema:?}");
        };
        let DataType::Struct(children) = element.data_type() else {
            panic!("a struct element: {element:?}");
        };
        assert_eq!(children[0].data_type(), &utc_us);
        assert_eq!(children[1].data_type(), &DataType::Int32);
    }

    #[test]
    fn int96_values_decode_exactly_far_from_the_epoch() {
        // 9999-12-31T23:59:59.999999 and 1500-01-01T00:00:00: both outside nanoseconds' range.
        let schema = Arc::new(parse_message_type("message m { required int96 at; }").unwrap());
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(
            &mut out,
            schema,
            Arc::new(WriterProperties::builder().build()),
        )
        .unwrap();
        let julian = |unix_day: i64| (unix_day + 2_440_588) as u32;
        let int96 = |unix_day: i64, nanos: u64| {
            let mut v = Int96::new();
            v.set_data(nanos as u32, (nanos >> 32) as u32, julian(unix_day));
            v
        };
        let late_day = 2_932_896; // 9999-12-31
        let early_day = -171_894; // in the year 1499
        let values = [int96(late_day, 86_399_999_999_000), int96(early_day, 0)];
        let mut group = writer.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        column
            .typed::<Int96Type>()
            .write_batch(&values, None, None)
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();

        let bytes = bytes::Bytes::from(out);
        let metadata = ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap();
        let options = reader_options(&metadata).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, options)
            .unwrap()
            .build()
            .unwrap();
        let batch = reader.into_iter().next().unwrap().unwrap();
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow_array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(column.value(0), late_day * 86_400_000_000 + 86_399_999_999);
        assert_eq!(column.value(1), early_day * 86_400_000_000);
    }
}
