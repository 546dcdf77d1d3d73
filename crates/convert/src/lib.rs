//! icepipe's convert Worker: R2 event notifications on a Queue become Iceberg commits.
//!
//! The decisions live in `icepipe-core` (notification parsing, per-table conversion, ack/retry/
//! error-record decisions, replay selection); this crate is the shell around them:
//!
//! - [`config`]: vars and secrets; [`log`]: the batch and note lines. Built and tested natively.
//! - `wiring` (env -> core pieces), `queue` (the consumer), `routes` (`/health`, `/tables`,
//!   `/replay`, `/audit`), `sweep` (the scheduled reconciliation sweep) and `coordinator` (the
//!   Durable Objects that commit: one per table, one for the catalog's write budget): wasm32 only.
//! - The runtime glue shared with the ingest Worker (fetch, R2, clock, auth, generic log lines)
//!   is the `icepipe-edge` crate.
//!
//! Contract (bindings, vars, secrets): see `wrangler.convert.toml` at the repository root.

pub mod config;
pub mod log;

#[cfg(target_arch = "wasm32")]
mod coordinator;
#[cfg(target_arch = "wasm32")]
mod queue;
#[cfg(target_arch = "wasm32")]
mod requeue;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod sweep;
#[cfg(target_arch = "wasm32")]
mod wiring;
