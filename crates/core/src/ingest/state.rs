//! Incremental state, `_state/<source>/<resource>.json`, advanced with a compare-and-swap on the
//! object's ETag (`put_if_absent` for the first run, `put_if_match` after): of two overlapping
//! runs that read the same state, only the first to finish advances it.
//!
//! ```json
//! { "cursor": "2024-02-03T10:00:00Z", "boundary_keys": ["9f1c..."],
//!   "last_load_id": "...", "updated_at": "..." }
//! ```
//! `boundary_keys` (absent in files written before it existed, read as empty) are the keys of
//! the records loaded at exactly `cursor`; see [`super::incremental`].

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::raw::reserved::state_key;
use crate::storage::{ObjectStore, StorageError};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceState {
    /// Highest cursor value loaded so far.
    pub cursor: Option<Value>,
    /// Keys (primary key or record hash digests) of the records loaded at `cursor`, sorted and
    /// bounded, so an API answering `>=` does not load them twice.
    #[serde(default)]
    pub boundary_keys: Vec<String>,
    pub last_load_id: String,
    /// When the state was written (RFC 3339).
    pub updated_at: String,
}

/// A JSON state object as read, with the version to compare against when writing it back.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub state: Option<T>,
    etag: Option<String>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Self {
            state: None,
            etag: None,
        }
    }
}

/// The cursor state as read at the start of a run.
pub type StateSnapshot = Versioned<ResourceState>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    #[error("state {key} changed since this run started (another run advanced it); this run's cursor was not stored")]
    Conflict { key: String },
    #[error("state {key} is unreadable: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl StateError {
    /// A conflict passes (the next run starts from the other run's cursor), as may storage
    /// trouble; a corrupt state file needs fixing.
    pub fn is_transient(&self) -> bool {
        match self {
            StateError::Conflict { .. } => true,
            StateError::Corrupt { .. } => false,
            StateError::Storage(e) => e.is_transient(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StateStore {
    store: Arc<dyn ObjectStore>,
}

impl StateStore {
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        Self { store }
    }

    pub async fn load(&self, source: &str, resource: &str) -> Result<StateSnapshot, StateError> {
        self.load_json(&state_key(source, resource)).await
    }

    /// Stores `state` only if the object is still what `read` saw.
    pub async fn save(
        &self,
        source: &str,
        resource: &str,
        read: &StateSnapshot,
        state: &ResourceState,
    ) -> Result<(), StateError> {
        self.save_json(&state_key(source, resource), read, state)
            .await
    }

    /// Any JSON state object under `_state/` (absent: `state` is `None`).
    pub async fn load_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Versioned<T>, StateError> {
        // HEAD before GET: if the object changes in between, the ETag is the older one and the
        // final compare-and-swap fails, which is the safe direction.
        let meta = match self.store.head(key).await {
            Ok(meta) => meta,
            Err(StorageError::NotFound { .. }) => return Ok(Versioned::default()),
            Err(e) => return Err(e.into()),
        };
        let body = self.store.get(key).await?;
        let state = serde_json::from_slice(&body).map_err(|e| StateError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Versioned {
            state: Some(state),
            etag: Some(meta.etag),
        })
    }

    /// Stores `state` at `key` only if the object is still what `read` saw.
    pub async fn save_json<T: Serialize>(
        &self,
        key: &str,
        read: &Versioned<T>,
        state: &T,
    ) -> Result<(), StateError> {
        let body = Bytes::from(serde_json::to_vec_pretty(state).expect("state serializes"));
        let result = match &read.etag {
            None => self.store.put_if_absent(key, body).await,
            Some(etag) => self.store.put_if_match(key, body, etag).await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(StorageError::AlreadyExists { .. } | StorageError::NotFound { .. }) => {
                Err(StateError::Conflict {
                    key: key.to_string(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::memory::MemoryStore;

    fn state(cursor: i64) -> ResourceState {
        ResourceState {
            cursor: Some(cursor.into()),
            boundary_keys: vec![format!("k{cursor}")],
            last_load_id: format!("l{cursor}"),
            updated_at: "t".into(),
        }
    }

    #[test]
    fn files_without_boundary_keys_still_load() {
        let old = r#"{"cursor": 5, "last_load_id": "l", "updated_at": "t"}"#;
        let state: ResourceState = serde_json::from_str(old).unwrap();
        assert_eq!(state.cursor, Some(5.into()));
        assert!(state.boundary_keys.is_empty());
    }

    #[test]
    fn overlapping_runs_cannot_both_advance() {
        futures::executor::block_on(async {
            let states = StateStore::new(Arc::new(MemoryStore::new("raw")));
            // Two runs start from nothing; the first to save wins.
            let a = states.load("s", "r").await.unwrap();
            let b = states.load("s", "r").await.unwrap();
            states.save("s", "r", &a, &state(1)).await.unwrap();
            assert!(matches!(
                states.save("s", "r", &b, &state(2)).await,
                Err(StateError::Conflict { .. })
            ));
            // Two runs start from state 1.
            let c = states.load("s", "r").await.unwrap();
            let d = states.load("s", "r").await.unwrap();
            assert_eq!(c.state, Some(state(1)));
            states.save("s", "r", &c, &state(3)).await.unwrap();
            assert!(matches!(
                states.save("s", "r", &d, &state(4)).await,
                Err(StateError::Conflict { .. })
            ));
            assert_eq!(states.load("s", "r").await.unwrap().state, Some(state(3)));
        });
    }
}
