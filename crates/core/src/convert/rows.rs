//! Rows in = rows out. A raw object's footer declares how many rows each row group holds; the
//! converter lands exactly those or fails the object (a permanent error, never held by the
//! ledger). Three checks, from cheapest to last:
//!
//! 1. [`check_footer`] (probe): the footer agrees with itself. Every leaf column has one level
//!    per row (more when repeated), so a column chunk's value count bounds its row group's rows.
//! 2. [`RowGroupTally`] (write): each row group decodes to the rows it declares. Parquet
//!    readers trust the footer's count and stop early, or come up short without an error, when
//!    the pages disagree; this is where that is caught.
//! 3. [`check_written`] (write): the data files hold every row read.

use parquet::file::metadata::ParquetMetaData;
use std::ops::Range;

use super::probe::ProbedObject;

/// Why an object's rows do not add up; names the row group and columns when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{reason}", row_group.map(|g| format!("row group {g}: ")).unwrap_or_default(), name_columns(columns))]
pub struct RowsError {
    pub row_group: Option<usize>,
    /// Dotted paths of the leaf columns at fault.
    pub columns: Vec<String>,
    pub reason: String,
}

fn name_columns(columns: &[String]) -> String {
    match columns {
        [] => String::new(),
        [one] => format!("column {one}: "),
        many => format!("columns {}: ", many.join(", ")),
    }
}

impl RowsError {
    fn new(row_group: Option<usize>, column: Option<String>, reason: String) -> Self {
        Self {
            row_group,
            columns: column.into_iter().collect(),
            reason,
        }
    }

    /// Names the columns found to be at fault.
    pub fn with_columns(mut self, columns: Vec<String>) -> Self {
        self.columns.extend(columns);
        self
    }
}

/// The leaf columns (dotted paths) whose pages in `row_group` do not decode to the rows the
/// footer declares, each read on its own. Only asked once a row group came up short.
pub async fn columns_disagreeing(probed: &ProbedObject, row_group: usize) -> Vec<String> {
    let metadata = &probed.reader_metadata;
    let declared = metadata.metadata().row_group(row_group).num_rows() as u64;
    let descr = metadata.metadata().file_metadata().schema_descr_ptr();
    let mut columns = Vec::new();
    for (leaf, column) in descr.columns().iter().enumerate() {
        let rows = probed
            .reader()
            .count_rows(metadata.clone(), row_group, leaf)
            .await;
        if rows.map_or(true, |rows| rows != declared) {
            columns.push(column.path().string());
        }
    }
    columns
}

/// The rows the footer declares, after checking it against its own column chunks.
pub fn check_footer(metadata: &ParquetMetaData) -> Result<u64, RowsError> {
    let mut total: i64 = 0;
    for (g, group) in metadata.row_groups().iter().enumerate() {
        let rows = group.num_rows();
        if rows < 0 {
            return Err(RowsError::new(
                Some(g),
                None,
                format!("the footer declares {rows} rows"),
            ));
        }
        for chunk in group.columns() {
            let values = chunk.num_values();
            let repeated = chunk.column_descr().max_rep_level() > 0;
            let consistent = if repeated {
                // At least one level per row, and rows wherever there are levels.
                values >= rows && (values == 0) == (rows == 0)
            } else {
                values == rows
            };
            if !consistent {
                return Err(RowsError::new(
                    Some(g),
                    Some(chunk.column_path().string()),
                    format!(
                        "the footer declares {rows} rows but the column chunk holds {values} {}",
                        if repeated {
                            "values (a repeated column holds at least one per row)"
                        } else {
                            "values (one per row)"
                        }
                    ),
                ));
            }
        }
        total += rows;
    }
    let declared = metadata.file_metadata().num_rows();
    if declared != total {
        return Err(RowsError::new(
            None,
            None,
            format!("the footer declares {declared} rows but its row groups add up to {total}"),
        ));
    }
    Ok(total as u64)
}

/// Counts the rows decoded from each row group against what the footer declares for it, over
/// the row groups being read (all of them, or one slice's).
#[derive(Debug)]
pub struct RowGroupTally<'a> {
    metadata: &'a ParquetMetaData,
    row_groups: Range<usize>,
    next: usize,
    read: u64,
}

impl<'a> RowGroupTally<'a> {
    /// `row_groups`: the ones read (`None`: every row group of the file).
    pub fn new(metadata: &'a ParquetMetaData, row_groups: Option<Range<usize>>) -> Self {
        let row_groups = row_groups.unwrap_or(0..metadata.num_row_groups());
        Self {
            metadata,
            next: row_groups.start,
            row_groups,
            read: 0,
        }
    }

    /// The rows the footer declares for the row groups being read.
    pub fn declared_rows(&self) -> u64 {
        self.metadata.row_groups()[self.row_groups.clone()]
            .iter()
            .map(|g| g.num_rows().max(0) as u64)
            .sum()
    }

    /// The row group the next [`Self::finish_row_group`] is about.
    pub fn row_group(&self) -> usize {
        self.next
    }

    pub fn count(&mut self, rows: usize) {
        self.read += rows as u64;
    }

