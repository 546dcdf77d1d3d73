//! The load a raw object belongs to and how it is written, in the Parquet footer's key-value
//! metadata: the ingest writes it ([`LoadFooter::key_values`]), the converter reads it
//! ([`LoadFooter::read`]). Files without it (not written by our ingest) are appended. A `merge`
//! file also names its primary key, version column, hard-delete column and merge key
//! ([`MergeKeys`]).

use parquet::file::metadata::KeyValue;

/// Footer key naming the ingest load (`20261124T081500123Z-1a2b3c4d`: sorts by time).
pub const LOAD_ID_KEY: &str = "icepipe.load_id";
/// Footer key: `append` or `replace`.
pub const WRITE_DISPOSITION_KEY: &str = "icepipe.write_disposition";
/// Footer keys naming the source and resource that wrote the file (informative).
pub const SOURCE_KEY: &str = "icepipe.source";
pub const RESOURCE_KEY: &str = "icepipe.resource";
/// Merge files: the primary key columns (a JSON array of column names, compound keys allowed).
pub const PRIMARY_KEY_KEY: &str = "icepipe.primary_key";
/// Merge files: the column whose larger value is the newer version of a key.
pub const VERSION_COLUMN_KEY: &str = "icepipe.version_column";
/// Merge files: the column whose `true` (or, for other types, non-null) value deletes the key.
pub const HARD_DELETE_KEY: &str = "icepipe.hard_delete_column";
/// Merge files, optional: the merge key columns (a JSON array of column names): the load states
/// the whole content of each merge-key group it carries (crate::merge::groups).
pub const MERGE_KEY_KEY: &str = "icepipe.merge_key";

/// How a load's rows go into the table: the config's `write_disposition`, the footer's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteDisposition {
    /// The rows are added to the table's.
    #[default]
    Append,
    /// The load's rows replace the table's (one overwrite snapshot per load).
    Replace,
    /// The newest version of each primary key wins; hard-deleted keys are removed.
    Merge,
}

impl WriteDisposition {
    pub const ALL: [WriteDisposition; 3] = [
        WriteDisposition::Append,
        WriteDisposition::Replace,
        WriteDisposition::Merge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
            WriteDisposition::Merge => "merge",
        }
    }

    pub fn parse(text: &str) -> Option<WriteDisposition> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// Why a footer cannot be trusted: appending such a file would silently do the wrong thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FooterError {
    #[error("unsupported {WRITE_DISPOSITION_KEY} {0:?} (append, replace or merge)")]
    UnknownDisposition(String),
    #[error("{WRITE_DISPOSITION_KEY} is replace but the footer has no {LOAD_ID_KEY}")]
    ReplaceWithoutLoad,
    #[error("{WRITE_DISPOSITION_KEY} is merge but the footer has no {PRIMARY_KEY_KEY}")]
    MergeWithoutPrimaryKey,
    #[error("{key} {value:?} is not {expected}")]
    MalformedMergeKey {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// What a merge file is merged on: set for `merge` files only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergeKeys {
    /// Column names; at least one.
    pub primary_key: Vec<String>,
    /// The column deciding which version of a key is newer (`_loaded_at` unless configured).
    pub version_column: String,
    /// The column marking deletes, if the resource has one.
    pub hard_delete_column: Option<String>,
    /// The merge key columns (empty: none): table rows of a group the load carries that the
    /// load does not carry any more are removed. Absent from footers (and coordinator
    /// messages) written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merge_key: Vec<String>,
}

/// What the footer says about the object's load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadFooter {
    pub load_id: Option<String>,
    pub disposition: WriteDisposition,
    pub source: Option<String>,
    pub resource: Option<String>,
    /// `Some` exactly when the disposition is `merge`.
    pub merge: Option<MergeKeys>,
}

impl LoadFooter {
    /// The footer of a file the ingest writes for one load.
    pub fn of_load(
        load_id: &str,
        disposition: WriteDisposition,
        source: &str,
        resource: &str,
    ) -> Self {
        Self {
            load_id: Some(load_id.to_string()),
            disposition,
            source: Some(source.to_string()),
            resource: Some(resource.to_string()),
            merge: None,
        }
    }

    /// The footer of a merge load's files.
    pub fn of_merge_load(load_id: &str, source: &str, resource: &str, keys: MergeKeys) -> Self {
        Self {
            merge: Some(keys),
            ..Self::of_load(load_id, WriteDisposition::Merge, source, resource)
        }
    }

