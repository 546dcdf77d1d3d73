//! `Idempotency-Key` for pushed events: a client that retries a POST (a timeout, a lost answer)
//! must not land the same events twice. The first request with a key claims a marker object
//! `_state/events/<source>/<resource>/<digest>.json` with a conditional put, lands its events and
//! stores its answer in the marker; a repeat gets that answer back without writing anything.
//! A claim whose request died (no answer after [`STALE_AFTER_MS`]) can be taken over.
//!
//! The marker also holds a digest of the body: a request that reuses a key with another body is
//! a client bug that would silently drop the new events, so it is refused ([`Claim::OtherBody`]).

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json_arrow::normalize::digest;
use crate::raw::reserved::event_marker_key;
use crate::storage::{ObjectStore, StorageError};

/// A pending claim older than this belongs to a request that died: a retry may take it over.
pub const STALE_AFTER_MS: i64 = 5 * 60 * 1000;

/// A header value that is not an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Idempotency-Key must be 1 to 128 characters of A-Z a-z 0-9 . _ : -")]
pub struct BadIdempotencyKey;

/// Why the marker of a key could not be checked or written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdempotencyError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{marker}: not an idempotency marker: {reason}")]
    Corrupt { marker: String, reason: String },
}

impl IdempotencyError {
    pub fn is_transient(&self) -> bool {
        match self {
            IdempotencyError::Storage(e) => e.is_transient(),
            IdempotencyError::Corrupt { .. } => false,
        }
    }
}

/// A client's idempotency key: 1 to 128 of `[A-Za-z0-9._:-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(text: &str) -> Result<Self, BadIdempotencyKey> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(BadIdempotencyKey)
        }
    }

    /// Where the claim of this key for one stream lives in the raw bucket.
    pub fn marker(&self, source: &str, resource: &str) -> String {
        event_marker_key(source, resource, &digest(&[&self.0]))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    /// When the claim was made (ms since the epoch).
    claimed_ms: i64,
    /// [`body_digest`] of the request that claimed the key (absent in markers written before it
    /// existed: any body matches those).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    /// The answer of the request that landed the events; `None` while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<Value>,
}

/// What a request with a key may do.
#[derive(Debug, PartialEq)]
pub enum Claim {
    /// Ours: land the events, then [`complete`] (or [`release`] on failure).
    Granted,
    /// Landed before: this was the answer.
    Done(Value),
    /// Another request with this key is landing the events right now.
    InProgress,
    /// The key was claimed by a request with another body.
    OtherBody,
}

/// The digest a marker keeps of a request body: the same bytes are the same request.
pub fn body_digest(request_body: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(request_body))
}

