//! Splits a batch by partition. The `iceberg` crate's splitter builds a partition literal, hashes
//! and clones it for every row, then filters the batch per partition; but a raw object's rows
//! usually share one partition (the spec's source is `_loaded_at`, constant per object). When
//! every partition source column is constant in the batch, the key of its first row is the key of
//! all of them and the batch goes through whole.

use arrow_array::{Array, ArrayRef, RecordBatch, Scalar};
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::spec::{PartitionKey, PartitionSpecRef, SchemaRef};
use iceberg::Result;

pub struct PartitionSplitter {
    inner: RecordBatchPartitionSplitter,
    /// Positions of the spec's source columns in the batch; `None` when one is nested (then
    /// every batch takes the general path).
    sources: Option<Vec<usize>>,
}

impl PartitionSplitter {
    pub fn try_new(schema: SchemaRef, spec: PartitionSpecRef) -> Result<Self> {
        let top_level = schema.as_struct().fields();
        let sources = spec
            .fields()
            .iter()
            .map(|field| top_level.iter().position(|f| f.id == field.source_id))
            .collect();
        Ok(Self {
            inner: RecordBatchPartitionSplitter::try_new_with_computed_values(schema, spec)?,
            sources,
        })
    }

    pub fn split(&self, batch: &RecordBatch) -> Result<Vec<(PartitionKey, RecordBatch)>> {
        let constant = batch.num_rows() > 1
            && self
                .sources
                .as_ref()
                .is_some_and(|sources| sources.iter().all(|&i| is_constant(batch.column(i))));
        if !constant {
            return self.inner.split(batch);
        }
        let mut first = self.inner.split(&batch.slice(0, 1))?;
        match first.pop() {
            Some((key, _)) if first.is_empty() => Ok(vec![(key, batch.clone())]),
            _ => self.inner.split(batch),
        }
    }
}

/// Every value equals the first (all null counts as equal).
fn is_constant(column: &ArrayRef) -> bool {
    if column.null_count() > 0 {
        return column.null_count() == column.len();
    }
    let first = Scalar::new(column.slice(0, 1));
    match arrow_ord::cmp::not_distinct(column, &first) {
        Ok(equal) => equal.true_count() == column.len(),
        // A type the kernel cannot compare: the general path decides.
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, TimestampMicrosecondArray};
    use iceberg::arrow::schema_to_arrow_schema;
    use iceberg::spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};

    use super::*;

    fn setup() -> (PartitionSplitter, Arc<arrow_schema::Schema>) {
        let schema = Arc::new(
            Schema::builder()
                .with_fields(vec![
                    NestedField::required(1, "id", Type::Primitive(PrimitiveType::Long)).into(),
                    NestedField::required(2, "at", Type::Primitive(PrimitiveType::Timestamptz))
                        .into(),
                ])
                .build()
                .unwrap(),
        );
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("at", "at_day", Transform::Day)
            .unwrap()
            .build()
            .unwrap();
        let arrow = Arc::new(schema_to_arrow_schema(&schema).unwrap());
        (
            PartitionSplitter::try_new(schema, Arc::new(spec)).unwrap(),
            arrow,
        )
    }

    fn batch(arrow: &Arc<arrow_schema::Schema>, at: Vec<i64>) -> RecordBatch {
        let rows = at.len() as i64;
        RecordBatch::try_new(
            arrow.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(TimestampMicrosecondArray::from(at).with_timezone("+00:00")),
            ],
        )
        .unwrap()
    }

    fn keys_and_rows(parts: Vec<(PartitionKey, RecordBatch)>) -> Vec<(String, usize)> {
        let mut out: Vec<_> = parts
            .into_iter()
            .map(|(key, part)| (format!("{:?}", key.data()), part.num_rows()))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_constant_source_gives_the_general_splitters_one_partition() {
        let (splitter, arrow) = setup();
        let day = 86_400_000_000;
        let constant = batch(&arrow, vec![3 * day + 5; 1000]);
        let fast = splitter.split(&constant).unwrap();
        assert_eq!(
            keys_and_rows(fast),
            keys_and_rows(splitter.inner.split(&constant).unwrap())
        );
        let mixed = batch(&arrow, (0..1000).map(|i| (i % 3) * day).collect());
        let parts = keys_and_rows(splitter.split(&mixed).unwrap());
        assert_eq!(parts.len(), 3);
        assert_eq!(parts, keys_and_rows(splitter.inner.split(&mixed).unwrap()));
    }
}
