//! The R2 event notification message, exactly as Cloudflare puts it on the queue, and what the
//! convert Worker does with each: convert, acknowledge a delete, skip, or reject.
//!
//! ```json
//! {"account":"<id>","action":"PutObject","bucket":"icepipe-raw",
//!  "object":{"key":"sources/s/r/year=2026/month=11/day=24/a.parquet","size":123,"eTag":"<hex>"},
//!  "eventTime":"2026-11-24T07:44:49.123Z",
//!  "copySource":{"bucket":"...","object":"..."}}
//! ```
//! Delete events carry no `size` and `eTag`; only copies carry `copySource`. Replay sends the same
//! shape (see [`Notification::for_object`]), so the consumer cannot tell replayed from live messages.

use serde::{Deserialize, Serialize};

use super::key::{RawKey, TableName, SOURCES_PREFIX};
use super::slice::ObjectSlice;

/// `PutObject`: a single-request upload.
pub const PUT_OBJECT: &str = "PutObject";
/// `CopyObject`: a server-side copy (with `copySource`).
pub const COPY_OBJECT: &str = "CopyObject";
/// `CompleteMultipartUpload`: a multipart upload finished.
pub const COMPLETE_MULTIPART_UPLOAD: &str = "CompleteMultipartUpload";
/// `DeleteObject`: an explicit delete.
pub const DELETE_OBJECT: &str = "DeleteObject";
/// `LifecycleDeletion`: a lifecycle rule expired the object.
pub const LIFECYCLE_DELETION: &str = "LifecycleDeletion";

/// One R2 event notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    #[serde(default)]
    pub account: String,
    pub action: String,
    #[serde(default)]
    pub bucket: String,
    pub object: NotificationObject,
    /// RFC 3339, e.g. `2026-11-24T07:44:49.123Z`.
    #[serde(default)]
    pub event_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_source: Option<CopySource>,
    /// icepipe's own continuation messages (never sent by R2): convert only this slice of the
    /// object (see [`super::slice`]).
    #[serde(
        rename = "icepipeSlice",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub slice: Option<ObjectSlice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationObject {
    pub key: String,
    /// Absent on deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Absent on deletes; R2 sends it without quotes.
    #[serde(rename = "eTag", default, skip_serializing_if = "Option::is_none")]
    pub e_tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySource {
    pub bucket: String,
    pub object: String,
}

/// A raw object a notification asks to convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertTarget {
    pub table: TableName,
    pub key: String,
    /// Without quotes.
    pub etag: String,
    pub size: Option<u64>,
    /// `eventTime` in milliseconds since the epoch, when it parses.
    pub event_time_ms: Option<i64>,
    /// Only this slice of the object (a continuation message); `None`: the whole object.
    pub slice: Option<ObjectSlice>,
}

impl ConvertTarget {
    /// The work this message stands for: the object, or one slice of it.
    pub fn work(&self) -> (&str, Option<u32>) {
        (&self.key, self.slice.as_ref().map(|s| s.index))
    }
}

/// What the convert Worker does with one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// An object was created under `sources/` following the layout: convert it.
    Convert(ConvertTarget),
    /// A delete (Iceberg history is not rewritten by a raw delete): acknowledge and log.
    Deleted { key: String, action: String },
    /// Not ours (outside `sources/`, an unknown action, a reserved prefix): acknowledge and log.
    Skip { key: String, reason: String },
    /// Under `sources/` but off the layout: a permanent failure that gets an error record.
    Reject {
        key: String,
        etag: String,
        reason: String,
        event_time_ms: Option<i64>,
    },
}

impl Notification {
    /// Parses a message body (JSON text).
    pub fn parse(json: &str) -> Result<Notification, String> {
        let notification: Notification =
            serde_json::from_str(json).map_err(|e| format!("not an R2 event notification: {e}"))?;
        if notification.object.key.is_empty() {
            return Err("not an R2 event notification: object.key is empty".into());
        }
        Ok(notification)
    }