    /// The key-value metadata to write (absent fields are left out).
    pub fn key_values(&self) -> Vec<KeyValue> {
        let merge = self.merge.as_ref();
        let primary_key = merge.map(|m| serde_json::json!(m.primary_key).to_string());
        let merge_key = merge
            .filter(|m| !m.merge_key.is_empty())
            .map(|m| serde_json::json!(m.merge_key).to_string());
        [
            (LOAD_ID_KEY, self.load_id.as_deref()),
            (WRITE_DISPOSITION_KEY, Some(self.disposition.as_str())),
            (SOURCE_KEY, self.source.as_deref()),
            (RESOURCE_KEY, self.resource.as_deref()),
            (PRIMARY_KEY_KEY, primary_key.as_deref()),
            (VERSION_COLUMN_KEY, merge.map(|m| m.version_column.as_str())),
            (
                HARD_DELETE_KEY,
                merge.and_then(|m| m.hard_delete_column.as_deref()),
            ),
            (MERGE_KEY_KEY, merge_key.as_deref()),
        ]
        .into_iter()
        .filter_map(|(key, value)| Some(KeyValue::new(key.to_string(), value?.to_string())))
        .collect()
    }

    /// Reads a file's key-value metadata; an unknown disposition, or a replace without a load
    /// id, is an error.
    pub fn read(metadata: Option<&Vec<KeyValue>>) -> Result<Self, FooterError> {
        let value = |key: &str| {
            metadata?
                .iter()
                .find(|kv| kv.key == key)
                .and_then(|kv| kv.value.clone())
                .filter(|v| !v.is_empty())
        };
        let disposition = match value(WRITE_DISPOSITION_KEY) {
            None => WriteDisposition::Append,
            Some(text) => {
                WriteDisposition::parse(&text).ok_or(FooterError::UnknownDisposition(text))?
            }
        };
        let merge = match disposition {
            WriteDisposition::Merge => Some(read_merge_keys(value)?),
            _ => None,
        };
        let footer = Self {
            load_id: value(LOAD_ID_KEY),
            disposition,
            source: value(SOURCE_KEY),
            resource: value(RESOURCE_KEY),
            merge,
        };
        if footer.disposition == WriteDisposition::Replace && footer.load_id.is_none() {
            return Err(FooterError::ReplaceWithoutLoad);
        }
        Ok(footer)
    }

    /// The load the object replaces the table with, for a replace object.
    pub fn replace_load(&self) -> Option<&str> {
        self.load_id
            .as_deref()
            .filter(|_| self.disposition == WriteDisposition::Replace)
    }
}

/// A merge footer's keys: the primary key is required (a JSON array of non-empty names, or one
/// bare name); the version column defaults to `_loaded_at`; the merge key is optional (same
/// shapes as the primary key; absent in older footers: none).
fn read_merge_keys(value: impl Fn(&str) -> Option<String>) -> Result<MergeKeys, FooterError> {
    let text = value(PRIMARY_KEY_KEY).ok_or(FooterError::MergeWithoutPrimaryKey)?;
    let primary_key = column_list(PRIMARY_KEY_KEY, &text)?;
    let merge_key = match value(MERGE_KEY_KEY) {
        Some(text) => column_list(MERGE_KEY_KEY, &text)?,
        None => Vec::new(),
    };
    Ok(MergeKeys {
        primary_key,
        version_column: value(VERSION_COLUMN_KEY)
            .unwrap_or_else(|| super::columns::LOADED_AT_COLUMN.to_string()),
        hard_delete_column: value(HARD_DELETE_KEY),
        merge_key,
    })
}

