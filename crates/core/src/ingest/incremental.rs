//! Client-side incremental filtering, as dlt does it: the API may ignore the start parameter or
//! answer `>=`, so every record is checked here.
//!
//! - A record whose cursor is below the start value (the stored cursor minus `lag`, or the initial
//!   value on the first run) was loaded before: dropped.
//! - A record whose cursor equals the stored cursor is dropped when its key (primary key, else a
//!   hash of the record) is among the boundary keys stored with the state, i.e. it was loaded by
//!   the run that stored that cursor.
//! - With `lag`, records inside the lag window are re-fetched and kept on purpose (late updates
//!   are the point of a lag), so the boundary check is off: with `append` they can repeat, and
//!   `_row_id` lets readers dedupe.
//!
//! Records without a comparable cursor value are kept: dropping them would lose data.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde_json::Value;

use super::config::Incremental;
use super::cursor;
use super::json_arrow::normalize::{canonical_json, digest, key_digest};
use super::jsonpath::JsonPath;
use super::state::ResourceState;

/// At most this many boundary keys are stored. Beyond it, the extra records at the boundary are
/// loaded again by the next run: a duplicate, never a loss.
pub const MAX_BOUNDARY_KEYS: usize = 10_000;

/// Decides, record by record, what an incremental run keeps, and what the next state is.
#[derive(Debug)]
pub struct IncrementalFilter {
    cursor_path: JsonPath,
    primary_key: Vec<String>,
    /// Records below this were loaded by earlier runs (sent to the API as the start param).
    start: Option<Value>,
    /// The stored cursor and its keys, when the boundary check applies (no lag).
    boundary: Option<(Value, BTreeSet<String>)>,
    /// The highest cursor loaded so far (stored or seen) and the keys of its records.
    max: Option<Value>,
    keys_at_max: BTreeSet<String>,
    /// Records dropped because an earlier run loaded them.
    pub skipped: u64,
}

impl IncrementalFilter {
    pub fn new(
        incremental: &Incremental,
        primary_key: &[String],
        state: Option<&ResourceState>,
    ) -> Self {
        let stored = state.and_then(|s| s.cursor.clone());
        let stored_keys: BTreeSet<String> = state
            .map(|s| s.boundary_keys.iter().cloned().collect())
            .unwrap_or_default();
        let start = match (&stored, incremental.lag) {
            (Some(cursor), Some(lag)) => Some(cursor::minus_lag(cursor, lag)),
            (Some(cursor), None) => Some(cursor.clone()),
            (None, _) => incremental.initial_value.clone(),
        };
        let boundary = match (&stored, incremental.lag) {
            (Some(cursor), None) => Some((cursor.clone(), stored_keys.clone())),
            _ => None,
        };
        Self {
            cursor_path: incremental.cursor_path.clone(),
            primary_key: primary_key.to_vec(),
            start,
            boundary,
            max: stored,
            keys_at_max: stored_keys,
            skipped: 0,
        }
    }

    /// The value sent as the incremental request parameter.
    pub fn start(&self) -> Option<&Value> {
        self.start.as_ref()
    }

    /// Whether `record` is new; a kept record moves the cursor and boundary keys on.
    pub fn keep(&mut self, record: &Value) -> bool {
        let Some(value) = self.cursor_path.find(record).filter(|v| !v.is_null()) else {
            return true;
        };
        if let Some(start) = &self.start {
            if cursor::compare(value, start) == Some(Ordering::Less) {
                self.skipped += 1;
                return false;
            }
        }
        let key = self.record_key(record);
        if let Some((stored, keys)) = &self.boundary {
            if cursor::compare(value, stored) == Some(Ordering::Equal) && keys.contains(&key) {
                self.skipped += 1;
                return false;
            }
        }
        self.advance(value, key);
        true
    }

    fn advance(&mut self, value: &Value, key: String) {
        let order = match &self.max {
            None => Some(Ordering::Greater),
            Some(max) => cursor::compare(value, max),
        };
        match order {
            Some(Ordering::Greater) => {
                self.max = Some(value.clone());
                self.keys_at_max = BTreeSet::from([key]);
            }
            Some(Ordering::Equal) if self.keys_at_max.len() < MAX_BOUNDARY_KEYS => {
                self.keys_at_max.insert(key);
            }
            _ => {}
        }
    }

    /// The primary key's values, or the whole record when it has no (complete) primary key,
    /// hashed to a fixed size for the state file.
    fn record_key(&self, record: &Value) -> String {
        key_digest("key", &self.primary_key, record)
            .unwrap_or_else(|| digest(&["record", &canonical_json(record)]))
    }