    /// The notification R2 would send for a `PutObject` of `key` (what replay sends).
    pub fn for_object(
        account: &str,
        bucket: &str,
        key: &str,
        size: u64,
        etag: &str,
        event_time_ms: i64,
    ) -> Notification {
        Notification {
            account: account.to_string(),
            action: PUT_OBJECT.to_string(),
            bucket: bucket.to_string(),
            object: NotificationObject {
                key: key.to_string(),
                size: Some(size),
                e_tag: Some(etag.to_string()),
            },
            event_time: format_time_ms(event_time_ms),
            copy_source: None,
            slice: None,
        }
    }

    /// The continuation message for one slice of an object (same shape, plus `icepipeSlice`).
    pub fn for_slice(self, slice: ObjectSlice) -> Notification {
        Notification {
            slice: Some(slice),
            ..self
        }
    }

    /// `eventTime` in milliseconds since the epoch, if it is RFC 3339.
    pub fn event_time_ms(&self) -> Option<i64> {
        parse_time_ms(&self.event_time)
    }

    /// Whether the action creates an object (and so may need converting).
    pub fn is_create(&self) -> bool {
        matches!(
            self.action.as_str(),
            PUT_OBJECT | COPY_OBJECT | COMPLETE_MULTIPART_UPLOAD
        )
    }

    pub fn is_delete(&self) -> bool {
        matches!(self.action.as_str(), DELETE_OBJECT | LIFECYCLE_DELETION)
    }

    /// Decides what to do with this notification; tables are `<namespace_root>.<source>.<resource>`.
    pub fn classify(&self, namespace_root: &str) -> Classified {
        let key = self.object.key.clone();
        if self.is_delete() {
            return Classified::Deleted {
                key,
                action: self.action.clone(),
            };
        }
        if !self.is_create() {
            return Classified::Skip {
                key,
                reason: format!("action {:?} is not an object creation", self.action),
            };
        }
        if !key.starts_with(SOURCES_PREFIX) {
            return Classified::Skip {
                reason: format!(
                    "{key} is outside {SOURCES_PREFIX}: only raw sources are converted"
                ),
                key,
            };
        }
        let etag = unquote(self.object.e_tag.as_deref().unwrap_or_default());
        if etag.is_empty() {
            return Classified::Skip {
                reason: format!("{} notification for {key} has no eTag", self.action),
                key,
            };
        }
        let event_time_ms = self.event_time_ms();
        match RawKey::parse(&key) {
            Ok(raw) => Classified::Convert(ConvertTarget {
                table: raw.table(namespace_root),
                key,
                etag,
                size: self.object.size,
                event_time_ms,
                slice: self.slice.clone(),
            }),
            Err(e) => Classified::Reject {
                key,
                etag,
                reason: e.to_string(),
                event_time_ms,
            },
        }
    }
}

