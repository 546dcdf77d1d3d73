//! Records of raw objects that could not be converted: `_errors/<yyyy-mm-dd>/<id>.json` in the raw
//! bucket, written before the message is acknowledged, read back by replay.
//!
//! The id is a digest of (key, eTag) and the date is the raw object's creation date (the
//! notification's `eventTime`), so a redelivered failure rewrites the same record instead of
//! adding one.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::notification::format_time_ms;
use super::object::key_etag_hash;
use super::reserved::{error_record_key, is_error_record_key, ERRORS_PREFIX};
use crate::storage::{ObjectStore, StorageResult};

/// Whether trying again later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureKind {
    /// The object itself is the problem (not Parquet, corrupt, lossy schema change, layout).
    Permanent,
    /// Storage or catalog trouble: the same object may convert on a later attempt.
    Transient,
}

/// Why one raw object was not converted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    /// [`ErrorRecord::id_for`] of (key, etag).
    pub id: String,
    /// The raw object's key (in the raw bucket).
    pub key: String,
    /// The eTag of the content that failed, without quotes.
    pub etag: String,
    /// The table it was meant for (absent when the key does not name one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub kind: FailureKind,
    pub reason: String,
    /// When the failure was recorded, RFC 3339.
    pub time: String,
    /// When the raw object was created, RFC 3339; its date names the record's folder.
    pub event_time: String,
    /// The queue message that carried the failing notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl ErrorRecord {
    /// A record without table and message id (see [`Self::with_table`], [`Self::with_message_id`]).
    pub fn new(
        key: &str,
        etag: &str,
        kind: FailureKind,
        reason: impl Into<String>,
        event_time_ms: i64,
        now_ms: i64,
    ) -> ErrorRecord {
        ErrorRecord {
            id: Self::id_for(key, etag),
            key: key.to_string(),
            etag: etag.to_string(),
            table: None,
            kind,
            reason: reason.into(),
            time: format_time_ms(now_ms),
            event_time: format_time_ms(event_time_ms),
            message_id: None,
        }
    }

    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    pub fn with_message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// 32 hex digits of SHA-256 over (key, eTag): stable across redeliveries.
    pub fn id_for(key: &str, etag: &str) -> String {
        key_etag_hash(key, etag, 16)
    }

    /// `_errors/<yyyy-mm-dd>/<id>.json`, the date being the object's creation date (UTC).
    pub fn object_key(&self) -> String {
        let date = self.event_time.get(..10).unwrap_or("unknown");
        error_record_key(date, &self.id)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("error records serialize")
    }

    /// Reads a record back (replay of errors).
    pub fn parse(bytes: &[u8]) -> Result<ErrorRecord, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not an icepipe error record: {e}"))
    }

    /// Whether a raw-bucket key looks like an error record (`_errors/<date>/<id>.json`).
    pub fn is_record_key(key: &str) -> bool {
        is_error_record_key(key)
    }
}

/// Which raw objects have error records. A record is filed under the date of the notification's
/// `eventTime`, which may fall on the day before or after an object's listed `Last-Modified`
/// near midnight, so three days' folders are consulted (each listed once, then remembered).
#[derive(Debug)]
pub struct ErrorIndex<'a> {
    raw: &'a dyn ObjectStore,
    /// Record ids per `yyyy-mm-dd` folder already listed.
    days: HashMap<String, HashSet<String>>,
}

impl<'a> ErrorIndex<'a> {
    pub fn new(raw: &'a dyn ObjectStore) -> Self {
        Self {
            raw,
            days: HashMap::new(),
        }
    }

