//! Catalog failures, typed by what the operator or the committer must do about them.
//!
//! Every message names the catalog URI and the warehouse (and the table or namespace when there is
//! one), because the same binary talks to R2 in production and SeaweedFS locally and the first
//! question is always "which catalog?".

/// An error from [`super::RestCatalog`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// 401/403, or the token endpoint refused the client credentials.
    #[error(
        "the catalog at {uri} rejected the credentials for warehouse {warehouse} (HTTP {status}: \
         {detail}): check ICEPIPE_CATALOG_TOKEN / ICEPIPE_CATALOG_CREDENTIAL (Worker secrets \
         CATALOG_TOKEN / CATALOG_CREDENTIAL)"
    )]
    Unauthorized {
        uri: String,
        warehouse: String,
        status: u16,
        detail: String,
    },

    /// The catalog does not serve this warehouse (unknown bucket / catalog not enabled).
    #[error(
        "the catalog at {uri} does not know warehouse {warehouse} (HTTP {status}: {detail}): check \
         ICEPIPE_WAREHOUSE (Worker: WAREHOUSE) (R2 Data Catalog: the warehouse name shown for the bucket's catalog; \
         SeaweedFS: s3://<table bucket>) and that the catalog is enabled for that bucket"
    )]
    WarehouseNotFound {
        uri: String,
        warehouse: String,
        status: u16,
        detail: String,
    },

    /// Nothing answered, or the connection broke before a status came back on a read.
    #[error(
        "cannot reach the catalog at {uri} (warehouse {warehouse}) to {operation}: {reason}: is it \
         running / is ICEPIPE_CATALOG_URI (Worker: CATALOG_URI) right?"
    )]
    Unreachable {
        uri: String,
        warehouse: String,
        operation: String,
        reason: String,
    },

    /// A read timed out on every attempt.
    #[error(
        "the catalog at {uri} (warehouse {warehouse}) did not answer in time to {operation} \
         ({attempts} attempt(s)): it may be overloaded, or ICEPIPE_CATALOG_URI \
         (Worker: CATALOG_URI) may be wrong"
    )]
    Timeout {
        uri: String,
        warehouse: String,
        operation: String,
        attempts: u32,
    },

    #[error("table {table} does not exist in warehouse {warehouse} of the catalog at {uri}")]
    TableNotFound {
        uri: String,
        warehouse: String,
        table: String,
    },

    #[error(
        "namespace {namespace} does not exist in warehouse {warehouse} of the catalog at {uri}: \
         create it first"
    )]
    NamespaceNotFound {
        uri: String,
        warehouse: String,
        namespace: String,
    },

    /// 409 on commit: a requirement failed because someone else committed first.
    #[error(
        "commit to table {table} (warehouse {warehouse}, catalog {uri}) conflicts with a concurrent \
         change: {detail}: reload the table and retry"
    )]
    CommitConflict {
        uri: String,
        warehouse: String,
        table: String,
        detail: String,
    },

    /// 5xx, timeout or a broken connection on commit: the commit may or may not have been applied.
    #[error(
        "commit to table {table} (warehouse {warehouse}, catalog {uri}) may or may not have been \
         applied: {reason}: reload the table to find out before retrying"
    )]
    CommitOutcomeUnknown {
        uri: String,
        warehouse: String,
        table: String,
        reason: String,
    },

    /// 429: over one of the catalog's rate limits. Nothing was applied; the same request may be
    /// sent again after `retry_after_seconds`.
    #[error(
        "the catalog at {uri} (warehouse {warehouse}) refused to {operation}: over its rate limit \
         (HTTP 429: {detail}); retry after {retry_after_seconds} s. R2 Data Catalog allows, per 60 s, \
         20 commits per table, 120 writes per catalog, 10 table creations per catalog and 20 \
         namespace changes: icepipe paces its own writes below these (convert Worker: \
         COMMIT_INTERVAL_SECONDS and CATALOG_WRITES_PER_MINUTE), so look for other writers to this \
         catalog, or lower those settings"
    )]
    RateLimited {
        uri: String,
        warehouse: String,
        operation: String,
        retry_after_seconds: u64,
        detail: String,
    },

    /// 5xx that outlasted the retries.
    #[error(
        "the catalog at {uri} failed to {operation} in warehouse {warehouse}: HTTP {status} after \
         {attempts} attempt(s): {detail}"
    )]
    Server {
        uri: String,
        warehouse: String,
        operation: String,
        status: u16,
        attempts: u32,
        detail: String,
    },

    /// Any other 4xx: the request itself is wrong; `message` is the server's `error.message`.
    #[error(
        "the catalog at {uri} refused to {operation} in warehouse {warehouse}: HTTP {status}: {message}"
    )]
    BadRequest {
        uri: String,
        warehouse: String,
        operation: String,
        status: u16,
        message: String,
    },

    /// A success status with a body that is not what the REST spec promises.
    #[error(
        "the catalog at {uri} gave an unreadable answer to {operation} in warehouse {warehouse}: {reason}"
    )]
    InvalidResponse {
        uri: String,
        warehouse: String,
        operation: String,
        reason: String,
    },
}

/// What R2 Data Catalog waits for when its `Retry-After` header is missing or unreadable.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

impl CatalogError {
    /// How long to wait before the same request may be sent again, when the catalog said so.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            CatalogError::RateLimited {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// True when trying again later (after a reload, for commits) can succeed without a config change.
    pub fn is_transient(&self) -> bool {
        match self {
            CatalogError::Unreachable { .. }
            | CatalogError::Timeout { .. }
            | CatalogError::Server { .. }
            | CatalogError::RateLimited { .. }
            | CatalogError::CommitConflict { .. }
            | CatalogError::CommitOutcomeUnknown { .. } => true,
            CatalogError::Unauthorized { .. }
            | CatalogError::WarehouseNotFound { .. }
            | CatalogError::TableNotFound { .. }
            | CatalogError::NamespaceNotFound { .. }
            | CatalogError::BadRequest { .. }
            | CatalogError::InvalidResponse { .. } => false,
        }
    }

    /// The HTTP status behind the error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            CatalogError::Unauthorized { status, .. }
            | CatalogError::WarehouseNotFound { status, .. }
            | CatalogError::Server { status, .. }
            | CatalogError::BadRequest { status, .. } => Some(*status),
            CatalogError::TableNotFound { .. } | CatalogError::NamespaceNotFound { .. } => {
                Some(404)
            }
            CatalogError::CommitConflict { .. } => Some(409),
            CatalogError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small_enough_to_return_by_value() {
        // clippy's result_large_err fires at 128 bytes, in every crate that wraps this error.
        assert!(
            std::mem::size_of::<CatalogError>() <= 112,
            "{}",
            std::mem::size_of::<CatalogError>()
        );
    }
}