/// An eTag without surrounding quotes (R2 sends none, S3 headers have them).
pub fn unquote(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

/// RFC 3339 to milliseconds since the epoch.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Milliseconds since the epoch to RFC 3339 with milliseconds and `Z`, as R2 writes `eventTime`.
pub fn format_time_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUT: &str = r#"{"account":"3f4b7e3dcab231cbfdaa90a6a28bd548","action":"PutObject","bucket":"icepipe-raw","object":{"key":"sources/shop/orders/year=2026/month=11/day=24/l1-0.parquet","size":65536,"eTag":"c846ff7a18f28c2e262116d6e8719ef0"},"eventTime":"2026-11-24T19:36:44.379Z"}"#;

    #[test]
    fn parses_cloudflares_shape_and_round_trips() {
        let n = Notification::parse(PUT).unwrap();
        assert_eq!(n.action, PUT_OBJECT);
        assert_eq!(n.object.size, Some(65536));
        assert_eq!(
            n.object.e_tag.as_deref(),
            Some("c846ff7a18f28c2e262116d6e8719ef0")
        );
        assert_eq!(n.event_time_ms(), Some(1_795_549_004_379));
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(json["object"]["eTag"], "c846ff7a18f28c2e262116d6e8719ef0");
        assert_eq!(json["eventTime"], "2026-11-24T19:36:44.379Z");
        assert!(json.get("copySource").is_none());
        assert_eq!(
            Notification::parse(&json.to_string()).unwrap(),
            n,
            "serializes to what it parses"
        );
    }

    #[test]
    fn parses_copies_and_deletes() {
        let copy = r#"{"account":"a","action":"CopyObject","bucket":"b","object":{"key":"k","size":1,"eTag":"e"},"eventTime":"2024-05-24T19:36:44.379Z","copySource":{"bucket":"b","object":"orig"}}"#;
        let n = Notification::parse(copy).unwrap();
        assert_eq!(n.copy_source.unwrap().object, "orig");
        let delete = r#"{"account":"a","action":"DeleteObject","bucket":"b","object":{"key":"sources/s/r/year=2026/month=01/day=01/x.parquet"},"eventTime":"2024-05-24T19:36:44.379Z"}"#;
        let n = Notification::parse(delete).unwrap();
        assert_eq!(n.object.e_tag, None);
        assert!(matches!(
            n.classify("analytics"),
            Classified::Deleted { action, .. } if action == DELETE_OBJECT
        ));
    }

    #[test]
    fn rejects_malformed_bodies() {
        for body in [
            "",
            "null",
            "[]",
            r#"{"hello":"world"}"#,
            r#"{"action":"PutObject","object":{}}"#,
            r#"{"action":"PutObject","object":{"key":""}}"#,
            r#"{"action":"PutObject","object":{"key":"k","size":"big"}}"#,
        ] {
            let err = Notification::parse(body).unwrap_err();
            assert!(
                err.contains("not an R2 event notification"),
                "{body}: {err}"
            );
        }
    }

    #[test]
    fn classifies_creations_by_layout() {
        let n = Notification::parse(PUT).unwrap();
        let Classified::Convert(target) = n.classify("analytics") else {
            panic!("should convert");
        };
        assert_eq!(target.table.to_string(), "analytics.shop.orders");
        assert_eq!(target.etag, "c846ff7a18f28c2e262116d6e8719ef0");
        assert_eq!(target.size, Some(65536));

        for action in [COPY_OBJECT, COMPLETE_MULTIPART_UPLOAD] {
            let mut n = n.clone();
            n.action = action.into();
            assert!(
                matches!(n.classify("a.b"), Classified::Convert(t) if t.table.namespace == ["a", "b", "shop"])
            );
        }
        let mut lifecycle = n.clone();
        lifecycle.action = LIFECYCLE_DELETION.into();
        assert!(matches!(
            lifecycle.classify("analytics"),
            Classified::Deleted { .. }
        ));
        let mut unknown = n.clone();
        unknown.action = "PutBucketPolicy".into();
        assert!(
            matches!(unknown.classify("analytics"), Classified::Skip { reason, .. } if reason.contains("not an object creation"))
        );
    }

    #[test]
    fn skips_outside_sources_and_rejects_layout_violations() {
        let mut n = Notification::parse(PUT).unwrap();
        for key in [
            "_errors/2026-01-01/x.json",
            "_state/cursor.json",
            "other/x.parquet",
        ] {
            n.object.key = key.into();
            assert!(
                matches!(n.classify("analytics"), Classified::Skip { reason, .. } if reason.contains("outside sources/")),
                "{key}"
            );
        }
        n.object.key = "sources/Shop/orders/year=2026/month=11/day=24/a.parquet".into();
        let Classified::Reject { reason, etag, .. } = n.classify("analytics") else {
            panic!("layout violation under sources/ is a rejection");
        };
        assert!(reason.contains("source name"), "{reason}");
        assert_eq!(etag, "c846ff7a18f28c2e262116d6e8719ef0");

        n.object.e_tag = None;
        n.object.key = "sources/shop/orders/year=2026/month=11/day=24/a.parquet".into();
        assert!(
            matches!(n.classify("analytics"), Classified::Skip { reason, .. } if reason.contains("no eTag"))
        );
    }

    #[test]
    fn replay_messages_look_like_live_ones() {
        let n = Notification::for_object(
            "acc",
            "icepipe-raw",
            "sources/shop/orders/year=2026/month=11/day=24/l1-0.parquet",
            65536,
            "c846ff7a18f28c2e262116d6e8719ef0",
            1_795_549_004_379,
        );
        let live = Notification::parse(PUT).unwrap();
        assert_eq!(n.event_time, live.event_time);
        assert_eq!(n.object, live.object);
        assert_eq!(n.action, live.action);
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(parse_time_ms("nonsense"), None);
    }
}
