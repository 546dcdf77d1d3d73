//! The raw bucket's reserved prefixes and the keys under them. Nothing here is ever converted:
//! only keys under [`super::key::SOURCES_PREFIX`] are.
//!
//! - `_state/<source>/<resource>.json`: an ingested resource's incremental cursor.
//! - `_state/<source>/<resource>.schema.json`: an ingested resource's recorded schema (its
//!   tables' columns: which source key each holds and its type), kept across loads.
//! - `_state/events/<source>/<resource>/<digest>.json`: the claim of a pushed request's
//!   `Idempotency-Key` (the digest hides the client's key).
//! - `_state/_reconcile/cursor.json`: where the reconciliation sweep resumes.
//! - `_errors/<yyyy-mm-dd>/<id>.json`: the record of a raw object that could not be converted.

/// Ingest state: cursors and idempotency markers.
pub const STATE_PREFIX: &str = "_state/";
/// Idempotency markers of pushed events (inside [`STATE_PREFIX`]).
pub const EVENT_MARKERS_PREFIX: &str = "_state/events/";
/// Where the reconciliation sweep's cursor is kept (`_`: no source is named so, so it cannot
/// meet an ingest cursor `_state/<source>/<resource>.json`).
pub const RECONCILE_CURSOR_KEY: &str = "_state/_reconcile/cursor.json";
/// Error records of raw objects that could not be converted.
pub const ERRORS_PREFIX: &str = "_errors/";

/// `_state/<source>/<resource>.json`
pub fn state_key(source: &str, resource: &str) -> String {
    format!("{STATE_PREFIX}{source}/{resource}.json")
}

/// `_state/<source>/<resource>.schema.json` (resource names have no `.`: it cannot meet a cursor)
pub fn schema_key(source: &str, resource: &str) -> String {
    format!("{STATE_PREFIX}{source}/{resource}.schema.json")
}

/// `_state/events/<source>/<resource>/<digest>.json`
pub fn event_marker_key(source: &str, resource: &str, digest: &str) -> String {
    format!("{EVENT_MARKERS_PREFIX}{source}/{resource}/{digest}.json")
}

/// `_errors/<date>/<id>.json` (`date` is `yyyy-mm-dd`).
pub fn error_record_key(date: &str, id: &str) -> String {
    format!("{ERRORS_PREFIX}{date}/{id}.json")
}

/// Whether a key looks like an error record (`_errors/<date>/<id>.json`).
pub fn is_error_record_key(key: &str) -> bool {
    key.strip_prefix(ERRORS_PREFIX)
        .is_some_and(|rest| rest.ends_with(".json") && rest.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_keys() {
        assert_eq!(state_key("shop", "orders"), "_state/shop/orders.json");
        assert_eq!(
            event_marker_key("app", "clicks", "ab12"),
            "_state/events/app/clicks/ab12.json"
        );
        let record = error_record_key("2026-11-24", "ff00");
        assert_eq!(record, "_errors/2026-11-24/ff00.json");
        assert!(is_error_record_key(&record));
        assert!(!is_error_record_key("sources/a.json"));
        assert!(!is_error_record_key("_errors/x.txt"));
    }
}
