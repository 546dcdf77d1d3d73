//! The ingest Worker's settings: the sources config embedded at build time, and vars and secrets
//! (`wrangler.ingest.toml`, `wrangler secret put`). Parsed from a name -> value lookup so the
//! rules are tested natively. Secret values never appear in messages or `Debug` output.

use std::collections::BTreeMap;
use std::time::Duration;

use icepipe_core::ingest::{IngestConfig, SourceConfig, StaticSecrets};
use icepipe_core::raw::limits;
pub use icepipe_edge::vars::ConfigError;
use icepipe_edge::vars::Vars;

/// The sources config compiled into the Worker (see build.rs).
pub const SOURCES_TOML: &str = include_str!(concat!(env!("OUT_DIR"), "/sources.toml"));

/// Secret: bearer token of every endpoint but `/health`.
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
/// Var: the raw bucket's name, for messages and reports (default `icepipe-raw`).
pub const RAW_BUCKET: &str = "RAW_BUCKET";
/// Var (optional): largest `POST /events` body in bytes (default 10 MiB).
pub const MAX_EVENT_BYTES: &str = "MAX_EVENT_BYTES";
/// Var (optional): buffered bytes at which a Parquet part is written (default 16 MiB: a part is
/// encoded in memory, and a Worker has 128 MB).
pub const PART_BYTES: &str = "PART_BYTES";
/// Var (optional): most columns a table may reach; a record that would widen one past it is
/// refused (a push: 400; a run: the resource fails), naming the limit. At most, and by default,
/// `MAX_COLUMNS` of the core (2,048: what the convert Worker takes under 128 MB).
pub const MAX_COLUMNS: &str = "MAX_COLUMNS";
/// Var (optional): seconds before an API request is abandoned (default 60).
pub const HTTP_TIMEOUT_SECONDS: &str = "HTTP_TIMEOUT_SECONDS";
/// Var (optional): `source=url,...` replacing sources' `base_url` (a staging API, the local
/// sample API in tests). The same-host rule then applies to the new host.
pub const BASE_URL_OVERRIDES: &str = "BASE_URL_OVERRIDES";

/// Binding name of the raw bucket.
pub const RAW_BINDING: &str = "RAW";

pub const DEFAULT_MAX_EVENT_BYTES: usize = 10 * 1024 * 1024;
pub const DEFAULT_PART_BYTES: usize = 16 * 1024 * 1024;

/// Everything the Worker reads from its environment, with the sources ready to run.
#[derive(Clone, Debug)]
pub struct Settings {
    pub sources: IngestConfig,
    pub raw_bucket: String,
    pub max_event_bytes: usize,
    pub part_bytes: usize,
    pub max_columns: usize,
    pub http_timeout: Duration,
}

/// The embedded sources config, validated.
pub fn embedded_sources() -> Result<IngestConfig, ConfigError> {
    IngestConfig::parse(SOURCES_TOML)
        .map_err(|e| ConfigError(format!("the embedded sources config is invalid: {e}")))
}

impl Settings {
    /// Reads the settings through `var` (vars and secrets by name; empty counts as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let vars = Vars::new("wrangler.ingest.toml", var);
        let mut sources = embedded_sources()?;
        if let Some(overrides) = vars.get(BASE_URL_OVERRIDES) {
            apply_base_url_overrides(&mut sources, &overrides)?;
        }
        Ok(Settings {
            sources,
            raw_bucket: vars.get(RAW_BUCKET).unwrap_or_else(|| "icepipe-raw".into()),
            max_event_bytes: vars
                .number(MAX_EVENT_BYTES, DEFAULT_MAX_EVENT_BYTES, "bytes")?
                .max(1),
            part_bytes: vars
                .number(PART_BYTES, DEFAULT_PART_BYTES, "bytes")?
                .max(64 * 1024),
            max_columns: max_columns(&vars)?,
            http_timeout: Duration::from_secs(
                vars.number(HTTP_TIMEOUT_SECONDS, 60u64, "seconds")?.max(1),
            ),
        })
    }
}

