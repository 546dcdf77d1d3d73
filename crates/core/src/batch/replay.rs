//! Replay: which notification-shaped messages to send again for raw objects (or recorded errors)
//! so the convert Worker converts them again. Sending is the runtime's job; a replayed object the
//! table already holds is acknowledged without writing anything, so replay never duplicates rows.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::raw::error_record::ErrorRecord;
use crate::raw::key::SOURCES_PREFIX;
use crate::raw::notification::{parse_time_ms, Notification};
use crate::raw::reserved::ERRORS_PREFIX;
use crate::storage::{ObjectMeta, ObjectStore, StorageError};

/// `POST /replay` body. What to replay must be said: a `prefix`, or `"all": true` for everything
/// under `sources/` (an empty body or `{}` would otherwise re-send the whole bucket). Unknown
/// fields are refused (a misspelt `dry_run` must not turn into a real replay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Raw keys to replay start with this (`sources/` is prepended when missing).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Everything under `sources/` (or every recorded error): the explicit form of "no prefix".
    #[serde(default)]
    pub all: bool,
    /// RFC 3339; only objects (or error records) uploaded at or after it.
    #[serde(default)]
    pub since: Option<String>,
    /// RFC 3339; only objects (or error records) uploaded before it.
    #[serde(default)]
    pub until: Option<String>,
    /// Replay the recorded errors under `_errors/` instead of the raw objects.
    #[serde(default)]
    pub errors: bool,
    /// Count, send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// Why a request without a scope is refused.
const NO_SCOPE: &str = "say what to replay: a \"prefix\" (e.g. \"sources/shop/orders/\") or \"all\": true \
                        for everything under sources/ (or every recorded error with \"errors\": true)";

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a replay would send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayPlan {
    /// Raw objects (or error records) matching the request.
    pub matched: usize,
    /// Recorded errors whose object no longer exists (nothing to send for them).
    pub missing: usize,
    /// One per raw key, with the object's current size and eTag.
    pub messages: Vec<Notification>,
}

impl ReplayRequest {
    /// Parses a request body: a JSON object naming a `prefix` or `"all": true`.
    pub fn parse(body: &[u8]) -> Result<ReplayRequest, ReplayError> {
        let bad = |e: String| {
            ReplayError::BadRequest(format!(
                "the body must be a JSON object {{\"prefix\" or \"all\": true, \"since\",\"until\",\"errors\",\"dry_run\"}}: {e}"
            ))
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(bad(NO_SCOPE.into()));
        }
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
        if !value.is_object() {
            return Err(bad(format!("found {value}")));
        }
        let request: ReplayRequest =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        request.scope()?;
        request.window()?;
        Ok(request)
    }

    /// Exactly one of a non-empty `prefix` and `"all": true`.
    fn scope(&self) -> Result<(), ReplayError> {
        let prefix = self.prefix.as_deref().map(str::trim).unwrap_or("");
        match (prefix.is_empty(), self.all) {
            (false, false) | (true, true) => Ok(()),
            (true, false) => Err(ReplayError::BadRequest(format!(
                "{NO_SCOPE}{}",
                if self.prefix.is_some() {
                    " (the prefix is empty)"
                } else {
                    ""
                }
            ))),
            (false, true) => Err(ReplayError::BadRequest(
                "give either a prefix or \"all\": true, not both".into(),
            )),
        }
    }

    /// The raw-key prefix, always under `sources/`.
    pub fn key_prefix(&self) -> String {
        let prefix = self.prefix.as_deref().unwrap_or("").trim_start_matches('/');
        if prefix.starts_with(SOURCES_PREFIX) {
            prefix.to_string()
        } else {
            format!("{SOURCES_PREFIX}{prefix}")
        }
    }

    /// `[since, until)` in milliseconds since the epoch.
    pub fn window(&self) -> Result<(Option<i64>, Option<i64>), ReplayError> {
        let parse = |name: &str, value: &Option<String>| match value {
            None => Ok(None),
            Some(text) => parse_time_ms(text).map(Some).ok_or_else(|| {
                ReplayError::BadRequest(format!(
                    "{name} must be an RFC 3339 time like 2026-11-24T00:00:00Z, not {text:?}"
                ))
            }),
        };
        let since = parse("since", &self.since)?;
        let until = parse("until", &self.until)?;
        if let (Some(s), Some(u)) = (since, until) {
            if s >= u {
                return Err(ReplayError::BadRequest(
                    "since must be earlier than until".into(),
                ));
            }
        }
        Ok((since, until))
    }

