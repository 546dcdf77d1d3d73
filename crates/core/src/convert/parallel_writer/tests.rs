//! Our writer's data files against the `iceberg` crate's `ParquetWriter` for the same batches:
//! the same metrics for every type the readers' all-types tests use, nested floats included.

use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeBinaryArray, Float64Array, Int64Array, ListArray, RecordBatch,
    StringArray, StructArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, SchemaRef as ArrowSchemaRef};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, ListType, NestedField, PrimitiveType, Schema, SchemaRef, StructType, Type,
};
use iceberg::writer::file_writer::{FileWriter, FileWriterBuilder, ParquetWriterBuilder};
use parquet::file::properties::{EnabledStatistics, WriterProperties};

use super::ParallelParquetWriterBuilder;

const ROWS: i64 = 3_000;

fn schema() -> SchemaRef {
    let primitive =
        |id, name: &str, ty| NestedField::optional(id, name, Type::Primitive(ty)).into();
    let decimal = |precision, scale| PrimitiveType::Decimal { precision, scale };
    Arc::new(
        Schema::builder()
            .with_fields(vec![
                NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                primitive(2, "c_int", PrimitiveType::Int),
                primitive(3, "c_long", PrimitiveType::Long),
                primitive(4, "c_float", PrimitiveType::Float),
                primitive(5, "c_double", PrimitiveType::Double),
                primitive(6, "c_dec9_2", decimal(9, 2)),
                primitive(7, "c_dec38_10", decimal(38, 10)),
                primitive(8, "c_bool", PrimitiveType::Boolean),
                primitive(9, "c_string", PrimitiveType::String),
                primitive(10, "c_binary", PrimitiveType::Binary),
                primitive(11, "c_date", PrimitiveType::Date),
                primitive(12, "c_time", PrimitiveType::Time),
                primitive(13, "c_ts", PrimitiveType::Timestamp),
                primitive(14, "c_tstz", PrimitiveType::Timestamptz),
                primitive(15, "c_ts_ns", PrimitiveType::TimestampNs),
                primitive(16, "c_tstz_ns", PrimitiveType::TimestamptzNs),
                primitive(17, "c_uuid", PrimitiveType::Uuid),
                primitive(18, "c_fixed8", PrimitiveType::Fixed(8)),
                NestedField::optional(
                    19,
                    "c_struct",
                    Type::Struct(StructType::new(vec![
                        primitive(20, "f", PrimitiveType::Float),
                        primitive(21, "s", PrimitiveType::String),
                    ])),
                )
                .into(),
                NestedField::optional(
                    22,
                    "c_list",
                    Type::List(ListType::new(
                        NestedField::optional(
                            23,
                            "element",
                            Type::Primitive(PrimitiveType::Double),
                        )
                        .into(),
                    )),
                )
                .into(),
            ])
            .build()
            .unwrap(),
    )
}

/// Values of row `i` (from `first`): a null every 7th row, NaN every 11th float.
fn longs(first: i64, signed: bool) -> Int64Array {
    (first..first + ROWS)
        .map(|i| {
            (i % 7 != 3).then_some(if signed && i % 2 == 0 {
                -i * 13
            } else {
                i * 13
            })
        })
        .collect()
}

fn floats(first: i64) -> Float64Array {
    (first..first + ROWS)
        .map(|i| {
            let value = if i % 11 == 0 {
                f64::NAN
            } else {
                i as f64 * 0.25 - 400.0
            };
            (i % 7 != 3).then_some(value)
        })
        .collect()
}

fn strings(first: i64) -> StringArray {
    (first..first + ROWS)
        .map(|i| (i % 7 != 3).then(|| format!("value-{}", (i * 7919) % 5000)))
        .collect()
}

fn fixed(first: i64, width: usize) -> FixedSizeBinaryArray {
    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
        (first..first + ROWS).map(|i| {
            (i % 7 != 3).then(|| {
                let mut bytes = vec![0u8; width];
                bytes[width - 8..].copy_from_slice(&((i * 2654435761) as u64).to_be_bytes());
                bytes
            })
        }),
        width as i32,
    )
    .unwrap()
}

fn cast(array: &dyn Array, to: &DataType) -> ArrayRef {
    arrow_cast::cast(array, to).unwrap()
}

