//! dlt-style identifiers: snake_case, lower-case, anything else to `_`, and a registry that gives
//! each distinct source field its own column name (collisions get `_2`, `_3`, ... in the order the
//! fields were first seen, so the mapping never changes within a load).

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

/// `userId` -> `user_id`, `Zip Code` -> `zip_code`, `2fa` -> `_2fa`. Runs of `_` collapse to one so
/// that `__` stays reserved for nesting; an empty result becomes `_`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut prev: Option<char> = None;
    for c in name.chars() {
        let mapped = if c.is_ascii_uppercase() {
            if prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
                out.push('_');
            }
            c.to_ascii_lowercase()
        } else if c.is_ascii_alphanumeric() {
            c
        } else {
            '_'
        };
        if !(mapped == '_' && out.ends_with('_')) {
            out.push(mapped);
        }
        prev = Some(c);
    }
    // Trailing `_` would glue onto the `__` separator; keep a lone `_` as the name of last resort.
    while out.len() > 1 && out.ends_with('_') {
        out.pop();
    }
    if out.is_empty() {
        out.push('_');
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Table names must fit the raw layout (`[a-z][a-z0-9_]{0,63}`): long child names are shortened
/// with a digest of the full name so they stay distinct and stable.
pub fn table_name(name: &str) -> String {
    if name.len() <= 64 {
        return name.to_string();
    }
    let digest = Sha256::digest(name.as_bytes());
    let tag = hex::encode(&digest[..4]);
    format!("{}_{tag}", &name[..55])
}

/// Stable column names for the distinct source fields of one table.
#[derive(Debug, Default, Clone)]
pub struct NameRegistry {
    by_source: HashMap<String, String>,
    taken: HashSet<String>,
}

impl NameRegistry {
    /// The column for source field `source` (any unique key), proposing `wanted`.
    pub fn name_for(&mut self, source: &str, wanted: &str) -> &str {
        if !self.by_source.contains_key(source) {
            let mut name = wanted.to_string();
            let mut n = 2;
            while self.taken.contains(&name) {
                name = format!("{wanted}_{n}");
                n += 1;
            }
            self.taken.insert(name.clone());
            self.by_source.insert(source.to_string(), name);
        }
        &self.by_source[source]
    }

    /// Gives `source` the column `name` (recorded by an earlier load).
    pub fn assign(&mut self, source: &str, name: &str) {
        self.taken.insert(name.to_string());
        self.by_source.insert(source.to_string(), name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_like_dlt() {
        assert_eq!(normalize("userId"), "user_id");
        assert_eq!(normalize("Zip Code"), "zip_code");
        assert_eq!(normalize("HTTPStatus"), "httpstatus");
        assert_eq!(normalize("a--b__c"), "a_b_c");
        assert_eq!(normalize("2fa"), "_2fa");
        assert_eq!(normalize("_id"), "_id");
        assert_eq!(normalize("prix€"), "prix");
        assert_eq!(normalize("!!"), "_");
    }

    #[test]
    fn collisions_get_suffixes_in_first_seen_order() {
        let mut names = NameRegistry::default();
        assert_eq!(names.name_for("userId", "user_id"), "user_id");
        assert_eq!(names.name_for("user_id", "user_id"), "user_id_2");
        assert_eq!(names.name_for("User ID", "user_id"), "user_id_3");
        assert_eq!(names.name_for("userId", "user_id"), "user_id");
    }

    #[test]
    fn long_table_names_are_shortened_stably() {
        let long = format!("r__{}", "x".repeat(80));
        let short = table_name(&long);
        assert_eq!(short.len(), 64);
        assert_eq!(short, table_name(&long));
        assert!(crate::raw::key::is_valid_name(&short));
    }
}