    fn in_window(&self, meta: &ObjectMeta) -> Result<bool, ReplayError> {
        let (since, until) = self.window()?;
        Ok(since.is_none_or(|s| meta.last_modified_ms >= s)
            && until.is_none_or(|u| meta.last_modified_ms < u))
    }
}

/// Lists what `request` selects in the raw bucket and builds the messages to send.
///
/// Raw objects: every `.parquet` object under the prefix uploaded within the window. Errors: every
/// record under `_errors/` written within the window whose raw key is under the prefix; the
/// message carries the object's current eTag (the file may have been fixed since), and records
/// whose object is gone are counted as `missing`.
pub async fn plan_replay(
    raw: &dyn ObjectStore,
    request: &ReplayRequest,
    account: &str,
    bucket: &str,
) -> Result<ReplayPlan, ReplayError> {
    let prefix = request.key_prefix();
    let message = |meta: &ObjectMeta| {
        Notification::for_object(
            account,
            bucket,
            &meta.key,
            meta.size,
            &meta.etag,
            meta.last_modified_ms,
        )
    };
    let mut plan = ReplayPlan::default();
    if !request.errors {
        for meta in raw.list(&prefix).await? {
            if meta.key.ends_with(".parquet") && request.in_window(&meta)? {
                plan.matched += 1;
                plan.messages.push(message(&meta));
            }
        }
        return Ok(plan);
    }

    let mut keys = BTreeSet::new();
    for meta in raw.list(ERRORS_PREFIX).await? {
        if !ErrorRecord::is_record_key(&meta.key) || !request.in_window(&meta)? {
            continue;
        }
        let record = match raw.get(&meta.key).await {
            Ok(body) => match ErrorRecord::parse(&body) {
                Ok(record) => record,
                // Not ours: nothing to replay.
                Err(_) => continue,
            },
            Err(StorageError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if record.key.starts_with(&prefix) {
            plan.matched += 1;
            keys.insert(record.key);
        }
    }
    for key in keys {
        match raw.head(&key).await {
            Ok(meta) => plan.messages.push(message(&meta)),
            Err(StorageError::NotFound { .. }) => plan.missing += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::raw::error_record::FailureKind;
    use crate::storage::memory::MemoryStore;

    #[derive(Debug)]
    struct FixedClock(std::sync::atomic::AtomicI64);

    #[async_trait::async_trait]
    impl Clock for FixedClock {
        fn now_ms(&self) -> i64 {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
        async fn sleep(&self, _: std::time::Duration) {}
    }

    const DAY: i64 = 86_400_000;
    const T0: i64 = 1_795_478_400_000; // 2026-11-24T00:00:00Z

    fn key(resource: &str, n: u32) -> String {
        format!("sources/shop/{resource}/year=2026/month=11/day=24/f{n}.parquet")
    }

    async fn bucket() -> (MemoryStore, Arc<FixedClock>) {
        let clock = Arc::new(FixedClock(T0.into()));
        let store = MemoryStore::with_clock("raw", clock.clone());
        for (i, (k, t)) in [
            (key("orders", 1), T0),
            (key("orders", 2), T0 + DAY),
            (key("users", 1), T0 + 2 * DAY),
            ("sources/shop/orders/notes.txt".to_string(), T0),
            ("_state/cursor.json".to_string(), T0),
        ]
        .into_iter()
        .enumerate()
        {
            clock.0.store(t, std::sync::atomic::Ordering::SeqCst);
            store.put(&k, vec![i as u8; 10].into()).await.unwrap();
        }
        (store, clock)
    }

    fn request(json: &str) -> ReplayRequest {
        ReplayRequest::parse(json.as_bytes()).unwrap()
    }

    fn keys(plan: &ReplayPlan) -> Vec<&str> {
        plan.messages
            .iter()
            .map(|m| m.object.key.as_str())
            .collect()
    }

    #[tokio::test]
    async fn replays_parquet_objects_by_prefix_and_upload_time() {
        let (store, _) = bucket().await;
        let all = plan_replay(&store, &request(r#"{"all":true}"#), "acc", "raw")
            .await
            .unwrap();
        assert_eq!(all.matched, 3);
        assert_eq!(
            keys(&all),
            [key("orders", 1), key("orders", 2), key("users", 1)]
        );
        let m = &all.messages[0];
        assert_eq!(m.action, "PutObject");
        assert_eq!(m.bucket, "raw");
        assert_eq!(m.object.size, Some(10));
        assert_eq!(
            m.object.e_tag.as_deref(),
            Some(store.head(&key("orders", 1)).await.unwrap().etag.as_str())
        );
        assert_eq!(m.event_time, "2026-11-24T00:00:00.000Z");

        let orders = plan_replay(&store, &request(r#"{"prefix":"shop/orders/"}"#), "", "raw")
            .await
            .unwrap();
        assert_eq!(keys(&orders), [key("orders", 1), key("orders", 2)]);
        let window = request(
            r#"{"prefix":"sources/shop/","since":"2026-11-25T00:00:00Z","until":"2026-11-26T00:00:00+00:00","dry_run":true}"#,
        );
        assert!(window.dry_run);
        let plan = plan_replay(&store, &window, "", "raw").await.unwrap();
        assert_eq!(keys(&plan), [key("orders", 2)]);
    }

    #[tokio::test]
    async fn replays_recorded_errors_with_the_current_etag() {
        let (store, clock) = bucket().await;
        clock
            .0
            .store(T0 + 3 * DAY, std::sync::atomic::Ordering::SeqCst);
        for (k, etag) in [
            (key("orders", 1), "stale-etag"),
            (key("orders", 1), "older-etag"),
            (key("users", 1), "u"),
            (key("orders", 9), "gone"),
        ] {
            let record = ErrorRecord::new(&k, etag, FailureKind::Permanent, "bad", T0, T0);
            store
                .put(&record.object_key(), record.to_json().into())
                .await
                .unwrap();
        }
        store.put("_errors/README.txt", "x".into()).await.unwrap();
        store
            .put("_errors/2026-11-24/junk.json", "{".into())
            .await
            .unwrap();

        let plan = plan_replay(&store, &request(r#"{"errors":true,"all":true}"#), "", "raw")
            .await
            .unwrap();
        assert_eq!(plan.matched, 4);
        assert_eq!(plan.missing, 1);
        assert_eq!(
            keys(&plan),
            [key("orders", 1), key("users", 1)],
            "one message per key"
        );
        let current = store.head(&key("orders", 1)).await.unwrap().etag;
        assert_eq!(
            plan.messages[0].object.e_tag.as_deref(),
            Some(current.as_str())
        );

        let users = request(r#"{"errors":true,"prefix":"sources/shop/users/"}"#);
        let plan = plan_replay(&store, &users, "", "raw").await.unwrap();
        assert_eq!(
            (plan.matched, keys(&plan)),
            (1, vec![key("users", 1).as_str()])
        );
        let before = request(r#"{"errors":true,"all":true,"until":"2026-11-25T00:00:00Z"}"#);
        assert_eq!(
            plan_replay(&store, &before, "", "raw")
                .await
                .unwrap()
                .matched,
            0
        );
    }

    #[test]
    fn refuses_bad_requests() {
        for body in [
            "",
            "  ",
            "{}",
            "[]",
            r#"{"dry_run":true}"#,
            r#"{"errors":true}"#,
            r#"{"prefix":" "}"#,
            r#"{"prefix":"sources/","all":true}"#,
            r#"{"all":true,"dryrun":true}"#,
            r#"{"all":true,"since":"yesterday"}"#,
            r#"{"all":true,"since":"2026-11-25T00:00:00Z","until":"2026-11-24T00:00:00Z"}"#,
            r#"{"all":true,"errors":"yes"}"#,
        ] {
            assert!(
                matches!(
                    ReplayRequest::parse(body.as_bytes()),
                    Err(ReplayError::BadRequest(_))
                ),
                "{body}"
            );
        }
        let Err(ReplayError::BadRequest(reason)) = ReplayRequest::parse(b"{}") else {
            panic!("{{}} must be refused");
        };
        assert!(reason.contains("\"all\": true"), "{reason}");
        assert_eq!(request(r#"{"all":true}"#).key_prefix(), "sources/");
        assert_eq!(request(r#"{"prefix":"/a/"}"#).key_prefix(), "sources/a/");
    }
}
