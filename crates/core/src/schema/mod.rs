//! Schemas: Arrow to Iceberg mapping ([`mapping`]), safe evolution ([`evolve`]), reshaping
//! record batches to the table's exact Arrow schema ([`conform`]), and columns' earlier names
//! ([`aliases`]).

pub mod aliases;
pub mod conform;
pub mod evolve;
pub mod mapping;
pub mod precision;

pub use aliases::ColumnAliases;
pub use conform::{conform_batch, ConstantColumns};
pub use evolve::{evolve, Evolution};
pub use mapping::{iceberg_schema_for, FieldIds};
pub use precision::SubMicros;

/// A schema problem, naming the column (dotted path) it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{reason}", if column.is_empty() { String::new() } else { format!("column {column}: ") })]
pub struct SchemaError {
    pub column: String,
    pub reason: String,
}

impl SchemaError {
    pub fn new(column: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            column: column.into(),
            reason: reason.into(),
        }
    }
}

/// Columns icepipe adds to every row when the raw file does not carry them.
pub use crate::raw::columns::{LOADED_AT_COLUMN, LOAD_ID_COLUMN};
