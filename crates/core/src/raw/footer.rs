//! The load a raw object belongs to and how it is written, in the Parquet footer's key-value
//! metadata: the ingest writes it ([`LoadFooter::key_values`]), the converter reads it
//! ([`LoadFooter::read`]). Files without it (not written by our ingest) are appended.

use parquet::file::metadata::KeyValue;

/// Footer key naming the ingest load (`20261124T081500123Z-1a2b3c4d`: sorts by time).
pub const LOAD_ID_KEY: &str = "icepipe.load_id";
/// Footer key: `append` or `replace`.
pub const WRITE_DISPOSITION_KEY: &str = "icepipe.write_disposition";
/// Footer keys naming the source and resource that wrote the file (informative).
pub const SOURCE_KEY: &str = "icepipe.source";
pub const RESOURCE_KEY: &str = "icepipe.resource";

/// How a load's rows go into the table: the config's `write_disposition`, the footer's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WriteDisposition {
    /// The rows are added to the table's.
    #[default]
    Append,
    /// The load's rows replace the table's (one overwrite snapshot per load).
    Replace,
}

impl WriteDisposition {
    pub const ALL: [WriteDisposition; 2] = [WriteDisposition::Append, WriteDisposition::Replace];

    pub fn as_str(self) -> &'static str {
        match self {
            WriteDisposition::Append => "append",
            WriteDisposition::Replace => "replace",
        }
    }

    pub fn parse(text: &str) -> Option<WriteDisposition> {
        Self::ALL.into_iter().find(|d| d.as_str() == text)
    }
}

/// Why a footer cannot be trusted: appending such a file would silently do the wrong thing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FooterError {
    #[error("unsupported {WRITE_DISPOSITION_KEY} {0:?} (append or replace)")]
    UnknownDisposition(String),
    #[error("{WRITE_DISPOSITION_KEY} is replace but the footer has no {LOAD_ID_KEY}")]
    ReplaceWithoutLoad,
}

/// What the footer says about the object's load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadFooter {
    pub load_id: Option<String>,
    pub disposition: WriteDisposition,
    pub source: Option<String>,
    pub resource: Option<String>,
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
        }
    }

    /// The key-value metadata to write (absent fields are left out).
    pub fn key_values(&self) -> Vec<KeyValue> {
        [
            (LOAD_ID_KEY, self.load_id.as_deref()),
            (WRITE_DISPOSITION_KEY, Some(self.disposition.as_str())),
            (SOURCE_KEY, self.source.as_deref()),
            (RESOURCE_KEY, self.resource.as_deref()),
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
        let footer = Self {
            load_id: value(LOAD_ID_KEY),
            disposition,
            source: value(SOURCE_KEY),
            resource: value(RESOURCE_KEY),
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
        for disposition in WriteDisposition::ALL {
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
    fn unknown_dispositions_and_anonymous_replaces_are_rejected() {
        let kv = footer(&[(LOAD_ID_KEY, "L1"), (WRITE_DISPOSITION_KEY, "merge")]);
        assert!(LoadFooter::read(Some(&kv))
            .unwrap_err()
            .to_string()
            .contains("merge"));
        let kv = footer(&[(WRITE_DISPOSITION_KEY, "replace")]);
        assert!(LoadFooter::read(Some(&kv))
            .unwrap_err()
            .to_string()
            .contains(LOAD_ID_KEY));
    }
}