    /// Whether (key, etag), created at about `created_ms`, has an error record.
    pub async fn recorded(
        &mut self,
        key: &str,
        etag: &str,
        created_ms: i64,
    ) -> StorageResult<bool> {
        const DAY_MS: i64 = 86_400_000;
        let id = ErrorRecord::id_for(key, etag);
        for ms in [created_ms, created_ms - DAY_MS, created_ms + DAY_MS] {
            let day = format_time_ms(ms)
                .get(..10)
                .unwrap_or("unknown")
                .to_string();
            if !self.days.contains_key(&day) {
                let ids = self
                    .raw
                    .list(&format!("{ERRORS_PREFIX}{day}/"))
                    .await?
                    .into_iter()
                    .filter_map(|o| {
                        o.key
                            .rsplit_once('/')
                            .and_then(|(_, name)| name.strip_suffix(".json"))
                            .map(str::to_string)
                    })
                    .collect();
                self.days.insert(day.clone(), ids);
            }
            if self.days[&day].contains(&id) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(etag: &str, now_ms: i64) -> ErrorRecord {
        ErrorRecord::new(
            "sources/shop/orders/year=2026/month=11/day=24/a.parquet",
            etag,
            FailureKind::Permanent,
            "not a readable Parquet file: bad magic",
            1_795_549_004_379,
            now_ms,
        )
        .with_table("analytics.shop.orders")
        .with_message_id("msg-1")
    }

    #[test]
    fn a_redelivered_failure_maps_to_the_same_record() {
        let first = record("e1", 1_795_549_010_000);
        // Redelivered two days later: same id, same key, newer time.
        let again = record("e1", 1_795_549_010_000 + 2 * 86_400_000);
        assert_eq!(first.id, again.id);
        assert_eq!(first.object_key(), again.object_key());
        assert_eq!(
            first.object_key(),
            format!("_errors/2026-11-24/{}.json", first.id)
        );
        assert_eq!(first.id.len(), 32);
        assert!(ErrorRecord::is_record_key(&first.object_key()));
        // New content under the same key is another object.
        assert_ne!(record("e2", 0).id, first.id);
        assert_ne!(
            ErrorRecord::id_for("ab", "c"),
            ErrorRecord::id_for("a", "bc")
        );
    }

    #[test]
    fn the_index_finds_records_filed_a_day_off() {
        use crate::storage::memory::MemoryStore;
        let store = MemoryStore::new("raw");
        let key = "sources/shop/orders/year=2026/month=11/day=24/a.parquet";
        let near_midnight = 1_795_564_799_000; // 2026-11-24T23:59:59Z
        let filed_next_day = ErrorRecord::new(
            key,
            "e1",
            FailureKind::Permanent,
            "bad",
            near_midnight + 2_000,
            0,
        );
        assert!(filed_next_day
            .object_key()
            .starts_with("_errors/2026-11-25/"));
        futures::executor::block_on(async {
            store
                .put(
                    &filed_next_day.object_key(),
                    filed_next_day.to_json().into(),
                )
                .await
                .unwrap();
            let mut index = ErrorIndex::new(&store);
            assert!(index.recorded(key, "e1", near_midnight).await.unwrap());
            assert!(!index.recorded(key, "e2", near_midnight).await.unwrap());
            assert!(!index
                .recorded(key, "e1", near_midnight - 5 * 86_400_000)
                .await
                .unwrap());
        });
    }

    #[test]
    fn round_trips_through_json() {
        let r = record("e1", 1_795_549_010_000);
        let json: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
        assert_eq!(json["kind"], "permanent");
        assert_eq!(json["time"], "2026-11-24T19:36:50.000Z");
        assert_eq!(json["event_time"], "2026-11-24T19:36:44.379Z");
        assert_eq!(json["message_id"], "msg-1");
        assert_eq!(ErrorRecord::parse(&r.to_json()).unwrap(), r);
        let mut layout = r.clone();
        layout.table = None;
        layout.message_id = None;
        assert_eq!(ErrorRecord::parse(&layout.to_json()).unwrap(), layout);
        assert!(ErrorRecord::parse(b"{}").is_err());
        assert!(!ErrorRecord::is_record_key("sources/a.json"));
        assert!(!ErrorRecord::is_record_key("_errors/x.txt"));
    }
}