/// Claims `marker` for a request at `now_ms` whose body has digest `request` ([`body_digest`]).
pub async fn claim(
    store: &dyn ObjectStore,
    marker: &str,
    now_ms: i64,
    request: &str,
) -> Result<Claim, IdempotencyError> {
    let pending = body(&Marker {
        claimed_ms: now_ms,
        body: Some(request.to_string()),
        response: None,
    });
    match store.put_if_absent(marker, pending.clone()).await {
        Ok(()) => return Ok(Claim::Granted),
        Err(StorageError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let meta = store.head(marker).await?;
    let existing: Marker = serde_json::from_slice(&store.get(marker).await?).map_err(|e| {
        IdempotencyError::Corrupt {
            marker: store.describe(marker),
            reason: e.to_string(),
        }
    })?;
    if existing
        .body
        .as_deref()
        .is_some_and(|claimed| claimed != request)
    {
        return Ok(Claim::OtherBody);
    }
    if let Some(response) = existing.response {
        return Ok(Claim::Done(response));
    }
    if now_ms - existing.claimed_ms < STALE_AFTER_MS {
        return Ok(Claim::InProgress);
    }
    // The claimant died: take over, unless another retry did so first.
    match store.put_if_match(marker, pending, &meta.etag).await {
        Ok(()) => Ok(Claim::Granted),
        Err(StorageError::AlreadyExists { .. } | StorageError::NotFound { .. }) => {
            Ok(Claim::InProgress)
        }
        Err(e) => Err(e.into()),
    }
}

/// Records the answer of the request (body digest `request`) that landed the events.
pub async fn complete(
    store: &dyn ObjectStore,
    marker: &str,
    now_ms: i64,
    request: &str,
    response: &Value,
) -> Result<(), IdempotencyError> {
    let done = body(&Marker {
        claimed_ms: now_ms,
        body: Some(request.to_string()),
        response: Some(response.clone()),
    });
    Ok(store.put(marker, done).await?)
}

/// Gives the claim up after a failure, so a retry can land the events.
pub async fn release(store: &dyn ObjectStore, marker: &str) -> Result<(), IdempotencyError> {
    Ok(store.delete(marker).await?)
}

fn body(marker: &Marker) -> Bytes {
    Bytes::from(serde_json::to_vec(marker).expect("a marker serializes"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::storage::memory::MemoryStore;

    #[test]
    fn keys_are_checked_and_markers_do_not_reveal_them() {
        assert!(IdempotencyKey::parse("order-42:retry_1.x").is_ok());
        for bad in ["", "a b", "ü", &"k".repeat(129)] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
        let marker = IdempotencyKey::parse("secret-ish")
            .unwrap()
            .marker("app", "clicks");
        assert!(marker.starts_with("_state/events/app/clicks/"), "{marker}");
        assert!(!marker.contains("secret-ish"));
    }

    #[tokio::test]
    async fn the_first_request_lands_a_repeat_gets_its_answer() {
        let store = MemoryStore::new("raw");
        let marker = "_state/events/app/clicks/k.json";
        let same = body_digest(b"{\"a\":1}");
        let other = body_digest(b"{\"a\":2}");
        assert_eq!(
            claim(&store, marker, 1_000, &same).await.unwrap(),
            Claim::Granted
        );
        // A concurrent repeat while the first one runs; another body is refused at once.
        assert_eq!(
            claim(&store, marker, 2_000, &same).await.unwrap(),
            Claim::InProgress
        );
        assert_eq!(
            claim(&store, marker, 2_000, &other).await.unwrap(),
            Claim::OtherBody
        );
        let answer = json!({"rows": 3, "files": ["sources/app/clicks/x.parquet"]});
        complete(&store, marker, 3_000, &same, &answer)
            .await
            .unwrap();
        assert_eq!(
            claim(&store, marker, 4_000, &same).await.unwrap(),
            Claim::Done(answer)
        );
        assert_eq!(
            claim(&store, marker, 4_000, &other).await.unwrap(),
            Claim::OtherBody
        );
    }

    #[tokio::test]
    async fn a_failed_or_dead_claim_can_be_taken_again() {
        let store = MemoryStore::new("raw");
        let marker = "_state/events/app/clicks/k.json";
        let d = body_digest(b"x");
        assert_eq!(claim(&store, marker, 0, &d).await.unwrap(), Claim::Granted);
        release(&store, marker).await.unwrap();
        assert_eq!(claim(&store, marker, 10, &d).await.unwrap(), Claim::Granted);
        // The claimant died without an answer: after STALE_AFTER_MS one retry takes over.
        let later = 10 + STALE_AFTER_MS;
        assert_eq!(
            claim(&store, marker, later, &d).await.unwrap(),
            Claim::Granted
        );
        assert_eq!(
            claim(&store, marker, later + 1, &d).await.unwrap(),
            Claim::InProgress
        );
    }

    #[tokio::test]
    async fn markers_without_a_body_digest_match_any_body() {
        let store = MemoryStore::new("raw");
        let marker = "_state/events/app/clicks/old.json";
        let old = json!({"claimed_ms": 1, "response": {"rows": 1}});
        store
            .put(marker, serde_json::to_vec(&old).unwrap().into())
            .await
            .unwrap();
        assert_eq!(
            claim(&store, marker, 2, &body_digest(b"anything"))
                .await
                .unwrap(),
            Claim::Done(json!({"rows": 1}))
        );
    }
}
