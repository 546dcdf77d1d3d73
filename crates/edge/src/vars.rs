//! A Worker's vars and secrets by name, with errors that name the variable and the wrangler file
//! that sets it. Secret values never appear in messages.

use std::fmt;

/// A variable is missing or malformed; the message names it and says where it is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Vars and secrets through a name -> value lookup (the Worker's `Env`, or a map in tests).
pub struct Vars<F> {
    lookup: F,
    /// The wrangler file documenting them, for messages (`wrangler.convert.toml`).
    wrangler_file: &'static str,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn new(wrangler_file: &'static str, lookup: F) -> Self {
        Self {
            lookup,
            wrangler_file,
        }
    }

    /// The trimmed value; empty counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value, or an error saying what it is for and where to set it.
    pub fn required(&self, name: &str, what: &str) -> Result<String, ConfigError> {
        self.get(name).ok_or_else(|| {
            ConfigError(format!(
                "{name} is not set: {what} (see {}: [vars], or `wrangler secret put {name}` for secrets)",
                self.wrangler_file
            ))
        })
    }

    /// A whole number (`default` when unset); `unit` names it in the error ("seconds", "bytes").
    pub fn number<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        unit: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                ConfigError(format!(
                    "{name} must be a whole number of {unit}, not {text:?}"
                ))
            }),
        }
    }

    /// `true`/`1` or `false`/`0` (`default` when unset).
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(ConfigError(format!(
                "{name} must be true or false, not {other:?}"
            ))),
        }
    }
}

/// A lookup over fixed `(name, value)` pairs: settings in tests, a local run's vars.
pub fn lookup_from_pairs(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(
        pairs: &'static [(&'static str, &'static str)],
    ) -> Vars<impl Fn(&str) -> Option<String>> {
        Vars::new("wrangler.test.toml", move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn values_are_trimmed_and_empty_is_unset() {
        let v = vars(&[("A", "  x "), ("EMPTY", "  ")]);
        assert_eq!(v.get("A").as_deref(), Some("x"));
        assert_eq!(v.get("EMPTY"), None);
        assert_eq!(v.get("NONE"), None);
    }

    #[test]
    fn errors_name_the_variable_and_the_file() {
        let v = vars(&[("N", "12x"), ("F", "yes")]);
        let e = v.required("TOKEN", "the admin token").unwrap_err().0;
        assert!(e.contains("TOKEN is not set: the admin token"), "{e}");
        assert!(e.contains("wrangler.test.toml"), "{e}");
        assert!(e.contains("wrangler secret put TOKEN"), "{e}");
        let e = v.number::<u32>("N", 1, "seconds").unwrap_err().0;
        assert_eq!(e, "N must be a whole number of seconds, not \"12x\"");
        assert_eq!(v.number::<u32>("UNSET", 7, "seconds").unwrap(), 7);
        assert!(v.flag("F", false).unwrap_err().0.contains("true or false"));
        assert!(!v.flag("UNSET", false).unwrap());
    }
}