    /// The cursor and boundary keys to store after a successful run.
    pub fn into_next(self) -> (Option<Value>, Vec<String>) {
        let keys = if self.max.is_some() {
            self.keys_at_max.into_iter().collect()
        } else {
            Vec::new()
        };
        (self.max, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incremental(lag: Option<f64>) -> Incremental {
        Incremental {
            cursor_path: JsonPath::parse("updated_at").unwrap(),
            initial_value: Some(json!(10)),
            param: "since".into(),
            lag,
        }
    }

    fn state(cursor: i64, keys: Vec<String>) -> ResourceState {
        ResourceState {
            cursor: Some(json!(cursor)),
            boundary_keys: keys,
            ..Default::default()
        }
    }

    fn kept(filter: &mut IncrementalFilter, records: &[Value]) -> Vec<i64> {
        records
            .iter()
            .filter(|r| filter.keep(r))
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    }

    fn pk() -> Vec<String> {
        vec!["id".into()]
    }

    #[test]
    fn the_first_run_drops_records_below_the_initial_value() {
        let mut filter = IncrementalFilter::new(&incremental(None), &pk(), None);
        assert_eq!(filter.start(), Some(&json!(10)));
        let records = [
            json!({"id": 1, "updated_at": 9}),
            json!({"id": 2, "updated_at": 10}),
            json!({"id": 3, "updated_at": 12}),
            json!({"id": 4, "updated_at": 12}),
            json!({"id": 5}),
        ];
        assert_eq!(kept(&mut filter, &records), [2, 3, 4, 5]);
        assert_eq!(filter.skipped, 1);
        let (cursor, keys) = filter.into_next();
        assert_eq!(cursor, Some(json!(12)));
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn records_at_the_stored_cursor_are_dropped_only_when_already_loaded() {
        let mut first = IncrementalFilter::new(&incremental(None), &pk(), None);
        let at_boundary = [
            json!({"id": 1, "updated_at": 20}),
            json!({"id": 2, "updated_at": 20}),
        ];
        assert_eq!(kept(&mut first, &at_boundary), [1, 2]);
        let (cursor, keys) = first.into_next();
        let stored = state(cursor.unwrap().as_i64().unwrap(), keys);

        let mut second = IncrementalFilter::new(&incremental(None), &pk(), Some(&stored));
        let records = [
            json!({"id": 1, "updated_at": 20}),
            json!({"id": 2, "updated_at": 20}),
            json!({"id": 3, "updated_at": 20}),
        ];
        assert_eq!(kept(&mut second, &records), [3]);
        // The cursor did not move: the new record's key joins the stored ones.
        let (cursor, keys) = second.into_next();
        assert_eq!(cursor, Some(json!(20)));
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn without_a_primary_key_the_record_hash_is_the_key() {
        let a = json!({"id": 1, "updated_at": 20, "v": "a"});
        let mut first = IncrementalFilter::new(&incremental(None), &[], None);
        assert!(first.keep(&a));
        let (cursor, keys) = first.into_next();
        let stored = state(cursor.unwrap().as_i64().unwrap(), keys);
        let mut second = IncrementalFilter::new(&incremental(None), &[], Some(&stored));
        let changed = json!({"id": 1, "updated_at": 20, "v": "b"});
        assert_eq!(kept(&mut second, &[a, changed]), [1]);
    }

    #[test]
    fn lag_keeps_the_window_and_skips_the_boundary_check() {
        let stored = state(100, Vec::new());
        let mut filter = IncrementalFilter::new(&incremental(Some(5.0)), &pk(), Some(&stored));
        assert_eq!(filter.start(), Some(&json!(95)));
        let records = [
            json!({"id": 1, "updated_at": 94}),
            json!({"id": 2, "updated_at": 95}),
            json!({"id": 3, "updated_at": 100}),
        ];
        assert_eq!(kept(&mut filter, &records), [2, 3]);
        // The cursor never moves back into the window.
        assert_eq!(filter.into_next().0, Some(json!(100)));
    }

    #[test]
    fn boundary_keys_are_bounded() {
        let mut filter = IncrementalFilter::new(&incremental(None), &pk(), None);
        for id in 0..MAX_BOUNDARY_KEYS + 5 {
            assert!(filter.keep(&json!({"id": id, "updated_at": 50})));
        }
        assert_eq!(filter.into_next().1.len(), MAX_BOUNDARY_KEYS);
    }
}
