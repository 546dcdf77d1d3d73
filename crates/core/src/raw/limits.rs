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

/// Most leaf columns a table may have, by default: the ingest refuses records that would widen a
/// table past it (`MAX_COLUMNS`, which may lower it) and the converter refuses raw files wider
/// than it. Measured in workerd (`scripts/bench --cases wide`): the convert Worker takes a
/// 2,000-column, 2,000-row raw file at ~125 MB of its 128 MB, the ingest Worker 50 records of
/// 2,000 keys at ~16 MiB; 2,048 leaves room for icepipe's own columns next to 2,000 fields.
pub const MAX_COLUMNS: usize = 2_048;

/// Deepest nesting (lists and structs inside one another; a JSON array or object counts one level)
/// a column may have, for the ingest and the converter alike: what the ingest accepts, the
/// converter takes. Arrow's schema in a Parquet footer cannot be read back past ~60 levels
/// (flatbuffers' depth limit), so 32 leaves a margin and is far beyond what APIs send.
pub const MAX_NESTING_DEPTH: usize = 32;

/// A record or file beyond [`MAX_COLUMNS`] or [`MAX_NESTING_DEPTH`]: never transient, the data
/// itself must change (or, for width, the limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "{what} goes past {limit} columns, the maximum per table (MAX_COLUMNS), at column {column}"
    )]
    TooManyColumns {
        what: String,
        column: String,
        limit: usize,
    },
    #[error(
        "{what} is nested {depth} levels deep (lists and objects inside one another), more than \
         the maximum of {limit} (MAX_NESTING_DEPTH)"
    )]
    TooDeep {
        what: String,
        depth: usize,
        limit: usize,
    },
}

impl LimitError {
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// Levels of nesting of a column type: 0 for a primitive, one more per list, map or struct.
pub fn nesting_depth(data_type: &DataType) -> usize {
    match data_type {
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::FixedSizeList(item, _)
        | DataType::Map(item, _) => 1 + nesting_depth(item.data_type()),
        DataType::Struct(fields) => {
            1 + fields
                .iter()
                .map(|f| nesting_depth(f.data_type()))
                .max()
                .unwrap_or(0)
        }
        DataType::Dictionary(_, value) => nesting_depth(value),
        _ => 0,
    }
}

/// Refuses a file schema wider than `max_columns` leaf columns or nested deeper than
/// [`MAX_NESTING_DEPTH`] (`what` names the file in the message).
pub fn check_schema(
    schema: &ArrowSchema,
    what: &str,
    max_columns: usize,
) -> Result<(), LimitError> {
    if leaf_columns(schema) > max_columns {
        let mut leaves = 0;
        let column = schema
            .fields()
            .iter()
            .find(|f| {
                leaves += field_leaves(f);
                leaves > max_columns
            })
            .map_or_else(String::new, |f| f.name().clone());
        return Err(LimitError::TooManyColumns {
            what: format!("{what} ({} columns)", leaf_columns(schema)),
            column,
            limit: max_columns,
        });
    }
    if let Some((field, depth)) = schema
        .fields()
        .iter()
        .map(|f| (f, nesting_depth(f.data_type())))
        .find(|(_, depth)| *depth > MAX_NESTING_DEPTH)
    {
        return Err(LimitError::TooDeep {
            what: format!("column {} of {what}", field.name()),
            depth,
            limit: MAX_NESTING_DEPTH,
        });
    }
    Ok(())
}

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

    fn nested_lists(depth: usize) -> DataType {
        (0..depth).fold(DataType::Int64, |inner, _| {
            DataType::List(Arc::new(Field::new("item", inner, true)))
        })
    }

    #[test]
    fn schemas_past_the_limits_are_refused_naming_them() {
        let deep = |depth| ArrowSchema::new(vec![Field::new("a", nested_lists(depth), true)]);
        assert_eq!(nesting_depth(&nested_lists(3)), 3);
        check_schema(&deep(MAX_NESTING_DEPTH), "file f", MAX_COLUMNS).unwrap();
        let e = check_schema(&deep(MAX_NESTING_DEPTH + 1), "file f", MAX_COLUMNS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "column a of file f is nested 33 levels deep (lists and objects inside one another), \
             more than the maximum of 32 (MAX_NESTING_DEPTH)"
        );
        let wide = |n: usize| {
            ArrowSchema::new(
                (0..n)
                    .map(|i| Field::new(format!("c{i}"), DataType::Int64, true))
                    .collect::<Vec<_>>(),
            )
        };
        check_schema(&wide(10), "file f", 10).unwrap();
        let e = check_schema(&wide(12), "file f", 10).unwrap_err();
        assert_eq!(
            e,
            LimitError::TooManyColumns {
                what: "file f (12 columns)".into(),
                column: "c10".into(),
                limit: 10
            }
        );
        assert_eq!(
            e.to_string(),
            "file f (12 columns) goes past 10 columns, the maximum per table (MAX_COLUMNS), at \
             column c10"
        );
    }

    #[test]
    fn wide_files_decode_fewer_rows_per_batch() {
        assert_eq!(batch_rows(12), MAX_BATCH_ROWS);
        assert_eq!(batch_rows(2_000), 524);
        assert_eq!(batch_rows(100_000), MIN_BATCH_ROWS);
    }
}
