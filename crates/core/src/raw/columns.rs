//! icepipe's own columns in raw files, and the types they must have. The ingest writes them; the
//! converter relies on them (`_loaded_at` is the partition source, `_load_id` tells loads apart),
//! so a raw file that carries one of them with another type is refused before anything is
//! created: a table partitioned by `day()` of a string could never be loaded again.

use arrow_schema::{DataType, Schema as ArrowSchema};

/// When the row was written by the ingest (timestamptz); partition source of new tables.
pub const LOADED_AT_COLUMN: &str = "_loaded_at";
/// The load the row belongs to (string).
pub const LOAD_ID_COLUMN: &str = "_load_id";
/// A row's stable id (string): a digest of the primary key, or of the record and its load.
pub const ROW_ID_COLUMN: &str = "_row_id";
/// A child row's parent (string, the parent's `_row_id`).
pub const PARENT_ROW_ID_COLUMN: &str = "_parent_row_id";
/// A child row's position in its parent's list (long).
pub const LIST_INDEX_COLUMN: &str = "_list_idx";

/// The kinds of value icepipe's columns hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    TimestampWithZone,
    String,
    Integer,
}

impl Expected {
    fn accepts(self, data_type: &DataType) -> bool {
        let data_type = match data_type {
            DataType::Dictionary(_, value) => value.as_ref(),
            other => other,
        };
        match self {
            Expected::TimestampWithZone => matches!(data_type, DataType::Timestamp(_, Some(_))),
            Expected::String => matches!(
                data_type,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ),
            Expected::Integer => matches!(
                data_type,
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
            ),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Expected::TimestampWithZone => {
                "a timestamp with a time zone (Iceberg timestamptz; Arrow timestamp[us, tz=UTC])"
            }
            Expected::String => "a string",
            Expected::Integer => "a signed integer (Iceberg long; Arrow int64)",
        }
    }
}

const RESERVED: [(&str, Expected); 5] = [
    (LOADED_AT_COLUMN, Expected::TimestampWithZone),
    (LOAD_ID_COLUMN, Expected::String),
    (ROW_ID_COLUMN, Expected::String),
    (PARENT_ROW_ID_COLUMN, Expected::String),
    (LIST_INDEX_COLUMN, Expected::Integer),
];

/// A top-level column named like one of icepipe's own with a type it cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "column {column} is one of icepipe's own columns and must be {expected}, not {found}: rename \
     the column in the file, or write it with that type"
)]
pub struct ReservedColumnError {
    pub column: String,
    pub expected: &'static str,
    pub found: String,
}

/// Checks the top-level columns of a raw file's schema that carry icepipe's names. Missing ones
/// are fine (the converter adds `_loaded_at` and `_load_id`; the others are ingest's).
pub fn check_reserved_columns(schema: &ArrowSchema) -> Result<(), ReservedColumnError> {
    for (name, expected) in RESERVED {
        if let Ok(field) = schema.field_with_name(name) {
            if !expected.accepts(field.data_type()) {
                return Err(ReservedColumnError {
                    column: name.to_string(),
                    expected: expected.describe(),
                    found: field.data_type().to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow_schema::{Field, TimeUnit};

    use super::*;

    fn schema(fields: Vec<(&str, DataType)>) -> ArrowSchema {
        ArrowSchema::new(
            fields
                .into_iter()
                .map(|(n, t)| Field::new(n, t, true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn the_types_ingest_writes_pass() {
        let ok = schema(vec![
            (
                LOADED_AT_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            (LOAD_ID_COLUMN, DataType::Utf8),
            (ROW_ID_COLUMN, DataType::LargeUtf8),
            (
                PARENT_ROW_ID_COLUMN,
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
            (LIST_INDEX_COLUMN, DataType::Int64),
            ("anything_else", DataType::Boolean),
        ]);
        check_reserved_columns(&ok).unwrap();
        check_reserved_columns(&schema(vec![("id", DataType::Int64)])).unwrap();
    }

    #[test]
    fn a_poisoned_column_is_named_with_the_type_it_needs() {
        let cases = [
            (
                LOADED_AT_COLUMN,
                DataType::Utf8,
                "timestamp with a time zone",
            ),
            (
                LOADED_AT_COLUMN,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                "timestamp with a time zone",
            ),
            (LOAD_ID_COLUMN, DataType::Int64, "a string"),
            (ROW_ID_COLUMN, DataType::Binary, "a string"),
            (LIST_INDEX_COLUMN, DataType::Float64, "signed integer"),
            (LIST_INDEX_COLUMN, DataType::UInt64, "signed integer"),
        ];
        for (column, data_type, expected) in cases {
            let error = check_reserved_columns(&schema(vec![(column, data_type.clone())]))
                .expect_err(column);
            assert_eq!(error.column, column);
            let message = error.to_string();
            assert!(
                message.contains(expected) && message.contains(&data_type.to_string()),
                "{message}"
            );
        }
    }
}
