//! The Worker's settings from its vars and secrets (`wrangler.convert.toml`, `wrangler secret put`).
//!
//! Parsed from a name -> value lookup so the rules are tested natively; the Worker passes its
//! `Env`. Errors name the missing or malformed variable; secret values never appear in messages
//! or in `Debug` output.

use std::fmt;
use std::time::Duration;

use icepipe_core::batch::RedeliveryDelay;
use icepipe_core::catalog::{CatalogAuth, CatalogConfig};
use icepipe_core::raw::key::{is_valid_name, DEFAULT_NAMESPACE_ROOT};
use icepipe_core::reconcile::{DEFAULT_MIN_AGE_MS, DEFAULT_SWEEP_LIMIT};
use icepipe_core::storage::s3::S3Config;
pub use icepipe_edge::vars::ConfigError;
use icepipe_edge::vars::Vars;

/// Var: Iceberg REST catalog URI (R2 Data Catalog: the bucket's catalog URI).
pub const CATALOG_URI: &str = "CATALOG_URI";
/// Var: warehouse (R2: `<account>_<bucket>`; local stack: `s3://warehouse`).
pub const WAREHOUSE: &str = "WAREHOUSE";
/// Var: first namespace level(s) of the tables, default `analytics`.
pub const NAMESPACE_ROOT: &str = "NAMESPACE_ROOT";
/// Var: `r2` (table files through the `CATALOG` binding) or `s3` (S3 API over fetch).
pub const TABLE_STORAGE: &str = "TABLE_STORAGE";
/// Var (r2 mode, optional): the bucket name table locations use (`s3://<name>/...`); when set, a
/// location in any other bucket is refused instead of written through the binding.
pub const CATALOG_BUCKET: &str = "CATALOG_BUCKET";
/// Vars (s3 mode): S3 endpoint and region (default `auto`).
pub const S3_ENDPOINT: &str = "S3_ENDPOINT";
pub const S3_REGION: &str = "S3_REGION";
/// Var (s3 mode, optional): `true` for virtual-hosted-style URLs (default path-style).
pub const S3_VIRTUAL_HOSTED: &str = "S3_VIRTUAL_HOSTED";
/// Secrets (s3 mode).
pub const S3_ACCESS_KEY_ID: &str = "S3_ACCESS_KEY_ID";
pub const S3_SECRET_ACCESS_KEY: &str = "S3_SECRET_ACCESS_KEY";
/// Secrets: a static bearer token (R2 Data Catalog API token), or OAuth2 `id:secret`.
pub const CATALOG_TOKEN: &str = "CATALOG_TOKEN";
pub const CATALOG_CREDENTIAL: &str = "CATALOG_CREDENTIAL";
/// Secret: bearer token of the admin endpoints (`/tables`, `/replay`).
pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
/// Var: the raw bucket's name, put in replayed notifications (default `icepipe-raw`).
pub const RAW_BUCKET: &str = "RAW_BUCKET";
/// Var (optional): account id put in replayed notifications.
pub const ACCOUNT_ID: &str = "ACCOUNT_ID";
/// Vars (optional): retry delay `base * 2^(attempts-1)` seconds, capped (defaults 30 and 1800).
pub const RETRY_BASE_SECONDS: &str = "RETRY_BASE_SECONDS";
pub const RETRY_MAX_SECONDS: &str = "RETRY_MAX_SECONDS";
/// Var (optional): seconds before a catalog or S3 request is abandoned (default 60).
pub const HTTP_TIMEOUT_SECONDS: &str = "HTTP_TIMEOUT_SECONDS";

/// Vars (optional): the reconciliation sweep (cron): raw objects listed per run (default 1000),
/// and the age below which an object is left to its notification (default 900 seconds).
pub const SWEEP_LIMIT: &str = "SWEEP_LIMIT";
pub const SWEEP_MIN_AGE_SECONDS: &str = "SWEEP_MIN_AGE_SECONDS";

/// Binding names (not vars): the raw bucket, the catalog bucket, the replay producer.
pub const RAW_BINDING: &str = "RAW";
pub const CATALOG_BINDING: &str = "CATALOG";
pub const RAW_EVENTS_BINDING: &str = "RAW_EVENTS";

/// Where table files (data, manifests) are written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableStorage {
    /// Through the `CATALOG` R2 binding (deployed on Cloudflare with R2 Data Catalog).
    R2 { bucket: Option<String> },
    /// Through the S3 API over fetch (local stack, any non-R2 catalog).
    S3(S3Settings),
}

