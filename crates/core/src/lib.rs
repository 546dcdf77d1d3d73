//! icepipe core: everything that is not runtime glue. Builds natively and for wasm32.
//!
//! - [`http`], [`storage`]: the seams to the outside world (HTTP, object storage).
//! - [`catalog`]: an Iceberg REST catalog client over [`http::HttpClient`].
//! - [`layout`]: the raw bucket's key layout and table naming.
//! - [`schema`]: Arrow to Iceberg schema mapping, safe evolution, conforming batches.
//! - [`convert`]: raw Parquet objects to Iceberg data files, streamed row group by row group.
//! - [`commit`]: manifests, manifest list, snapshot and the exactly-once commit loop.

pub mod catalog;
pub mod clock;
pub mod commit;
pub mod convert;
pub mod http;
pub mod layout;
pub mod schema;
pub mod storage;
