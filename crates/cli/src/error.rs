//! The CLI's errors: what went wrong, by kind, with the context to fix it. `main` prints them as
//! `icepipe: <message>` and exits 1.

use icepipe_core::catalog::CatalogError;
use icepipe_core::convert::ConvertError;
use icepipe_core::ingest::config::ConfigError;
use icepipe_core::ingest::RunError;
use icepipe_core::standing::StandingError;
use icepipe_core::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag, an input or a connection setting is missing or wrong.
    #[error("{0}")]
    Usage(String),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The sources config is invalid.
    #[error("{path}: {source}")]
    Sources {
        path: String,
        #[source]
        source: ConfigError,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Run(#[from] RunError),
    /// The reconciliation sweep or the audit could not tell where raw objects stand.
    #[error(transparent)]
    Standing(#[from] StandingError),
    /// One or more tables failed to convert (each message names its table).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Convert(Vec<ConvertError>),
    /// Writing a generated Parquet file failed.
    #[error("cannot write Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("cannot build the generated batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }
}