/// `MAX_COLUMNS`: 1 up to the core's maximum (the converter refuses wider raw files).
fn max_columns(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<usize, ConfigError> {
    let n = vars.number(MAX_COLUMNS, limits::MAX_COLUMNS, "columns")?;
    if n == 0 || n > limits::MAX_COLUMNS {
        return Err(ConfigError(format!(
            "{MAX_COLUMNS} must be between 1 and {} (the widest raw file the converter takes), not {n}",
            limits::MAX_COLUMNS
        )));
    }
    Ok(n)
}

fn apply_base_url_overrides(sources: &mut IngestConfig, text: &str) -> Result<(), ConfigError> {
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, url) = pair.split_once('=').ok_or_else(|| {
            ConfigError(format!(
                "{BASE_URL_OVERRIDES} must be source=url pairs separated by commas, not {pair:?}"
            ))
        })?;
        let source = sources.sources.get_mut(name.trim()).ok_or_else(|| {
            ConfigError(format!(
                "{BASE_URL_OVERRIDES}: {}",
                unknown_source(name.trim())
            ))
        })?;
        *source = source
            .clone()
            .with_base_url(url.trim())
            .map_err(|e| ConfigError(format!("{BASE_URL_OVERRIDES}: {e}")))?;
    }
    Ok(())
}

fn unknown_source(name: &str) -> String {
    format!("the embedded sources config has no source {name:?}")
}

/// The secrets the sources name, read through `var` (only those, so nothing else leaks into
/// the core). A missing one is left out: the run of that source then fails naming it.
pub fn source_secrets<'a>(
    sources: impl IntoIterator<Item = &'a SourceConfig>,
    var: impl Fn(&str) -> Option<String>,
) -> StaticSecrets {
    let mut found = BTreeMap::new();
    for source in sources {
        if let Some(name) = source.auth.as_ref().map(|a| a.secret_name()) {
            if let Some(value) = var(name).filter(|v| !v.is_empty()) {
                found.insert(name.to_string(), value);
            }
        }
    }
    StaticSecrets(found)
}

#[cfg(test)]
mod tests {
    use icepipe_core::ingest::Secrets;
    use icepipe_edge::vars::lookup_from_pairs;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(lookup_from_pairs(pairs))
    }

    #[test]
    fn the_embedded_sources_config_is_valid() {
        let sources = embedded_sources().unwrap_or_else(|e| panic!("{e}"));
        assert!(sources.sources.contains_key("api_jsonplaceholder"));
    }

    #[test]
    fn defaults_apply_when_vars_are_unset() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.raw_bucket, "icepipe-raw");
        assert_eq!(s.max_event_bytes, DEFAULT_MAX_EVENT_BYTES);
        assert_eq!(s.part_bytes, DEFAULT_PART_BYTES);
        assert_eq!(s.max_columns, limits::MAX_COLUMNS);
        assert_eq!(settings(&[(MAX_COLUMNS, "300")]).unwrap().max_columns, 300);
        for refused in ["0", "5000"] {
            let e = settings(&[(MAX_COLUMNS, refused)]).unwrap_err().0;
            assert!(e.contains("MAX_COLUMNS must be between 1 and 2048"), "{e}");
        }
        assert_eq!(s.http_timeout, Duration::from_secs(60));
    }

    #[test]
    fn base_urls_can_be_overridden_per_source() {
        let s = settings(&[(
            BASE_URL_OVERRIDES,
            " api_jsonplaceholder = http://127.0.0.1:8790 ",
        )])
        .unwrap();
        let source = &s.sources.sources["api_jsonplaceholder"];
        assert_eq!(source.base_url.as_str(), "http://127.0.0.1:8790/");
        let e = settings(&[(BASE_URL_OVERRIDES, "nope=http://x")])
            .unwrap_err()
            .0;
        assert!(e.contains("no source \"nope\""), "{e}");
        let e = settings(&[(BASE_URL_OVERRIDES, "api_jsonplaceholder")])
            .unwrap_err()
            .0;
        assert!(e.contains("source=url"), "{e}");
        let e = settings(&[(MAX_EVENT_BYTES, "10MB")]).unwrap_err().0;
        assert!(
            e.contains("MAX_EVENT_BYTES must be a whole number of bytes"),
            "{e}"
        );
    }

    #[test]
    fn only_the_named_secrets_are_collected() {
        let config = IngestConfig::parse(
            r#"
            [sources.a]
            base_url = "https://a.example.com"
            auth = { type = "bearer", secret = "A_TOKEN" }
            [sources.a.resources.x]
            path = "/x"
            [sources.b]
            base_url = "https://b.example.com"
            [sources.b.resources.y]
            path = "/y"
            "#,
        )
        .unwrap();
        let env = lookup_from_pairs(&[("A_TOKEN", "t0k3n"), ("ADMIN_TOKEN", "admin")]);
        let secrets = source_secrets(config.sources.values(), env);
        assert_eq!(secrets.get("A_TOKEN").as_deref(), Some("t0k3n"));
        assert_eq!(secrets.get("ADMIN_TOKEN"), None);
    }
}
