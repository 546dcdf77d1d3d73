//! How a merge removes the rows it replaces, chosen per table by Iceberg's standard
//! `write.merge.mode` property: `copy-on-write` rewrites the data files that lose rows;
//! `merge-on-read` leaves them and writes position delete files (format v2 tables only).
//! docs/merge.md measures the trade-off behind the default.

use std::collections::HashMap;

use iceberg::spec::{FormatVersion, TableMetadata};

use super::MergeError;

/// The table property (Iceberg's name, the one Spark and Trino read).
pub const MERGE_MODE_PROPERTY: &str = "write.merge.mode";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    CopyOnWrite,
    MergeOnRead,
}

impl MergeMode {
    /// Without the property: every reader reads plain data files, R2 SQL included (see
    /// docs/merge.md, "Choosing the strategy").
    pub const DEFAULT: MergeMode = MergeMode::CopyOnWrite;

    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::CopyOnWrite => "copy-on-write",
            MergeMode::MergeOnRead => "merge-on-read",
        }
    }

    /// The table's mode; an unknown value, or merge-on-read on a format v1 table (which has no
    /// delete files), refuses the merge rather than guessing.
    pub fn of(metadata: &TableMetadata) -> Result<MergeMode, MergeError> {
        let mode = Self::parse(metadata.properties())?;
        if mode == MergeMode::MergeOnRead && metadata.format_version() == FormatVersion::V1 {
            return Err(MergeError::BadProperty {
                name: MERGE_MODE_PROPERTY.into(),
                value: mode.as_str().into(),
                reason: "position delete files need a format v2 table".into(),
            });
        }
        Ok(mode)
    }

    fn parse(properties: &HashMap<String, String>) -> Result<MergeMode, MergeError> {
        match properties.get(MERGE_MODE_PROPERTY).map(|v| v.trim()) {
            None => Ok(Self::DEFAULT),
            Some(v) if v.eq_ignore_ascii_case("copy-on-write") => Ok(MergeMode::CopyOnWrite),
            Some(v) if v.eq_ignore_ascii_case("merge-on-read") => Ok(MergeMode::MergeOnRead),
            Some(other) => Err(MergeError::BadProperty {
                name: MERGE_MODE_PROPERTY.into(),
                value: other.into(),
                reason: "expected copy-on-write or merge-on-read".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Option<&str>) -> Result<MergeMode, MergeError> {
        let properties = value
            .map(|v| HashMap::from([(MERGE_MODE_PROPERTY.to_string(), v.to_string())]))
            .unwrap_or_default();
        MergeMode::parse(&properties)
    }

    #[test]
    fn the_property_chooses_the_mode() {
        assert_eq!(parse(None).unwrap(), MergeMode::DEFAULT);
        assert_eq!(
            parse(Some("merge-on-read")).unwrap(),
            MergeMode::MergeOnRead
        );
        assert_eq!(
            parse(Some(" Copy-On-Write ")).unwrap(),
            MergeMode::CopyOnWrite
        );
        let err = parse(Some("mor")).unwrap_err();
        assert!(!err.is_transient(), "{err}");
        assert!(err.to_string().contains("write.merge.mode"), "{err}");
    }
}
