//! The Parquet settings that keep a Worker's memory per column small, shared by the ingest (raw
//! files) and the converter (reading raw files, writing data files).
//!
//! Where memory per column went: every Parquet column writer and column chunk reader holds a
//! zstd codec (a ~96 KB decompression context plus a compression context, even when only
//! writing; now shared per thread, see `vendor/zstd/ICEPIPE.md`), and every column writer with
//! dictionary encoding a 4,096-slot hash table (~48 KiB) from its first value; decoded batches
//! of 8,192 rows add `8 KiB x width` per column. What remains per column grows with the rows of
//! a row group (its encoded pages are buffered until the row group closes): measured in workerd
//! by `scripts/bench --cases wide`.

use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::file::properties::WriterPropertiesBuilder;

/// Files with more leaf columns than this are written without dictionary encoding: a
/// dictionary's hash table costs ~48 KiB per column for as long as the row group is open, and
/// zstd recovers most of what the dictionary would have saved.
pub const DICTIONARY_MAX_COLUMNS: usize = 256;

/// Values (rows x leaf columns) the reader decodes per batch: 8,192 rows of a narrow file, fewer
/// rows of a wide one, so a decoded batch stays a few MiB whatever the width.
const BATCH_VALUES: usize = 1 << 20;
/// Rows per decoded batch of a narrow file.
pub const MAX_BATCH_ROWS: usize = 8192;
const MIN_BATCH_ROWS: usize = 64;

/// Leaf (Parquet) columns of an Arrow schema: what codecs, encoders and limits count.
pub fn leaf_columns(schema: &ArrowSchema) -> usize {
    schema.fields().iter().map(|f| field_leaves(f)).sum()
}

fn field_leaves(field: &Field) -> usize {
    match field.data_type() {
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::FixedSizeList(item, _)
        | DataType::Map(item, _) => field_leaves(item),
        DataType::Struct(fields) => fields.iter().map(|f| field_leaves(f)).sum::<usize>().max(1),
        _ => 1,
    }
}

/// Writer settings for a file of `leaf_columns` columns: no dictionaries when it is wide.
pub fn for_width(builder: WriterPropertiesBuilder, leaf_columns: usize) -> WriterPropertiesBuilder {
    if leaf_columns > DICTIONARY_MAX_COLUMNS {
        builder.set_dictionary_enabled(false)
    } else {
        builder
    }
}

/// Rows per decoded batch for a file of `leaf_columns` columns.
pub fn batch_rows(leaf_columns: usize) -> usize {
    (BATCH_VALUES / leaf_columns.max(1)).clamp(MIN_BATCH_ROWS, MAX_BATCH_ROWS)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn leaves_count_nested_types() {
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let list = DataType::List(item);
        let strukt = DataType::Struct(
            vec![
                Field::new("a", DataType::Utf8, true),
                Field::new("b", list.clone(), true),
            ]
            .into(),
        );
        let schema = ArrowSchema::new(vec![
            Field::new("x", DataType::Int64, true),
            Field::new("l", list.clone(), true),
            Field::new("s", strukt.clone(), true),
        ]);
        assert_eq!(leaf_columns(&schema), 4);
    }

    #[test]
    fn wide_files_decode_fewer_rows_per_batch() {
        assert_eq!(batch_rows(12), MAX_BATCH_ROWS);
        assert_eq!(batch_rows(2_000), 524);
        assert_eq!(batch_rows(100_000), MIN_BATCH_ROWS);
    }
}
