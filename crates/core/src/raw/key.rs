//! The raw bucket's key layout, `sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet`,
//! both ways (the ingest formats keys, the converter parses them), and the table each raw object
//! belongs to.

use std::fmt;

use chrono::{DateTime, Utc};

/// Where raw objects live; nothing outside this prefix is ever converted.
pub const SOURCES_PREFIX: &str = "sources/";
/// Default first namespace level of the tables: `analytics.<source>.<resource>`.
pub const DEFAULT_NAMESPACE_ROOT: &str = "analytics";

/// The parts of a raw key that name its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKey {
    pub source: String,
    pub resource: String,
    /// `YYYY-MM-DD` from the Hive-style date path.
    pub date: String,
    pub file_name: String,
}

/// Why a key does not follow the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("raw object {key} does not follow the layout sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<name>.parquet: {reason}")]
pub struct LayoutError {
    pub key: String,
    pub reason: String,
}

impl RawKey {
    /// The key of part `part` of load `load_id` of `resource` (a table of the load: the resource
    /// or one of its child tables), in the folder of the day the load ran.
    pub fn load_part(
        source: &str,
        resource: &str,
        loaded_at: DateTime<Utc>,
        load_id: &str,
        part: u32,
    ) -> RawKey {
        RawKey {
            source: source.to_string(),
            resource: resource.to_string(),
            date: loaded_at.format("%Y-%m-%d").to_string(),
            file_name: format!("{load_id}-{part:04}.parquet"),
        }
    }

    pub fn parse(key: &str) -> Result<RawKey, LayoutError> {
        let fail = |reason: String| LayoutError {
            key: key.to_string(),
            reason,
        };
        let rest = key
            .strip_prefix(SOURCES_PREFIX)
            .ok_or_else(|| fail(format!("it is not under {SOURCES_PREFIX}")))?;
        let parts: Vec<&str> = rest.split('/').collect();
        let [source, resource, year, month, day, file_name] = parts.as_slice() else {
            return Err(fail(format!(
                "expected 6 path segments after {SOURCES_PREFIX}, found {}",
                parts.len()
            )));
        };
        for (what, name) in [("source", source), ("resource", resource)] {
            if !is_valid_name(name) {
                return Err(fail(format!(
                    "{what} name {name:?} must match [a-z][a-z0-9_]{{0,63}}"
                )));
            }
        }
        let year = date_part(year, "year", 4).map_err(&fail)?;
        let month = date_part(month, "month", 2).map_err(&fail)?;
        let day = date_part(day, "day", 2).map_err(&fail)?;
        let date = format!("{year}-{month}-{day}");
        if chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").is_err() {
            return Err(fail(format!("{date} is not a calendar date")));
        }
        if !file_name.ends_with(".parquet") || file_name.len() <= ".parquet".len() {
            return Err(fail(format!(
                "file name {file_name:?} must end in .parquet"
            )));
        }
        Ok(RawKey {
            source: source.to_string(),
            resource: resource.to_string(),
            date,
            file_name: file_name.to_string(),
        })
    }

    /// The table this object lands in: `<root>.<source>.<resource>`, where the root may itself
    /// have several levels (`a.b`).
    pub fn table(&self, namespace_root: &str) -> TableName {
        let mut namespace: Vec<String> = namespace_root
            .split('.')
            .filter(|level| !level.is_empty())
            .map(str::to_string)
            .collect();
        namespace.push(self.source.clone());
        TableName {
            namespace,
            name: self.resource.clone(),
        }
    }
}

/// The key itself: `sources/<source>/<resource>/year=YYYY/month=MM/day=DD/<file_name>`.
impl fmt::Display for RawKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut date = self.date.splitn(3, '-');
        let (year, month, day) = (
            date.next().unwrap_or_default(),
            date.next().unwrap_or_default(),
            date.next().unwrap_or_default(),
        );
        write!(
            f,
            "{SOURCES_PREFIX}{}/{}/year={year}/month={month}/day={day}/{}",
            self.source, self.resource, self.file_name
        )
    }
}

/// `[a-z][a-z0-9_]{0,63}`
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_lowercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
}

fn date_part<'a>(segment: &'a str, name: &str, width: usize) -> Result<&'a str, String> {
    let value = segment
        .strip_prefix(name)
        .and_then(|v| v.strip_prefix('='))
        .ok_or_else(|| format!("expected {name}=..., found {segment:?}"))?;
    if value.len() != width || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{name} must be {width} digits, found {value:?}"));
    }
    Ok(value)
}

/// A table identifier: one or more namespace levels and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    pub namespace: Vec<String>,
    pub name: String,
}

impl TableName {
    /// Parses `ns1.ns2.table`: everything before the last dot is the namespace.
    pub fn parse(text: &str) -> Option<TableName> {
        let (namespace, name) = text.rsplit_once('.')?;
        let namespace: Vec<String> = namespace.split('.').map(str::to_string).collect();
        if name.is_empty() || namespace.iter().any(String::is_empty) {
            return None;
        }
        Some(TableName {
            namespace,
            name: name.to_string(),
        })
    }

    pub fn to_ident(&self) -> iceberg::TableIdent {
        iceberg::TableIdent::new(self.namespace_ident(), self.name.clone())
    }

    pub fn namespace_ident(&self) -> iceberg::NamespaceIdent {
        iceberg::NamespaceIdent::from_strs(&self.namespace).expect("namespace has a level")
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.namespace.join("."), self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_layout_and_names_the_table() {
        let key = RawKey::parse(
            "sources/api_jsonplaceholder/posts/year=2026/month=11/day=24/l1-0.parquet",
        )
        .unwrap();
        assert_eq!(key.date, "2026-11-24");
        assert_eq!(
            key.table("analytics").to_string(),
            "analytics.api_jsonplaceholder.posts"
        );
        assert_eq!(
            key.table("a.b").namespace,
            vec!["a", "b", "api_jsonplaceholder"]
        );
    }

    #[test]
    fn formats_what_it_parses() {
        let loaded_at = DateTime::parse_from_rfc3339("2026-01-05T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let key = RawKey::load_part("shop", "orders__lines", loaded_at, "L1", 7);
        let text = key.to_string();
        assert_eq!(
            text,
            "sources/shop/orders__lines/year=2026/month=01/day=05/L1-0007.parquet"
        );
        assert_eq!(RawKey::parse(&text).unwrap(), key);
    }

    #[test]
    fn rejects_keys_off_the_layout_with_the_reason() {
        let cases = [
            ("raw/x.parquet", "not under sources/"),
            (
                "sources/Bad-Name/r/year=2026/month=11/day=24/a.parquet",
                "source name",
            ),
            (
                "sources/s/r/year=2026/month=11/a.parquet",
                "6 path segments",
            ),
            (
                "sources/s/r/year=2026/month=13/day=01/a.parquet",
                "not a calendar date",
            ),
            (
                "sources/s/r/year=26/month=11/day=01/a.parquet",
                "year must be 4 digits",
            ),
            (
                "sources/s/r/year=2026/month=11/day=01/a.csv",
                "must end in .parquet",
            ),
        ];
        for (key, reason) in cases {
            let err = RawKey::parse(key).unwrap_err();
            assert!(err.to_string().contains(reason), "{key}: {err}");
            assert!(err.to_string().contains(key));
        }
    }

    #[test]
    fn parses_table_names() {
        let t = TableName::parse("a.b.c").unwrap();
        assert_eq!(t.namespace, vec!["a", "b"]);
        assert_eq!(t.name, "c");
        assert!(TableName::parse("nodot").is_none());
        assert!(TableName::parse("a..c").is_none());
    }
}
