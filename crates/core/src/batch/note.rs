//! Things about single messages worth a log line of their own (one JSON object each, tagged
//! `event`): decided without converting, gone, replaced, superseded.

use serde::Serialize;

/// Things worth a log line of their own (one JSON object each, tagged `event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Note {
    /// The body is not an R2 event notification (acknowledged).
    Malformed { message_id: String, reason: String },
    /// A delete notification (acknowledged; the table keeps its rows).
    Deleted { key: String, action: String },
    /// Not ours (acknowledged).
    Skipped { key: String, reason: String },
    /// A key under `sources/` off the layout (error record, acknowledged).
    Rejected { key: String, reason: String },
    /// The object was deleted before it could be converted (acknowledged).
    Gone { key: String },
    /// The object was overwritten since the notification: its current content is converted.
    Replaced {
        key: String,
        notified_etag: String,
        current_etag: String,
    },
    /// The object belongs to a replace load a newer load superseded (acknowledged, not committed).
    Superseded {
        key: String,
        etag: String,
        load_id: String,
        by_load_id: String,
        reason: String,
    },
}