/// [`S3Config`] with a `Debug` and `PartialEq` for tests; the secret is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub path_style: bool,
}

impl S3Settings {
    pub fn config(&self) -> S3Config {
        S3Config {
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            path_style: self.path_style,
        }
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.config(), f)
    }
}

/// Everything the Worker reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    pub catalog: CatalogConfig,
    pub namespace_root: String,
    pub table_storage: TableStorage,
    pub raw_bucket: String,
    pub account_id: String,
    /// How long the queue waits before a retried message comes back.
    pub redelivery: RedeliveryDelay,
    pub http_timeout: Duration,
    /// Raw objects listed per sweep run.
    pub sweep_limit: usize,
    pub sweep_min_age_ms: i64,
}

impl Settings {
    /// Reads the settings through `var` (vars and secrets by name; empty counts as unset).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let vars = Vars::new("wrangler.convert.toml", var);
        let get = |name: &str| vars.get(name);
        let required = |name: &str, what: &str| vars.required(name, what);
        let number = |name: &str, default: u32| vars.number(name, default, "seconds");

        let uri = required(CATALOG_URI, "the Iceberg REST catalog URI")?;
        if !(uri.starts_with("https://") || uri.starts_with("http://")) {
            return Err(ConfigError(format!(
                "{CATALOG_URI} must be an http(s) URL, not {uri:?}"
            )));
        }
        let warehouse = required(WAREHOUSE, "the catalog's warehouse")?;
        // Secrets: the token wins when both are set.
        let auth = match (get(CATALOG_TOKEN), get(CATALOG_CREDENTIAL)) {
            (Some(token), _) => CatalogAuth::Token(token),
            (None, Some(credential)) => {
                CatalogAuth::from_credential(&credential).ok_or_else(|| {
                    ConfigError(format!(
                    "{CATALOG_CREDENTIAL} must be <client id>:<client secret> (value not shown)"
                ))
                })?
            }
            (None, None) => CatalogAuth::None,
        };

        let namespace_root = get(NAMESPACE_ROOT).unwrap_or_else(|| DEFAULT_NAMESPACE_ROOT.into());
        if !namespace_root.split('.').all(is_valid_name) {
            return Err(ConfigError(format!(
                "{NAMESPACE_ROOT} must be dot-separated names matching [a-z][a-z0-9_]{{0,63}}, not {namespace_root:?}"
            )));
        }

        let table_storage = match get(TABLE_STORAGE).as_deref().unwrap_or("r2") {
            "r2" => TableStorage::R2 {
                bucket: get(CATALOG_BUCKET),
            },
            "s3" => TableStorage::S3(S3Settings {
                endpoint: required(S3_ENDPOINT, "the S3 endpoint of the table bucket (TABLE_STORAGE = \"s3\")")?,
                region: get(S3_REGION).unwrap_or_else(|| "auto".into()),
                access_key_id: required(S3_ACCESS_KEY_ID, "the S3 access key id (TABLE_STORAGE = \"s3\")")?,
                secret_access_key: required(
                    S3_SECRET_ACCESS_KEY,
                    "the S3 secret access key (TABLE_STORAGE = \"s3\")",
                )?,
                path_style: !vars.flag(S3_VIRTUAL_HOSTED, false)?,
            }),
            other => {
                return Err(ConfigError(format!(
                    "{TABLE_STORAGE} must be \"r2\" (table files through the CATALOG binding) or \"s3\" (S3 API), not {other:?}"
                )))
            }
        };

        let redelivery = RedeliveryDelay {
            base_seconds: number(RETRY_BASE_SECONDS, RedeliveryDelay::default().base_seconds)?,
            max_seconds: number(RETRY_MAX_SECONDS, RedeliveryDelay::default().max_seconds)?,
        };
        let http_timeout = Duration::from_secs(u64::from(number(HTTP_TIMEOUT_SECONDS, 60)?.max(1)));
        let sweep_limit = vars.number(SWEEP_LIMIT, DEFAULT_SWEEP_LIMIT as u32, "raw objects")?;
        let sweep_min_age = number(SWEEP_MIN_AGE_SECONDS, (DEFAULT_MIN_AGE_MS / 1000) as u32)?;

