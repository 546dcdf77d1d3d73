//! Ingest: declarative HTTP API sources to Parquet in the raw bucket, runtime-agnostic.
//!
//! - [`config`]: the TOML source definitions, validated with errors naming the key.
//! - [`extract`]: pagination, retries, record selection, same-host rule ([`request`], [`retry`]).
//! - [`json_arrow`]: JSON records to Arrow (inference, widening, naming, child tables).
//! - [`parquet_out`]: Parquet parts in the raw layout; [`state`]: incremental cursors;
//!   [`incremental`]: which records an incremental run keeps.
//! - [`run`]: one run of a source and its report.

pub mod config;
pub mod cursor;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod incremental;
pub mod json_arrow;
pub mod jsonpath;
pub mod parquet_out;
pub mod push;
pub mod request;
pub mod retry;
pub mod run;
pub mod secrets;
pub mod state;

pub use config::{IngestConfig, SourceConfig};
pub use extract::Fetcher;
pub use run::{run_source, IngestContext, ResourceReport, RunReport, DEFAULT_PART_BYTES};
pub use secrets::{Secrets, StaticSecrets};
