//! icepipe's ingest Worker: declarative API sources (on a cron trigger or `POST
//! /sources/<source>/run`) and pushed events (`POST /events/<source>/<resource>`) land as Parquet
//! in the raw bucket, where R2 event notifications hand them to the convert Worker.
//!
//! The decisions live in `icepipe-core` (`ingest`: config, pagination, JSON -> Arrow, Parquet
//! parts, incremental state, pushed events); the runtime glue in `icepipe-edge`. This crate:
//!
//! - [`config`]: the embedded sources config, vars and secrets; [`api`]: routes, statuses and
//!   response bodies. Built and tested natively.
//! - `wiring` (env -> core pieces), `routes` (the fetch handler) and `cron` (the scheduled
//!   handler): wasm32 only.
//!
//! Contract (bindings, vars, secrets, triggers): see `wrangler.ingest.toml` at the repository root.

pub mod api;
pub mod config;

#[cfg(target_arch = "wasm32")]
mod cron;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod wiring;
