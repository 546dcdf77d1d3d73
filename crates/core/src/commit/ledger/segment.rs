//! Ledger segments: sorted lists of raw objects (key + eTag) stored as small JSON files, and the
//! bucket a raw object's entry lives in (its raw layout day and a hash shard of that day).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::RawObjectId;

/// The day bucket of objects whose key carries no `year=/month=/day=` path.
pub const UNDATED: &str = "undated";

/// The raw layout day of a key (`YYYY-MM-DD` from `.../year=YYYY/month=MM/day=DD/...`), or
/// [`UNDATED`]. A redelivery or replay names keys, so it reads only the segments of their days.
pub fn day_of(key: &str) -> String {
    let parts: Vec<&str> = key.split('/').collect();
    for window in parts.windows(3) {
        let (Some(y), Some(m), Some(d)) = (
            window[0].strip_prefix("year="),
            window[1].strip_prefix("month="),
            window[2].strip_prefix("day="),
        ) else {
            continue;
        };
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if digits(y, 4) && digits(m, 2) && digits(d, 2) {
            return format!("{y}-{m}-{d}");
        }
    }
    UNDATED.to_string()
}

/// Which of a day's `shards` a key belongs to (FNV-1a: stable across builds and platforms).
pub fn shard_of(key: &str, shards: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(shards.max(1))) as u32
}

/// One segment file: every key is `prefix` + the entry's suffix (the keys of one day share a
/// long prefix, which is stored once).
#[derive(Debug, Serialize, Deserialize)]
struct SegmentFile {
    format: u32,
    prefix: String,
    /// `[key suffix, eTag]`, sorted.
    entries: Vec<(String, String)>,
}

pub fn encode(objects: &BTreeSet<RawObjectId>) -> Vec<u8> {
    let prefix = common_prefix(objects.iter().map(|o| o.key.as_str()));
    let entries = objects
        .iter()
        .map(|o| (o.key[prefix.len()..].to_string(), o.etag.clone()))
        .collect();
    let file = SegmentFile {
        format: 1,
        prefix,
        entries,
    };
    serde_json::to_vec(&file).expect("strings always serialize")
}

pub fn decode(bytes: &[u8]) -> Result<Vec<RawObjectId>, serde_json::Error> {
    let file: SegmentFile = serde_json::from_slice(bytes)?;
    Ok(file
        .entries
        .into_iter()
        .map(|(suffix, etag)| RawObjectId {
            key: format!("{}{suffix}", file.prefix),
            etag,
        })
        .collect())
}

fn common_prefix<'a>(mut keys: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut len = first.len();
    for key in keys {
        len = first
            .char_indices()
            .zip(key.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(key: &str, etag: &str) -> RawObjectId {
        RawObjectId {
            key: key.into(),
            etag: etag.into(),
        }
    }

    #[test]
    fn days_come_from_the_hive_style_path() {
        assert_eq!(
            day_of("sources/a/b/year=2026/month=03/day=09/x.parquet"),
            "2026-03-09"
        );
        assert_eq!(day_of("anything/year=2026/month=3/day=09/x"), UNDATED);
        assert_eq!(day_of("tests/t/1.parquet"), UNDATED);
    }

    #[test]
    fn segments_round_trip_with_a_shared_prefix() {
        let objects: BTreeSet<RawObjectId> = [
            id("sources/a/b/year=2026/month=03/day=09/1.parquet", "e1"),
            id("sources/a/b/year=2026/month=03/day=09/2.parquet", "e2"),
            id("sources/a/b/year=2026/month=03/day=09/2.parquet", "e3"),
        ]
        .into();
        let bytes = encode(&objects);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.matches("day=09").count(), 1, "{text}");
        let back: BTreeSet<RawObjectId> = decode(&bytes).unwrap().into_iter().collect();
        assert_eq!(back, objects);
        assert!(decode(&encode(&BTreeSet::new())).unwrap().is_empty());
    }

    #[test]
    fn prefixes_never_split_a_character() {
        let objects: BTreeSet<RawObjectId> = [id("k/é1", "e"), id("k/è2", "e")].into();
        let back: BTreeSet<RawObjectId> = decode(&encode(&objects)).unwrap().into_iter().collect();
        assert_eq!(back, objects);
    }

    #[test]
    fn shards_are_stable_and_in_range() {
        assert_eq!(shard_of("a", 1), 0);
        let s = shard_of("sources/a/b/year=2026/month=03/day=09/1.parquet", 8);
        assert!(s < 8);
        assert_eq!(
            s,
            shard_of("sources/a/b/year=2026/month=03/day=09/1.parquet", 8)
        );
    }
}
