//! Errors of one resource's ingest. Messages name the URL (secrets redacted), the status and a
//! snippet of the body, so a failed run report says what to fix.

use crate::http::retry::is_overloaded_or_failing;

/// Why a resource's pages stopped coming.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExtractError {
    #[error("{reason}")]
    Config { reason: String },
    #[error("GET {url} answered HTTP {status} (after {attempts} attempt(s)): {snippet}")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        snippet: String,
    },
    #[error("GET {url} failed after {attempts} attempt(s): {reason}")]
    Transport {
        url: String,
        attempts: u32,
        reason: String,
    },
    #[error("GET {url} returned a body that is not JSON ({reason}): {snippet}")]
    BadJson {
        url: String,
        reason: String,
        snippet: String,
    },
    #[error("GET {url}: {reason}")]
    Selector { url: String, reason: String },
    #[error("pagination stopped at {url}: {reason}")]
    Pagination { url: String, reason: String },
    #[error("refused next link {link}: it leaves the configured base_url host {base_url}")]
    ForeignHost { link: String, base_url: String },
    /// A redirect off the configured host: never followed, so no credential goes there and
    /// nothing it answers lands. `target` is the other origin only (its path may hold secrets).
    #[error("GET {url} answered HTTP {status} redirecting to another host {target}: refused (only redirects within the configured base_url host {base_url} are followed)")]
    ForeignRedirect {
        url: String,
        status: u16,
        target: String,
        base_url: String,
    },
    #[error("GET {url}: {reason}")]
    Redirect { url: String, reason: String },
}

impl ExtractError {
    /// Whether the same run may succeed later: the API was down, overloaded or unreachable.
    /// Anything else (a 4xx, a body that is not JSON, a refused host or redirect, pages that never
    /// end) needs the API or the config to change.
    pub fn is_transient(&self) -> bool {
        match self {
            ExtractError::Status { status, .. } => {
                *status == 408 || is_overloaded_or_failing(*status)
            }
            ExtractError::Transport { .. } => true,
            _ => false,
        }
    }
}
