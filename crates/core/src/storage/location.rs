//! `s3://bucket/key` URLs: how the catalog names table files and how users name raw objects.

use std::fmt;

/// A bucket and a key parsed from `s3://`, `s3a://` or `s3n://` URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectUrl {
    pub bucket: String,
    pub key: String,
}

impl ObjectUrl {
    pub fn parse(url: &str) -> Option<ObjectUrl> {
        let rest = ["s3://", "s3a://", "s3n://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        Some(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.trim_start_matches('/').to_string(),
        })
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() {
        let url = ObjectUrl::parse("s3://warehouse/ns/t/data/a.parquet").unwrap();
        assert_eq!(url.bucket, "warehouse");
        assert_eq!(url.key, "ns/t/data/a.parquet");
        assert_eq!(url.to_string(), "s3://warehouse/ns/t/data/a.parquet");
        assert_eq!(ObjectUrl::parse("s3a://b/k").unwrap().key, "k");
        assert!(ObjectUrl::parse("file:///tmp/x").is_none());
        assert!(ObjectUrl::parse("s3:///k").is_none());
    }
}
