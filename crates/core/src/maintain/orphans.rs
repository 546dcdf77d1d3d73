//! Orphan files: objects under the table's location that no table state references (a failed
//! commit's manifests and data files, a lost compaction's output, superseded ledger files).

use std::collections::BTreeSet;

use crate::storage::{ObjectMeta, ObjectStore, ObjectUrl, StorageError};

/// Most orphans one sweep deletes (each delete is a subrequest of a Worker invocation).
pub const MAX_DELETES_PER_STEP: usize = 1_000;

/// Objects under `location` not in `referenced` (full `s3://` paths) and last modified before
/// `cutoff_ms`.
pub async fn find(
    store: &dyn ObjectStore,
    location: &str,
    referenced: &BTreeSet<String>,
    cutoff_ms: i64,
) -> Result<Vec<ObjectMeta>, StorageError> {
    let Some(url) = ObjectUrl::parse(location.trim_end_matches('/')) else {
        return Err(StorageError::other(
            location,
            "the table location is not an s3:// URL",
        ));
    };
    let prefix = format!("{}/", url.key.trim_end_matches('/'));
    // Compared as keys of the table's bucket, whatever scheme (s3://, s3a://) a writer used.
    let referenced_keys: BTreeSet<String> = referenced
        .iter()
        .filter_map(|path| ObjectUrl::parse(path))
        .filter(|u| u.bucket == url.bucket)
        .map(|u| u.key)
        .collect();
    Ok(store
        .list(&prefix)
        .await?
        .into_iter()
        .filter(|o| o.last_modified_ms < cutoff_ms)
        .filter(|o| !referenced_keys.contains(&o.key))
        .collect())
}
