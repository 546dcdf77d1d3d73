//! The Worker's settings from its vars and secrets (`wrangler.convert.toml`, `wrangler secret put`).
//!
//! Parsed from a name -> value lookup so the rules are tested natively; the Worker passes its
//! `Env`. Errors name the missing or malformed variable; secret values never appear in messages
//! or in `Debug` output.

use std::fmt;
use std::time::Duration;

use icepipe_core::batch::RedeliveryDelay;
use icepipe_core::catalog::{CatalogAuth, CatalogConfig};
use icepipe_core::committer::budget::BudgetLimits;
use icepipe_core::committer::pacing::Pacer;
use icepipe_core::committer::table::CommitterSettings;
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

/// Vars (optional): the commit coordination (see `wrangler.convert.toml`): least seconds between
/// two commits to one table (default 5, i.e. 12 per minute; R2 allows 20), how long a consumer
/// waits for its objects' commit before handing the messages on (default 30), and the catalog's
/// write budget per minute (defaults 100 writes, 8 table creations, 16 namespace changes; R2
/// allows 120 / 10 / 20).
pub const COMMIT_INTERVAL_SECONDS: &str = "COMMIT_INTERVAL_SECONDS";
pub const COMMIT_WAIT_SECONDS: &str = "COMMIT_WAIT_SECONDS";
pub const CATALOG_WRITES_PER_MINUTE: &str = "CATALOG_WRITES_PER_MINUTE";
pub const CATALOG_CREATES_PER_MINUTE: &str = "CATALOG_CREATES_PER_MINUTE";
pub const CATALOG_NAMESPACE_OPS_PER_MINUTE: &str = "CATALOG_NAMESPACE_OPS_PER_MINUTE";

/// Var (optional): raw Parquet bytes (row groups as stored) one queue invocation converts at most;
/// a larger object is converted in slices of row groups, one invocation each, and committed once
/// every slice is done. Default 1.5 GiB: about 60 s of CPU at the ~25 MB/s measured in workerd,
/// a fifth of `[limits] cpu_ms = 300000`, so a slice never meets the CPU limit.
pub const CONVERT_BUDGET_BYTES: &str = "CONVERT_BUDGET_BYTES";
pub const DEFAULT_CONVERT_BUDGET_BYTES: u64 = 1536 * 1024 * 1024;

/// Binding names (not vars): the raw bucket, the catalog bucket, the replay producer, and the
/// Durable Object namespaces of the table committers and of the catalog's write budget.
pub const RAW_BINDING: &str = "RAW";
pub const CATALOG_BINDING: &str = "CATALOG";
pub const RAW_EVENTS_BINDING: &str = "RAW_EVENTS";
pub const COMMITTER_BINDING: &str = "COMMITTER";
pub const CATALOG_BUDGET_BINDING: &str = "CATALOG_BUDGET";

/// How commits are coordinated.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordination {
    pub committer: CommitterSettings,
    pub budget: BudgetLimits,
    /// How long a consumer waits for the commit of what it handed over.
    pub wait: Duration,
}

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
    pub coordination: Coordination,
    /// See [`CONVERT_BUDGET_BYTES`].
    pub convert_budget_bytes: u64,
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
        let coordination = coordination(&vars)?;
        let convert_budget_bytes: u64 =
            vars.number(CONVERT_BUDGET_BYTES, DEFAULT_CONVERT_BUDGET_BYTES, "bytes")?;
        if convert_budget_bytes == 0 {
            return Err(ConfigError(format!(
                "{CONVERT_BUDGET_BYTES} must be at least 1"
            )));
        }

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
            coordination,
            convert_budget_bytes,
        })
    }
}

fn coordination(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Coordination, ConfigError> {
    let per_minute = |name: &str, default: u32| -> Result<u32, ConfigError> {
        let value = vars.number(name, default, "per minute")?;
        if value == 0 {
            return Err(ConfigError(format!("{name} must be at least 1")));
        }
        Ok(value)
    };
    let interval: u32 = vars.number(COMMIT_INTERVAL_SECONDS, 5, "seconds")?;
    if Pacer::attempts_per_minute(i64::from(interval) * 1000) > 20 {
        return Err(ConfigError(format!(
            "{COMMIT_INTERVAL_SECONDS} must be at least 3: R2 Data Catalog refuses a table's 21st commit in a minute"
        )));
    }
    let wait: u32 = vars.number(COMMIT_WAIT_SECONDS, 30, "seconds")?;
    let defaults = BudgetLimits::default();
    Ok(Coordination {
        committer: CommitterSettings {
            interval_ms: i64::from(interval) * 1000,
            ..CommitterSettings::default()
        },
        budget: BudgetLimits {
            writes: per_minute(CATALOG_WRITES_PER_MINUTE, defaults.writes)?,
            creates: per_minute(CATALOG_CREATES_PER_MINUTE, defaults.creates)?,
            namespace_ops: per_minute(CATALOG_NAMESPACE_OPS_PER_MINUTE, defaults.namespace_ops)?,
        },
        wait: Duration::from_secs(u64::from(wait)),
    })
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
        assert_eq!(s.coordination.committer.interval_ms, 5_000);
        assert_eq!(s.coordination.wait, Duration::from_secs(30));
        assert_eq!(s.coordination.budget, BudgetLimits::default());
    }

    #[test]
    fn a_commit_pace_over_the_catalogs_limit_is_refused() {
        let with = |value: &'static str| {
            let mut pairs = BASE.to_vec();
            pairs.push((COMMIT_INTERVAL_SECONDS, value));
            settings(&pairs)
        };
        let err = with("2").unwrap_err().0;
        assert!(
            err.contains(COMMIT_INTERVAL_SECONDS) && err.contains("21st"),
            "{err}"
        );
        assert_eq!(with("3").unwrap().coordination.committer.interval_ms, 3_000);
        let mut pairs = BASE.to_vec();
        pairs.push((CATALOG_WRITES_PER_MINUTE, "0"));
        assert!(settings(&pairs)
            .unwrap_err()
            .0
            .contains(CATALOG_WRITES_PER_MINUTE));
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
