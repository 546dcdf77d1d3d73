//! icepipe's convert Worker: R2 event notifications on a Queue become Iceberg commits.
//!
//! The decisions live in `icepipe-core` (notification parsing, per-table conversion, ack/retry/
//! error-record decisions, replay selection); this crate is the shell around them:
//!
//! - [`config`]: vars and secrets; [`auth`]: the admin bearer token; [`log`]: JSON log lines.
//!   These build and are tested natively.
//! - `http` (`fetch`), `r2` (R2 bindings as object stores), `clock`, `wiring` (env -> core pieces),
//!   `queue` (the consumer) and `routes` (`/health`, `/tables`, `/replay`): wasm32 only.
//!
//! Contract (bindings, vars, secrets): see `wrangler.convert.toml` at the repository root.

pub mod auth;
pub mod config;
pub mod log;

#[cfg(target_arch = "wasm32")]
mod clock;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod queue;
#[cfg(target_arch = "wasm32")]
mod r2;
#[cfg(target_arch = "wasm32")]
mod routes;
#[cfg(target_arch = "wasm32")]
mod wiring;
