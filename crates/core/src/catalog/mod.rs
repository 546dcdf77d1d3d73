//! A small Iceberg REST catalog client over [`crate::http::HttpClient`].
//!
//! `iceberg-catalog-rest` does not build for wasm32 (its reqwest futures are not `Send`), so the
//! Workers need their own client; this one reuses the `iceberg` crate's spec types and implements
//! only what icepipe needs: config + prefix, OAuth2 or static tokens, namespaces, tables, commits.

mod auth;
mod client;
mod config;
mod error;
pub mod ops;
mod paths;
mod tables;
mod transport;
mod types;

pub use client::RestCatalog;
pub use config::{CatalogAuth, CatalogConfig};
pub use error::CatalogError;
pub use ops::{CatalogOp, OpCounts};
pub use tables::{fails_every_table, TableSummary};
pub use types::{CommitResult, CreateTable, LoadedTable};