/// A footer value naming columns: a JSON array of non-empty names, or one bare name.
fn column_list(key: &'static str, text: &str) -> Result<Vec<String>, FooterError> {
    let malformed = || FooterError::MalformedMergeKey {
        key,
        value: text.to_string(),
        expected: "a JSON array of column names",
    };
    let columns: Vec<String> = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|_| malformed())?
    } else {
        vec![text.to_string()]
    };
    if columns.is_empty() || columns.iter().any(String::is_empty) {
        return Err(malformed());
    }
    Ok(columns)
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
    fn what_the_ingest_writes_the_converter_reads() {
        for disposition in [WriteDisposition::Append, WriteDisposition::Replace] {
            let written = LoadFooter::of_load("L1", disposition, "shop", "orders");
            let read = LoadFooter::read(Some(&written.key_values())).unwrap();
            assert_eq!(read, written);
        }
        let kv = LoadFooter::of_load("L1", WriteDisposition::Replace, "s", "r").key_values();
        let names: Vec<&str> = kv.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            names,
            [LOAD_ID_KEY, WRITE_DISPOSITION_KEY, SOURCE_KEY, RESOURCE_KEY]
        );
    }

    #[test]
    fn reads_the_ingest_keys() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "replace")]);
        let info = LoadFooter::read(Some(&kv)).unwrap();
        assert_eq!(info.replace_load(), Some("L1"));
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "append")]);
        let info = LoadFooter::read(Some(&kv)).unwrap();
        assert_eq!(
            (info.load_id.as_deref(), info.replace_load()),
            (Some("L1"), None)
        );
    }

    #[test]
    fn files_without_the_keys_are_appended() {
        assert_eq!(LoadFooter::read(None).unwrap(), LoadFooter::default());
        let kv = footer(&[("ARROW:schema", "x")]);
        assert_eq!(LoadFooter::read(Some(&kv)).unwrap(), LoadFooter::default());
    }

    #[test]
    fn merge_footers_carry_their_keys() {
        let keys = MergeKeys {
            primary_key: vec!["tenant".into(), "id".into()],
            version_column: "updated_at".into(),
            hard_delete_column: Some("deleted".into()),
            merge_key: vec!["tenant".into(), "day".into()],
        };
        let written = LoadFooter::of_merge_load("L1", "s", "r", keys.clone());
        let read = LoadFooter::read(Some(&written.key_values())).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.merge, Some(keys));
        // Only the primary key is required; a bare name is a one-column key.
        let kv = footer(&[(WRITE_DISPOSITION_KEY, "merge"), (PRIMARY_KEY_KEY, "id")]);
        assert_eq!(
            LoadFooter::read(Some(&kv)).unwrap().merge,
            Some(MergeKeys {
                primary_key: vec!["id".into()],
                version_column: "_loaded_at".into(),
                hard_delete_column: None,
                merge_key: Vec::new(),
            })
        );
    }

    #[test]
    fn the_merge_key_is_written_only_when_set_and_read_in_either_shape() {
        let mut keys = MergeKeys {
            primary_key: vec!["id".into()],
            version_column: "v".into(),
            hard_delete_column: None,
            merge_key: Vec::new(),
        };
        let kv = LoadFooter::of_merge_load("L1", "s", "r", keys.clone()).key_values();
        assert!(kv.iter().all(|kv| kv.key != MERGE_KEY_KEY), "{kv:?}");
        keys.merge_key = vec!["day".into()];
        let kv = LoadFooter::of_merge_load("L1", "s", "r", keys.clone()).key_values();
        let written = kv.iter().find(|kv| kv.key == MERGE_KEY_KEY).unwrap();
        assert_eq!(written.value.as_deref(), Some("[\"day\"]"));
        let bare = footer(&[
            (WRITE_DISPOSITION_KEY, "merge"),
            (PRIMARY_KEY_KEY, "id"),
            (MERGE_KEY_KEY, "day"),
        ]);
        assert_eq!(
            LoadFooter::read(Some(&bare))
                .unwrap()
                .merge
                .unwrap()
                .merge_key,
            ["day"]
        );
        for bad in ["[]", "[\"\"]", "[1]"] {
            let kv = footer(&[
                (WRITE_DISPOSITION_KEY, "merge"),
                (PRIMARY_KEY_KEY, "id"),
                (MERGE_KEY_KEY, bad),
            ]);
            assert!(
                matches!(
                    LoadFooter::read(Some(&kv)),
                    Err(FooterError::MalformedMergeKey {
                        key: MERGE_KEY_KEY,
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn coordinator_messages_without_a_merge_key_still_read() {
        let old = r#"{"primary_key":["id"],"version_column":"v","hard_delete_column":null}"#;
        let keys: MergeKeys = serde_json::from_str(old).unwrap();
        assert!(keys.merge_key.is_empty());
        assert_eq!(serde_json::to_string(&keys).unwrap(), old);
    }

    #[test]
    fn merges_without_a_usable_primary_key_are_rejected() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "merge")]);
        assert_eq!(
            LoadFooter::read(Some(&kv)),
            Err(FooterError::MergeWithoutPrimaryKey)
        );
        for bad in ["[]", "[\"\"]", "[1]", "[\"id\""] {
            let kv = footer(&[(WRITE_DISPOSITION_KEY, "merge"), (PRIMARY_KEY_KEY, bad)]);
            assert!(
                matches!(
                    LoadFooter::read(Some(&kv)),
                    Err(FooterError::MalformedMergeKey { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn unknown_dispositions_and_anonymous_replaces_are_rejected() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "upsert")]);
        assert!(LoadFooter::read(Some(&kv))
            .unwrap_err()
            .to_string()
            .contains("upsert"));
        let kv = footer(&[(WRITE_DISPOSITION_KEY, "replace")]);
        assert!(LoadFooter::read(Some(&kv))
            .unwrap_err()
            .to_string()
            .contains(LOAD_ID_KEY));
    }
}
