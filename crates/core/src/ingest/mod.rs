//! Ingest: declarative HTTP API sources and pushed events to Parquet in the raw bucket,
//! runtime-agnostic. The ingest Worker and `icepipe ingest` are thin shells around it.
//!
//! - [`run`]: one run of a source ([`run::run_source`], [`run::run_named_source`]) and its report;
//!   [`push`]: one push of events ([`push::push_events`]). Both return typed outcomes and errors
//!   that carry their HTTP status.
//! - [`config`]: the TOML source definitions, validated with errors naming the key.
//! - [`extract`]: pagination, retries, same-host redirects, record selection ([`request`]: URLs,
//!   auth and the same-host rule).
//! - [`json_arrow`]: JSON records to Arrow (inference, widening, naming, child tables);
//!   [`exact_json`]: parsing that keeps integers beyond `u64` exact.
//! - [`load`]: one load's records to Parquet parts ([`parquet_out`]) in the raw layout;
//!   [`accounting`]: records received = rows landed.
//! - [`state`]: incremental cursors; [`incremental`]: which records an incremental run keeps;
//!   [`idempotency`]: the `Idempotency-Key` of pushes.

pub mod accounting;
pub mod config;
pub mod cursor;
pub mod error;
pub mod exact_json;
pub mod extract;
pub mod idempotency;
pub mod incremental;
pub mod json_arrow;
pub mod jsonpath;
pub mod load;
pub mod parquet_out;
pub mod push;
pub mod request;
pub mod run;
pub mod secrets;
pub mod state;

pub use config::{IngestConfig, SourceConfig};
pub use extract::Fetcher;
pub use run::{
    run_named_source, run_source, IngestContext, ResourceReport, RunError, RunReport,
    DEFAULT_PART_BYTES,
};
pub use secrets::{Secrets, StaticSecrets};
