//! Builds the core's ingest pieces from the Worker's environment.

use std::sync::Arc;

use icepipe_core::clock::Clock;
use icepipe_core::http::retry::RetryPolicy;
use icepipe_core::ingest::load::LoadLimits;
use icepipe_core::ingest::push::PushSettings;
use icepipe_core::ingest::{Fetcher, IngestContext};
use icepipe_edge::clock::WorkerClock;
use icepipe_edge::env::{bucket, env_string};
use icepipe_edge::http::FetchClient;
use icepipe_edge::r2::R2Store;
use worker::Env;

use crate::config::{source_secrets, ConfigError, Settings, RAW_BINDING};

/// Everything a handler needs.
pub struct Wiring {
    pub settings: Settings,
    pub ingest: IngestContext,
}

impl Wiring {
    /// Reads the settings, the embedded sources and the raw bucket binding; the error names what
    /// is missing or wrong.
    pub fn from_env(env: &Env) -> Result<Wiring, ConfigError> {
        let settings = Settings::from_lookup(|name| env_string(env, name))?;
        let clock: Arc<dyn Clock> = Arc::new(WorkerClock);
        let raw = R2Store::new(
            bucket(env, RAW_BINDING, "the raw bucket", "wrangler.ingest.toml")?,
            settings.raw_bucket.clone(),
        );
        let secrets = source_secrets(settings.sources.sources.values(), |name| {
            env_string(env, name)
        });
        let ingest = IngestContext {
            fetcher: Fetcher {
                http: Arc::new(FetchClient::new(settings.http_timeout)),
                clock,
                retry: RetryPolicy::api_default(),
            },
            store: Arc::new(raw),
            secrets: Arc::new(secrets),
            limits: LoadLimits {
                part_bytes: settings.part_bytes,
                max_columns: settings.max_columns,
            },
        };
        Ok(Wiring { settings, ingest })
    }

    pub fn push_settings(&self) -> PushSettings<'_> {
        PushSettings {
            sources: &self.settings.sources,
            max_bytes: self.settings.max_event_bytes,
            raw_bucket: &self.settings.raw_bucket,
        }
    }
}
