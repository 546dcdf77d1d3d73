//! Which columns of a data file get dictionary encoding, decided from the file's first batch.
//!
//! The Parquet writer starts every column chunk with a dictionary and falls back to plain
//! encoding once the dictionary passes its page limit; for a near-unique column (ids, amounts,
//! free text) that is a hash-table insert (and growth) per value, in every row group, for
//! nothing. A column whose sample of the first batch is mostly distinct values is written plain
//! from the start; the others keep the writer's default.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use parquet::schema::types::ColumnPath;

/// Values of a column looked at: enough to tell "a few hundred categories" from "unique".
const SAMPLE_VALUES: usize = 4096;
/// Fewer non-null values than this say nothing either way: the default stays.
const MIN_SAMPLE: usize = 512;
/// A sample with more than this share of distinct values is near-unique.
const UNIQUE_SHARE: f64 = 0.5;

/// The top-level columns of `batch` to write without a dictionary.
pub fn near_unique_columns(batch: &RecordBatch) -> Vec<ColumnPath> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(_, column)| is_near_unique(column))
        .map(|(field, _)| ColumnPath::new(vec![field.name().clone()]))
        .collect()
}

fn is_near_unique(column: &ArrayRef) -> bool {
    match distinct_in_sample(column) {
        Some((distinct, sampled)) if sampled >= MIN_SAMPLE => {
            distinct as f64 > sampled as f64 * UNIQUE_SHARE
        }
        _ => false,
    }
}

/// (distinct values, non-null values) among the first [`SAMPLE_VALUES`] rows, for the types
/// whose values the writer would intern; `None` for the others.
fn distinct_in_sample(column: &ArrayRef) -> Option<(usize, usize)> {
    let column = column.slice(0, column.len().min(SAMPLE_VALUES));
    Some(match column.data_type() {
        DataType::Utf8 => count(
            column
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::LargeUtf8 => count(
            column
                .as_string::<i64>()
                .iter()
                .flatten()
                .map(str::as_bytes),
        ),
        DataType::Utf8View => count(column.as_string_view().iter().flatten().map(str::as_bytes)),
        DataType::Binary => count(column.as_binary::<i32>().iter().flatten()),
        DataType::LargeBinary => count(column.as_binary::<i64>().iter().flatten()),
        DataType::BinaryView => count(column.as_binary_view().iter().flatten()),
        DataType::FixedSizeBinary(_) => count(column.as_fixed_size_binary().iter().flatten()),
        // Booleans are never dictionary-encoded.
        DataType::Boolean => return None,
        other if other.is_primitive() => {
            let width = other.primitive_width()?;
            let data = column.to_data();
            let bytes = &data.buffers()[0].as_slice()[data.offset() * width..];
            count(
                (0..column.len())
                    .filter(|&i| column.is_valid(i))
                    .map(|i| &bytes[i * width..(i + 1) * width]),
            )
        }
        _ => return None,
    })
}

fn count<'a>(values: impl Iterator<Item = &'a [u8]>) -> (usize, usize) {
    let mut seen = HashSet::with_capacity(SAMPLE_VALUES);
    let mut sampled = 0;
    for value in values {
        sampled += 1;
        seen.insert(value);
    }
    (seen.len(), sampled)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{Field, Schema};

    use super::*;

    #[test]
    fn unique_columns_go_plain_and_categories_keep_their_dictionary() {
        let rows = 2000;
        let ids = Int64Array::from_iter_values(0..rows);
        let days = Int64Array::from_iter_values((0..rows).map(|i| i % 7));
        let names = StringArray::from_iter_values((0..rows).map(|i| format!("name-{i}")));
        let kinds = StringArray::from_iter(
            (0..rows).map(|i| (i % 3 != 0).then(|| ["a", "b"][i as usize % 2])),
        );
        let few = Int64Array::from_iter_values(0..100);
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("day", DataType::Int64, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("kind", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(ids),
                Arc::new(days),
                Arc::new(names),
                Arc::new(kinds),
            ],
        )
        .unwrap();
        let plain: Vec<String> = near_unique_columns(&batch)
            .iter()
            .map(|p| p.string())
            .collect();
        assert_eq!(plain, ["id", "name"]);
        // Too few values to judge: the default stays.
        assert!(!is_near_unique(&(Arc::new(few) as ArrayRef)));
    }
}
