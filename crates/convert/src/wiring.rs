//! Builds the core's pieces from the Worker's environment: settings, the raw bucket, the table
//! storage, the catalog client (kept across invocations of one isolate) and the converter.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use icepipe_core::catalog::{CatalogConfig, RestCatalog};
use icepipe_core::clock::Clock;
use icepipe_core::convert::{ConvertError, ConvertOptions, Converter, OnInvalid};
use icepipe_core::http::HttpClient;
use icepipe_core::storage::s3::S3Resolver;
use icepipe_core::storage::{iceberg_io, StoreResolver};
use icepipe_edge::clock::WorkerClock;
use icepipe_edge::env::{bucket, env_string};
use icepipe_edge::http::FetchClient;
use icepipe_edge::r2::{R2Resolver, R2Store};
use worker::{Env, Queue};

use crate::config::{
    ConfigError, Settings, TableStorage, CATALOG_BINDING, RAW_BINDING, RAW_EVENTS_BINDING,
};
use crate::coordinator::client::DurableCommitter;
use crate::requeue::QueueRequeue;

const WRANGLER_FILE: &str = "wrangler.convert.toml";

thread_local! {
    /// The connected catalog (config read, warehouse checked, token cached), reused by later
    /// invocations in the same isolate while the config is the same.
    static CATALOG: RefCell<Option<(CatalogConfig, Arc<RestCatalog>)>> = const { RefCell::new(None) };
}

/// Everything a handler needs.
pub struct Wiring {
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub http: Arc<dyn HttpClient>,
    pub raw: Arc<R2Store>,
    pub tables: Arc<dyn StoreResolver>,
}

impl Wiring {
    /// Reads the settings and the R2 bindings; the error names what is missing.
    pub fn from_env(env: &Env) -> Result<Wiring, ConfigError> {
        let settings = Settings::from_lookup(|name| env_string(env, name))?;
        let clock: Arc<dyn Clock> = Arc::new(WorkerClock);
        let http: Arc<dyn HttpClient> = Arc::new(FetchClient::new(settings.http_timeout));
        let raw = Arc::new(R2Store::new(
            bucket(env, RAW_BINDING, "the raw bucket", WRANGLER_FILE)?,
            settings.raw_bucket.clone(),
        ));
        let tables: Arc<dyn StoreResolver> = match &settings.table_storage {
            TableStorage::R2 { bucket: name } => {
                let store = R2Store::new(
                    bucket(
                        env,
                        CATALOG_BINDING,
                        "the catalog bucket (TABLE_STORAGE = \"r2\")",
                        WRANGLER_FILE,
                    )?,
                    name.clone().unwrap_or_else(|| CATALOG_BINDING.to_string()),
                );
                Arc::new(R2Resolver::new(Arc::new(store), name.clone()))
            }
            TableStorage::S3(s3) => {
                Arc::new(S3Resolver::new(s3.config(), http.clone(), clock.clone()))
            }
        };
        Ok(Wiring {
            settings,
            clock,
            http,
            raw,
            tables,
        })
    }

    /// The catalog client, connected once per isolate.
    pub async fn catalog(&self) -> Result<Arc<RestCatalog>, icepipe_core::catalog::CatalogError> {
        let config = &self.settings.catalog;
        let cached = CATALOG.with(|cell| {
            cell.borrow().as_ref().and_then(|(c, catalog)| {
                (c.uri == config.uri && c.warehouse == config.warehouse && c.auth == config.auth)
                    .then(|| catalog.clone())
            })
        });
        if let Some(catalog) = cached {
            return Ok(catalog);
        }
        let catalog = Arc::new(
            RestCatalog::connect(self.http.clone(), self.clock.clone(), config.clone()).await?,
        );
        CATALOG.with(|cell| *cell.borrow_mut() = Some((config.clone(), catalog.clone())));
        Ok(catalog)
    }

    /// A converter that skips (and reports) objects it cannot convert and hands what it writes
    /// to the tables' commit coordinators (Durable Objects).
    pub async fn converter(&self, env: &Env) -> Result<Converter, ConvertError> {
        let converter = Converter::with_committer(
            self.catalog().await?,
            iceberg_io::file_io(self.tables.clone()),
            self.clock.clone(),
            Arc::new(self.committer(env)),
            ConvertOptions {
                on_invalid: OnInvalid::Skip,
                budget_bytes: Some(self.settings.convert_budget_bytes),
            },
        );
        // Without the producer binding nothing can be handed on: convert whatever comes whole.
        Ok(match raw_events(env) {
            Ok(queue) => converter.with_requeue(Arc::new(QueueRequeue::new(
                queue,
                &self.settings.account_id,
                &self.settings.raw_bucket,
            ))),
            Err(_) => converter,
        })
    }

    /// The tables' commit coordinators: a submit hands over and returns; the batch then waits
    /// for every table's commit at once (`COMMIT_WAIT_SECONDS`).
    pub fn committer(&self, env: &Env) -> DurableCommitter {
        DurableCommitter::new(env, Duration::ZERO, self.settings.coordination.wait)
    }
}

/// The producer binding replay sends through.
pub fn raw_events(env: &Env) -> Result<Queue, ConfigError> {
    env.queue(RAW_EVENTS_BINDING).map_err(|e| {
        ConfigError(format!("queue producer binding {RAW_EVENTS_BINDING} is missing: add it to [[queues.producers]] in {WRANGLER_FILE} ({e})"))
    })
}