fn batch(arrow_schema: &ArrowSchemaRef, first: i64) -> RecordBatch {
    let column = |name: &str| {
        arrow_schema
            .field_with_name(name)
            .unwrap()
            .data_type()
            .clone()
    };
    let small = Int64Array::from_iter(longs(first, true).iter().map(|v| v.map(|v| v % 100_000)));
    let DataType::Struct(struct_fields) = column("c_struct") else {
        panic!("c_struct")
    };
    let strukt = StructArray::new(
        struct_fields,
        vec![
            cast(&floats(first + 5), &DataType::Float32),
            Arc::new(strings(first + 3)),
        ],
        Some(NullBuffer::from_iter((0..ROWS).map(|i| i % 5 != 0))),
    );
    let DataType::List(item) = column("c_list") else {
        panic!("c_list")
    };
    let list = ListArray::new(
        item,
        OffsetBuffer::from_lengths((0..ROWS).map(|i| (i % 3) as usize)),
        Arc::new(floats(first).slice(0, (0..ROWS).map(|i| (i % 3) as usize).sum())),
        Some(NullBuffer::from_iter((0..ROWS).map(|i| i % 13 != 0))),
    );
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(first..first + ROWS)),
        cast(&small, &column("c_int")),
        Arc::new(longs(first, true)),
        cast(&floats(first), &column("c_float")),
        Arc::new(floats(first + 1)),
        cast(&small, &column("c_dec9_2")),
        cast(&longs(first, true), &column("c_dec38_10")),
        cast(&longs(first, false), &column("c_bool")),
        Arc::new(strings(first)),
        cast(&strings(first + 1), &column("c_binary")),
        cast(&cast(&small, &DataType::Int32), &column("c_date")),
        cast(&longs(first, false), &column("c_time")),
        cast(&longs(first, true), &column("c_ts")),
        cast(&longs(first, true), &column("c_tstz")),
        cast(&longs(first, true), &column("c_ts_ns")),
        cast(&longs(first, true), &column("c_tstz_ns")),
        Arc::new(fixed(first, 16)),
        Arc::new(fixed(first, 8)),
        Arc::new(strukt),
        Arc::new(list),
    ];
    RecordBatch::try_new(arrow_schema.clone(), columns).unwrap()
}

fn properties(dictionary: bool) -> WriterProperties {
    WriterProperties::builder()
        .set_dictionary_enabled(dictionary)
        .set_statistics_enabled(EnabledStatistics::Page)
        // Several row groups, one of them cut inside a batch.
        .set_max_row_group_row_count(Some(2_500))
        .build()
}

async fn write(builder: impl FileWriterBuilder, file_io: &FileIO, path: &str) -> DataFile {
    let mut writer = builder
        .build(file_io.new_output(path).unwrap())
        .await
        .unwrap();
    let arrow_schema = Arc::new(schema_to_arrow_schema(&schema()).unwrap());
    for first in [0, ROWS, 2 * ROWS] {
        writer.write(&batch(&arrow_schema, first)).await.unwrap();
    }
    let mut files = writer.close().await.unwrap();
    assert_eq!(files.len(), 1);
    files.remove(0).partition_spec_id(0).build().unwrap()
}

async fn both(dictionary: bool) -> (DataFile, DataFile) {
    let file_io = FileIO::new_with_memory();
    let arrow_schema = Arc::new(schema_to_arrow_schema(&schema()).unwrap());
    let theirs = write(
        ParquetWriterBuilder::new(properties(dictionary), schema()),
        &file_io,
        "memory:///theirs.parquet",
    )
    .await;
    let ours = write(
        ParallelParquetWriterBuilder::new(properties(dictionary), schema(), arrow_schema),
        &file_io,
        "memory:///ours.parquet",
    )
    .await;
    (ours, theirs)
}

fn assert_same_values(ours: &DataFile, theirs: &DataFile) {
    assert_eq!(ours.record_count(), 3 * ROWS as u64);
    assert_eq!(ours.record_count(), theirs.record_count());
    assert_eq!(ours.value_counts(), theirs.value_counts());
    assert_eq!(ours.null_value_counts(), theirs.null_value_counts());
    assert_eq!(ours.nan_value_counts(), theirs.nan_value_counts());
    assert_eq!(ours.lower_bounds(), theirs.lower_bounds());
    assert_eq!(ours.upper_bounds(), theirs.upper_bounds());
    assert_eq!(ours.split_offsets().map(<[i64]>::len), Some(4));
    // Every leaf has bounds and counts: the comparison is not of two empty maps.
    let leaves = [
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 23,
    ];
    for id in leaves {
        assert!(
            ours.lower_bounds().contains_key(&id),
            "no lower bound for field {id}"
        );
        assert!(
            ours.upper_bounds().contains_key(&id),
            "no upper bound for field {id}"
        );
        assert!(
            ours.null_value_counts()[&id] > 0 || id == 1,
            "no nulls counted for {id}"
        );
    }
    for float in [4, 5, 20, 23] {
        assert!(
            ours.nan_value_counts()[&float] > 0,
            "no NaN counted for field {float}"
        );
    }
}

#[tokio::test]
async fn same_file_and_metrics_as_the_iceberg_writer() {
    // Without dictionaries both write the same bytes: sizes and offsets must agree too.
    let (ours, theirs) = both(false).await;
    assert_same_values(&ours, &theirs);
    assert_eq!(ours.column_sizes(), theirs.column_sizes());
    assert_eq!(ours.split_offsets(), theirs.split_offsets());
    assert_eq!(ours.file_size_in_bytes(), theirs.file_size_in_bytes());
}

#[tokio::test]
async fn same_metrics_when_near_unique_columns_go_plain() {
    let (ours, theirs) = both(true).await;
    assert_same_values(&ours, &theirs);
    assert_eq!(
        ours.column_sizes().keys().len(),
        theirs.column_sizes().keys().len()
    );
    // `id` is unique: written plain by us, with a dictionary that overflows by the iceberg writer.
    assert_ne!(ours.column_sizes()[&1], theirs.column_sizes()[&1]);
}
