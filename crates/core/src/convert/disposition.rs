//! The load a raw object belongs to and how it is written, from the Parquet footer's key-value
//! metadata the ingest writes (see `ingest::parquet_out`). Files without it (not written by our
//! ingest) are appended.

use parquet::file::metadata::KeyValue;

/// Footer key naming the ingest load (`20261124T081500123Z-1a2b3c4d`: sorts by time).
pub const LOAD_ID_KEY: &str = "icepipe.load_id";
/// Footer key: `append` or `replace`.
pub const WRITE_DISPOSITION_KEY: &str = "icepipe.write_disposition";

/// What the footer says about the object's load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadInfo {
    pub load_id: Option<String>,
    /// Whether the load replaces the table's rows (else its rows are appended).
    pub replace: bool,
}

impl LoadInfo {
    /// Reads the footer's key-value metadata; an unknown disposition, or a replace without a
    /// load id, is an error (appending such a file would silently do the wrong thing).
    pub fn from_footer(metadata: Option<&Vec<KeyValue>>) -> Result<Self, String> {
        let value = |key: &str| {
            metadata?
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
                .filter(|v| !v.is_empty())
        };
        let load_id = value(LOAD_ID_KEY);
        let replace = match value(WRITE_DISPOSITION_KEY).as_deref() {
            None | Some("append") => false,
            Some("replace") => true,
            Some(other) => {
                return Err(format!(
                    "unsupported {WRITE_DISPOSITION_KEY} {other:?} (append or replace)"
                ))
            }
        };
        if replace && load_id.is_none() {
            return Err(format!(
                "{WRITE_DISPOSITION_KEY} is replace but the footer has no {LOAD_ID_KEY}"
            ));
        }
        Ok(Self { load_id, replace })
    }

    /// The load the object replaces the table with, for a replace object.
    pub fn replace_load(&self) -> Option<&str> {
        self.load_id.as_deref().filter(|_| self.replace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(k, v)| KeyValue::new(k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_ingest_keys() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "replace")]);
        let info = LoadInfo::from_footer(Some(&kv)).unwrap();
        assert_eq!(info.replace_load(), Some("L1"));
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "append")]);
        let info = LoadInfo::from_footer(Some(&kv)).unwrap();
        assert_eq!(
            (info.load_id.as_deref(), info.replace_load()),
            (Some("L1"), None)
        );
    }

    #[test]
    fn files_without_the_keys_are_appended() {
        assert_eq!(LoadInfo::from_footer(None).unwrap(), LoadInfo::default());
        let kv = footer(&[("ARROW:schema", "x")]);
        assert_eq!(
            LoadInfo::from_footer(Some(&kv)).unwrap(),
            LoadInfo::default()
        );
    }

    #[test]
    fn unknown_dispositions_and_anonymous_replaces_are_rejected() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "merge")]);
        assert!(LoadInfo::from_footer(Some(&kv))
            .unwrap_err()
            .contains("merge"));
        let kv = footer(&[(WRITE_DISPOSITION_KEY, "replace")]);
        assert!(LoadInfo::from_footer(Some(&kv))
            .unwrap_err()
            .contains(LOAD_ID_KEY));
    }
}
