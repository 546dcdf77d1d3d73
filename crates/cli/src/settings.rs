//! Connection settings from flags or the environment (the same names `scripts/stack` writes into
//! `.icepipe/stack.env`). Secrets come from the environment or flags and are never printed.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use iceberg::io::FileIO;
use icepipe_core::catalog::{CatalogAuth, CatalogConfig, RestCatalog};
use icepipe_core::clock::{Clock, SystemClock};
use icepipe_core::http::{HttpClient, ReqwestHttpClient};
use icepipe_core::storage::s3::{S3Config, S3Resolver};
use icepipe_core::storage::{iceberg_io, StoreResolver};

use crate::error::CliError;

#[derive(Debug, Args)]
pub struct Connection {
    /// Iceberg REST catalog URI (R2 Data Catalog: the catalog URI shown for the bucket).
    #[arg(long, env = "ICEPIPE_CATALOG_URI", global = true)]
    pub catalog_uri: Option<String>,
    /// Warehouse name (R2: `<account>_<bucket>`; local stack: `s3://warehouse`).
    #[arg(long, env = "ICEPIPE_WAREHOUSE", global = true)]
    pub warehouse: Option<String>,
    /// Static bearer token (R2 Data Catalog API token).
    #[arg(
        long,
        env = "ICEPIPE_CATALOG_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub catalog_token: Option<String>,
    /// OAuth2 client credentials `id:secret`.
    #[arg(
        long,
        env = "ICEPIPE_CATALOG_CREDENTIAL",
        hide_env_values = true,
        global = true
    )]
    pub catalog_credential: Option<String>,
    /// S3 API endpoint of the buckets (raw objects and table files).
    #[arg(long, env = "ICEPIPE_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true, global = true)]
    pub access_key_id: Option<String>,
    #[arg(
        long,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub secret_access_key: Option<String>,
    #[arg(long, env = "AWS_REGION", default_value = "auto", global = true)]
    pub region: String,
    /// Virtual-hosted-style S3 URLs instead of path-style.
    #[arg(long, env = "ICEPIPE_S3_VIRTUAL_HOSTED", global = true)]
    pub virtual_hosted: bool,
    /// Seconds before an HTTP request to the catalog or S3 is abandoned.
    #[arg(
        long,
        env = "ICEPIPE_HTTP_TIMEOUT",
        default_value_t = 120,
        global = true
    )]
    pub http_timeout: u64,
}

/// What every command connects with.
pub struct Context {
    pub catalog: Arc<RestCatalog>,
    pub resolver: Arc<S3Resolver>,
    pub clock: Arc<dyn Clock>,
}

impl Context {
    /// Table files (data, manifests, ledger files) through the S3 API.
    pub fn file_io(&self) -> FileIO {
        iceberg_io::file_io(self.resolver.clone() as Arc<dyn StoreResolver>)
    }
}

fn required(value: &Option<String>, flag: &str, env: &str) -> Result<String, CliError> {
    value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
        CliError::usage(format!(
            "missing {flag} (or {env}); for the local stack: source .icepipe/stack.env"
        ))
    })
}

impl Connection {
    pub fn catalog_config(&self) -> Result<CatalogConfig, CliError> {
        let auth = match (&self.catalog_token, &self.catalog_credential) {
            (Some(token), _) if !token.is_empty() => CatalogAuth::Token(token.clone()),
            (_, Some(credential)) if !credential.is_empty() => {
                CatalogAuth::from_credential(credential).ok_or_else(|| {
                    CliError::usage("ICEPIPE_CATALOG_CREDENTIAL must be id:secret")
                })?
            }
            _ => CatalogAuth::None,
        };
        Ok(CatalogConfig {
            uri: required(&self.catalog_uri, "--catalog-uri", "ICEPIPE_CATALOG_URI")?,
            warehouse: required(&self.warehouse, "--warehouse", "ICEPIPE_WAREHOUSE")?,
            auth,
        })
    }

    pub fn s3_config(&self) -> Result<S3Config, CliError> {
        Ok(S3Config {
            endpoint: required(&self.s3_endpoint, "--s3-endpoint", "ICEPIPE_S3_ENDPOINT")?,
            region: self.region.clone(),
            access_key_id: required(&self.access_key_id, "--access-key-id", "AWS_ACCESS_KEY_ID")?,
            secret_access_key: required(
                &self.secret_access_key,
                "--secret-access-key",
                "AWS_SECRET_ACCESS_KEY",
            )?,
            path_style: !self.virtual_hosted,
        })
    }

    pub async fn connect(&self) -> Result<Context, CliError> {
        let http: Arc<dyn HttpClient> = Arc::new(ReqwestHttpClient::with_timeout(
            Duration::from_secs(self.http_timeout),
        ));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let resolver = Arc::new(S3Resolver::new(
            self.s3_config()?,
            http.clone(),
            clock.clone(),
        ));
        let catalog = RestCatalog::connect(http, clock.clone(), self.catalog_config()?).await?;
        Ok(Context {
            catalog: Arc::new(catalog),
            resolver,
            clock,
        })
    }
}
