//! Why a committer could not do what was asked, typed by what the caller does about it.

use crate::catalog::CatalogError;
use crate::commit::CommitError;

use super::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommitterError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Boxed: commit errors are large.
    #[error(transparent)]
    Commit(Box<CommitError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The table's next write slot is further away than the caller may wait (a `429`'s
    /// `Retry-After`, or the pace and the catalog budget): hand the work on and come back then.
    #[error("table {table}: no catalog write before {retry_after_seconds} s ({reason}); the work is handed on")]
    Deferred {
        table: String,
        retry_after_seconds: u64,
        reason: String,
    },
    /// The schema a converter asks for cannot be folded into the table's current one (another
    /// writer changed it in between): the objects must be converted again, or are rejected.
    #[error("table {table}: {reason}")]
    IncompatibleSchema { table: String, reason: String },
    /// The coordinator (a Durable Object) could not be reached or answered nonsense.
    #[error("the commit coordinator of table {table} failed: {reason}")]
    Unavailable { table: String, reason: String },
    /// The coordinator refused for a reason a retry does not change (the catalog rejects the
    /// credentials, the request is wrong): its message says which.
    #[error("the commit coordinator of table {table} refused: {reason}")]
    Refused { table: String, reason: String },
}

impl From<CommitError> for CommitterError {
    fn from(err: CommitError) -> Self {
        CommitterError::Commit(Box::new(err))
    }
}

impl CommitterError {
    /// Whether the same request may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            CommitterError::Catalog(e) => e.is_transient(),
            CommitterError::Commit(e) => e.is_transient(),
            CommitterError::Store(_)
            | CommitterError::Deferred { .. }
            | CommitterError::Unavailable { .. } => true,
            CommitterError::IncompatibleSchema { .. } | CommitterError::Refused { .. } => false,
        }
    }

    /// At least this long before the same work is worth another try, when known.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            CommitterError::Deferred {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            CommitterError::Catalog(e) => e.retry_after_seconds(),
            _ => None,
        }
    }
}
