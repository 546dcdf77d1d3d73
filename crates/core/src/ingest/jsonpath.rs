//! Record selectors and cursor paths: `data.items`, `$.data.items` or a JSON pointer `/data/items`.
//! One small syntax for every "where in the body" setting, so config errors are uniform.

use std::fmt;

use serde_json::Value;

/// Why a path does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path {text:?}: {reason}")]
pub struct JsonPathError {
    pub text: String,
    pub reason: &'static str,
}

/// A parsed path: object keys, or array indexes where the segment is a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<String>,
}

impl JsonPath {
    /// Parses the dotted form (optionally `$`-rooted) or a JSON pointer. `$` and `` select the root.
    pub fn parse(text: &str) -> Result<Self, JsonPathError> {
        let invalid = |reason| JsonPathError {
            text: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let segments: Vec<String> = if let Some(pointer) = trimmed.strip_prefix('/') {
            pointer
                .split('/')
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        } else {
            let dotted = trimmed
                .strip_prefix("$.")
                .or_else(|| trimmed.strip_prefix('$'))
                .unwrap_or(trimmed);
            if dotted.is_empty() {
                Vec::new()
            } else {
                dotted.split('.').map(str::to_string).collect()
            }
        };
        if segments.iter().any(|s| s.is_empty()) {
            return Err(invalid("empty segment (use `a.b`, `$.a.b` or `/a/b`)"));
        }
        if segments.iter().any(|s| s.contains(['[', ']', '*'])) {
            return Err(invalid(
                "brackets and wildcards are not supported (use `a.0.b`)",
            ));
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// The value at this path, if every step exists.
    /// The keys (or indexes) the path walks through, in order.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    pub fn find<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        self.segments
            .iter()
            .try_fold(root, |value, segment| match value {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            })
    }

    /// Like [`Self::find`], but moves the value out of an owned document.
    pub fn take(&self, root: Value) -> Option<Value> {
        self.segments
            .iter()
            .try_fold(root, |value, segment| match value {
                Value::Object(mut map) => map.remove(segment),
                Value::Array(mut items) => segment
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < items.len())
                    .map(|i| items.swap_remove(i)),
                _ => None,
            })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_spellings_select_the_same_value() {
        let body = json!({"data": {"items": [1, {"a/b": 2}]}});
        for text in ["data.items", "$.data.items", "/data/items"] {
            let path = JsonPath::parse(text).unwrap();
            assert_eq!(path.find(&body), Some(&json!([1, {"a/b": 2}])), "{text}");
        }
        let pointer = JsonPath::parse("/data/items/1/a~1b").unwrap();
        assert_eq!(pointer.find(&body), Some(&json!(2)));
        for text in [
            "data.items",
            "/data/items/1/a~1b",
            "data.missing",
            "data.items.7",
        ] {
            let path = JsonPath::parse(text).unwrap();
            assert_eq!(path.take(body.clone()).as_ref(), path.find(&body), "{text}");
        }
        assert_eq!(JsonPath::parse("$").unwrap().find(&body), Some(&body));
        assert_eq!(JsonPath::parse("data.nope").unwrap().find(&body), None);
        assert!(JsonPath::parse("data..items").is_err());
        assert!(JsonPath::parse("data[0]").is_err());
    }
}
