//! icepipe core: everything that is not runtime glue. Builds natively and for wasm32.
//!
//! - [`http`], [`storage`]: the seams to the outside world (HTTP, object storage).
//! - [`catalog`]: an Iceberg REST catalog client over [`http::HttpClient`].
//! - [`layout`]: the raw bucket's key layout and table naming.
//! - [`ingest`]: declarative HTTP API sources to raw Parquet (fetch, JSON to Arrow, state).
//! - [`schema`]: Arrow to Iceberg schema mapping, safe evolution, conforming batches.
//! - [`convert`]: raw Parquet objects to Iceberg data files, streamed row group by row group.
//! - [`commit`]: manifests, manifest list, snapshot and the exactly-once commit loop.
//! - [`notification`], [`batch`], [`error_record`], [`replay`]: the convert Worker's logic (R2 event
//!   notifications on a queue become commits, error records and retries), runtime-agnostic.

pub mod batch;
pub mod catalog;
pub mod clock;
pub mod commit;
pub mod committer;
pub mod convert;
pub mod error_record;
pub mod http;
pub mod ingest;
pub mod layout;
pub mod notification;
pub mod replay;
pub mod schema;
pub mod storage;