    /// Closes the current row group: its decoded rows must be the rows it declares.
    pub fn finish_row_group(&mut self) -> Result<(), RowsError> {
        let g = self.next;
        let Some(group) = self.metadata.row_groups().get(g) else {
            return Err(RowsError::new(
                Some(g),
                None,
                format!(
                    "decoded a row group the footer does not declare (it declares {})",
                    self.metadata.num_row_groups()
                ),
            ));
        };
        let declared = group.num_rows() as u64;
        let read = std::mem::take(&mut self.read);
        self.next += 1;
        if read != declared {
            return Err(RowsError::new(
                Some(g),
                None,
                format!("the footer declares {declared} rows but its pages hold {read}"),
            ));
        }
        Ok(())
    }

    /// Every row group being read was decoded.
    pub fn finish(self) -> Result<(), RowsError> {
        if self.next != self.row_groups.end {
            let (expected, decoded) = (self.row_groups.len(), self.next - self.row_groups.start);
            return Err(RowsError::new(
                None,
                None,
                format!(
                    "the footer declares {expected} row groups to read but {decoded} were decoded"
                ),
            ));
        }
        Ok(())
    }
}

/// The data files must hold every row the object declares.
pub fn check_written(declared: u64, written: u64) -> Result<(), RowsError> {
    if declared != written {
        return Err(RowsError::new(
            None,
            None,
            format!("the footer declares {declared} rows but the data files hold {written}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, ListArray, RecordBatch};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::ParquetMetaDataReader;
    use parquet::file::properties::WriterProperties;

    use super::*;

    /// Two row groups of 3 and 2 rows: `id` (flat) and `tags` (a list: repeated leaf).
    fn footer() -> ParquetMetaData {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new_list("tags", Field::new_list_field(DataType::Int64, true), true),
        ]));
        let tags = ListArray::from_iter_primitive::<arrow_array::types::Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
            Some(vec![Some(3)]),
            Some(vec![Some(4), Some(5), Some(6)]),
        ]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
                Arc::new(tags),
            ],
        )
        .unwrap();
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(3))
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        let bytes = bytes::Bytes::from(writer.into_inner().unwrap());
        ParquetMetaDataReader::new()
            .parse_and_finish(&bytes)
            .unwrap()
    }

    fn with_rows(metadata: ParquetMetaData, group: usize, rows: i64) -> ParquetMetaData {
        let mut builder = metadata.into_builder();
        let groups = builder
            .take_row_groups()
            .into_iter()
            .enumerate()
            .map(|(i, g)| match i == group {
                true => g.into_builder().set_num_rows(rows).build().unwrap(),
                false => g,
            })
            .collect();
        builder.set_row_groups(groups).build()
    }

    #[test]
    fn a_consistent_footer_declares_its_rows() {
        assert_eq!(check_footer(&footer()), Ok(5));
    }

    #[test]
    fn a_row_group_claiming_more_rows_than_its_flat_column_holds_is_named() {
        let err = check_footer(&with_rows(footer(), 1, 4)).unwrap_err();
        assert_eq!(err.row_group, Some(1));
        assert_eq!(err.columns, vec!["id".to_string()]);
        assert!(err.to_string().contains("declares 4 rows"), "{err}");
    }

    #[test]
    fn a_row_group_claiming_no_rows_over_repeated_values_is_refused() {
        // The flat column is checked first; a footer claiming 0 rows fails on it too.
        let err = check_footer(&with_rows(footer(), 0, 0)).unwrap_err();
        assert_eq!(
            (err.row_group, &err.columns[..]),
            (Some(0), &["id".to_string()][..])
        );
    }

    #[test]
    fn tally_requires_each_declared_row_group_with_its_rows() {
        let metadata = footer();
        let mut tally = RowGroupTally::new(&metadata, None);
        tally.count(2);
        tally.count(1);
        assert_eq!(tally.finish_row_group(), Ok(()));
        tally.count(1);
        let err = tally.finish_row_group().unwrap_err();
        assert_eq!(err.row_group, Some(1));
        assert!(
            err.to_string()
                .contains("declares 2 rows but its pages hold 1"),
            "{err}"
        );

        let mut short = RowGroupTally::new(&metadata, None);
        short.count(3);
        short.finish_row_group().unwrap();
        assert!(short
            .finish()
            .unwrap_err()
            .to_string()
            .contains("2 row groups to read but 1"));
    }

    #[test]
    fn a_slice_is_tallied_over_its_own_row_groups() {
        let metadata = footer();
        let mut slice = RowGroupTally::new(&metadata, Some(1..2));
        assert_eq!((slice.row_group(), slice.declared_rows()), (1, 2));
        slice.count(2);
        assert_eq!(slice.finish_row_group(), Ok(()));
        assert_eq!(slice.finish(), Ok(()));
        assert_eq!(RowGroupTally::new(&metadata, None).declared_rows(), 5);
    }

    #[test]
    fn written_rows_must_match() {
        assert_eq!(check_written(6, 6), Ok(()));
        assert!(check_written(6, 0)
            .unwrap_err()
            .to_string()
            .contains("declares 6 rows but the data files hold 0"));
    }
}
