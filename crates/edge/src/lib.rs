//! Cloudflare Workers glue shared by icepipe's Workers (convert and ingest). Everything a Worker
//! decides lives in `icepipe-core`; this crate adapts the runtime to the core's seams:
//!
//! - [`vars`]: reading vars and secrets with errors that name the variable; [`auth`]: the admin
//!   bearer token; [`log`]: one JSON object per line. These build and are tested natively.
//! - `http` (`fetch` as the core's `HttpClient`), `r2` (R2 bindings as `ObjectStore`s), `clock`
//!   and `env` (bindings by name): wasm32 only.

pub mod auth;
pub mod log;
pub mod vars;

#[cfg(target_arch = "wasm32")]
pub mod clock;
#[cfg(target_arch = "wasm32")]
pub mod env;
#[cfg(target_arch = "wasm32")]
pub mod http;
#[cfg(target_arch = "wasm32")]
pub mod r2;