        Ok(Settings {
            catalog: CatalogConfig {
                uri,
                warehouse,
                auth,
            },
            namespace_root,
            table_storage,
            raw_bucket: get(RAW_BUCKET).unwrap_or_else(|| "icepipe-raw".into()),
            account_id: get(ACCOUNT_ID).unwrap_or_default(),
            redelivery,
            http_timeout,
            sweep_limit: sweep_limit.max(1) as usize,
            sweep_min_age_ms: i64::from(sweep_min_age) * 1000,
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use icepipe_edge::vars::lookup_from_pairs;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_lookup(lookup_from_pairs(pairs))
    }

    const BASE: &[(&str, &str)] = &[
        (
            CATALOG_URI,
            "https://catalog.cloudflarestorage.com/acc/icepipe-catalog",
        ),
        (WAREHOUSE, "acc_icepipe-catalog"),
        (CATALOG_TOKEN, "sekret-token"),
    ];

    #[test]
    fn deployed_defaults() {
        let s = settings(BASE).unwrap();
        assert_eq!(s.namespace_root, "analytics");
        assert_eq!(s.table_storage, TableStorage::R2 { bucket: None });
        assert_eq!(s.catalog.auth, CatalogAuth::Token("sekret-token".into()));
        assert_eq!(s.raw_bucket, "icepipe-raw");
        assert_eq!(s.redelivery, RedeliveryDelay::default());
        assert_eq!(s.http_timeout, Duration::from_secs(60));
        assert_eq!((s.sweep_limit, s.sweep_min_age_ms), (1000, 900_000));
        assert!(!format!("{s:?}").contains("sekret"), "secrets never print");
    }

    #[test]
    fn local_stack_over_s3() {
        let mut pairs = vec![
            (CATALOG_URI, "http://127.0.0.1:8181"),
            (WAREHOUSE, "s3://warehouse"),
            (CATALOG_CREDENTIAL, "icepipe-local:icepipe-local-secret"),
            (NAMESPACE_ROOT, "t1.sub"),
            (TABLE_STORAGE, "s3"),
            (S3_ENDPOINT, "http://127.0.0.1:8333"),
            (S3_REGION, "us-east-1"),
            (S3_ACCESS_KEY_ID, "icepipe-local"),
            (RETRY_BASE_SECONDS, "1"),
            (RETRY_MAX_SECONDS, "4"),
        ];
        let err = settings(&pairs).unwrap_err();
        assert!(
            err.0.starts_with("S3_SECRET_ACCESS_KEY is not set"),
            "{err}"
        );
        pairs.push((S3_SECRET_ACCESS_KEY, "icepipe-local-secret"));
        let s = settings(&pairs).unwrap();
        let TableStorage::S3(s3) = &s.table_storage else {
            panic!("s3 mode");
        };
        assert!(s3.path_style);
        assert_eq!(s3.region, "us-east-1");
        assert!(matches!(
            s.catalog.auth,
            CatalogAuth::ClientCredentials { .. }
        ));
        assert_eq!(s.namespace_root, "t1.sub");
        assert_eq!(s.redelivery.delay_seconds(5), 4);
        let printed = format!("{s:?}");
        assert!(!printed.contains("icepipe-local-secret"), "{printed}");
    }

    #[test]
    fn errors_name_the_variable() {
        for (drop, name) in [(CATALOG_URI, CATALOG_URI), (WAREHOUSE, WAREHOUSE)] {
            let pairs: Vec<_> = BASE.iter().copied().filter(|(k, _)| *k != drop).collect();
            let err = settings(&pairs).unwrap_err();
            assert!(err.0.contains(name) && err.0.contains("not set"), "{err}");
        }
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = BASE.to_vec();
            pairs.retain(|(k, _)| *k != extra.0);
            pairs.push(extra);
            settings(&pairs).unwrap_err().0
        };
        assert!(with((TABLE_STORAGE, "gcs")).contains(TABLE_STORAGE));
        assert!(with((TABLE_STORAGE, "s3")).contains(S3_ENDPOINT));
        assert!(with((NAMESPACE_ROOT, "Bad-Root")).contains(NAMESPACE_ROOT));
        assert!(with((RETRY_BASE_SECONDS, "soon")).contains(RETRY_BASE_SECONDS));
        assert!(with((CATALOG_URI, "catalog.example")).contains("http(s)"));
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| *k != CATALOG_TOKEN);
        pairs.push((CATALOG_CREDENTIAL, "no-colon-secret"));
        let err = settings(&pairs).unwrap_err().0;
        assert!(
            err.contains(CATALOG_CREDENTIAL) && !err.contains("no-colon-secret"),
            "{err}"
        );
    }
}
