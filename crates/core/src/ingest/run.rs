//! One ingest run of a source: every resource (or one), each independently: pages -> normalized
//! tables -> Parquet parts -> state. A failing resource reports its error, keeps its state, and
//! does not stop the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::accounting::{check_landed, AccountingError};
use super::config::{ConfigError, IngestConfig, ResourceConfig, SourceConfig};
use super::error::ExtractError;
use super::extract::{Fetcher, Pager};
use super::incremental::IncrementalFilter;
use super::json_arrow::RecordRefused;
use super::load::{load_schema, LoadLimits, LoadTarget, LoadWriter};
use super::parquet_out::PartError;
use super::request::{MissingSecret, WireAuth};
use super::secrets::Secrets;
use super::state::{ResourceState, StateError, StateStore};
use crate::clock::Clock;
use crate::storage::ObjectStore;

/// Estimated buffered bytes at which a part is written (bounded memory on large pulls).
pub const DEFAULT_PART_BYTES: usize = 64 * 1024 * 1024;

/// Everything a run talks to.
#[derive(Debug, Clone)]
pub struct IngestContext {
    pub fetcher: Fetcher,
    /// The raw bucket.
    pub store: Arc<dyn ObjectStore>,
    pub secrets: Arc<dyn Secrets>,
    pub limits: LoadLimits,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub source: String,
    pub load_id: String,
    pub resources: Vec<ResourceReport>,
    /// `resource: message` for every failed resource.
    pub errors: Vec<String>,
    pub duration_ms: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceReport {
    pub resource: String,
    pub pages: u64,
    /// Records the API returned (or the client pushed): `rows` + `skipped`, checked.
    pub received: u64,
    /// Records of the resource loaded by this run (root table rows).
    pub rows: u64,
    /// Records the API returned that an earlier run already loaded (incremental resources).
    pub skipped: u64,
    /// Rows landed per table, child tables included, counted from the footers of the raw files
    /// written; checked against the rows the loaded records normalize into.
    pub tables: BTreeMap<String, u64>,
    /// Raw object keys written.
    pub files: Vec<String>,
    /// What the load did to the resource's schema beyond adding columns: keys renamed because
    /// their name was taken, new columns widened, values sent to variant columns or discarded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_changes: Vec<String>,
    /// The incremental cursor stored after this run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RunReport {
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
    }

    /// The HTTP status of a run that took place: 200 when every resource succeeded, 502 (an API
    /// or the storage failed) otherwise; the body is the report either way.
    pub fn status(&self) -> u16 {
        if self.is_success() {
            200
        } else {
            502
        }
    }
}

/// Why a run did not take place at all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    UnknownSource(ConfigError),
    #[error("source {source_name} has no resource {resource}; it has {available}")]
    UnknownResource {
        source_name: String,
        resource: String,
        available: String,
    },
    /// `?resource=` named a `push_only` resource: there is nothing to pull.
    #[error(
        "resource {resource} of source {source_name} is push_only: it is never pulled; push its \
         events to POST /events/{source_name}/{resource}"
    )]
    PushOnly {
        source_name: String,
        resource: String,
    },
    #[error("the clock is out of range ({now_ms} ms since the epoch)")]
    Clock { now_ms: i64 },
}

impl RunError {
    /// 404 for a source or resource that does not exist (the message lists those that do), 400
    /// for a push-only one.
    pub fn status(&self) -> u16 {
        match self {
            RunError::UnknownSource(_) | RunError::UnknownResource { .. } => 404,
            RunError::PushOnly { .. } => 400,
            RunError::Clock { .. } => 500,
        }
    }

    /// None of these pass by themselves.
    pub fn is_transient(&self) -> bool {
        false
    }
}

/// Why one resource of a run failed (the run report carries its message).
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("source {source_name}: {error}")]
    Auth {
        source_name: String,
        error: MissingSecret,
    },
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error(transparent)]
    Write(#[from] PartError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Accounting(#[from] AccountingError),
    /// A record past the column or nesting limit, or refused by `freeze`: the resource fails
    /// naming it.
    #[error(transparent)]
    Refused(#[from] RecordRefused),
}

impl ResourceError {
    pub fn is_transient(&self) -> bool {
        match self {
            ResourceError::Auth { .. } | ResourceError::Accounting(_) => false,
            ResourceError::Refused(e) => e.is_transient(),
            ResourceError::Extract(e) => e.is_transient(),
            ResourceError::Write(e) => e.is_transient(),
            ResourceError::State(e) => e.is_transient(),
        }
    }
}

/// The time `clock` says, as a date (a clock out of chrono's range is an error).
pub fn now_utc(clock: &dyn Clock) -> Result<DateTime<Utc>, RunError> {
    let now_ms = clock.now_ms();
    DateTime::<Utc>::from_timestamp_millis(now_ms).ok_or(RunError::Clock { now_ms })
}

/// `20261124T081500123Z-<8 hex>`: sortable by time, unique across overlapping runs.
pub fn new_load_id(now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%3fZ"), &random[..8])
}

/// Runs `only` (or every resource) of the source named `source` in `config`.
pub async fn run_named_source(
    ctx: &IngestContext,
    config: &IngestConfig,
    source: &str,
    only: Option<&str>,
) -> Result<RunReport, RunError> {
    let source = config.source(source).map_err(RunError::UnknownSource)?;
    run_source(ctx, source, only).await
}

/// Runs `only` (or every resource) of `source`.
pub async fn run_source(
    ctx: &IngestContext,
    source: &SourceConfig,
    only: Option<&str>,
) -> Result<RunReport, RunError> {
    let started_ms = ctx.fetcher.clock.now_ms();
    let now = now_utc(ctx.fetcher.clock.as_ref())?;
    let load_id = new_load_id(now);
    let resources: Vec<&ResourceConfig> = match only {
        Some(name) => {
            let resource = source
                .resources
                .get(name)
                .ok_or_else(|| RunError::UnknownResource {
                    source_name: source.name.clone(),
                    resource: name.to_string(),
                    available: source
                        .resources
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            if resource.push_only {
                return Err(RunError::PushOnly {
                    source_name: source.name.clone(),
                    resource: name.to_string(),
                });
            }
            vec![resource]
        }
        None => source.pulled_resources().collect(),
    };
    let mut report = RunReport {
        source: source.name.clone(),
        load_id: load_id.clone(),
        resources: Vec::new(),
        errors: Vec::new(),
        duration_ms: 0,
    };
    for resource in resources {
        let mut resource_report = ResourceReport {
            resource: resource.name.clone(),
            ..Default::default()
        };
        if let Err(e) =
            run_resource(ctx, source, resource, &load_id, now, &mut resource_report).await
        {
            report.errors.push(format!("{}: {e}", resource.name));
            resource_report.error = Some(e.to_string());
        }
        report.resources.push(resource_report);
    }
    report.duration_ms = ctx.fetcher.clock.now_ms() - started_ms;
    Ok(report)
}

async fn run_resource(
    ctx: &IngestContext,
    source: &SourceConfig,
    resource: &ResourceConfig,
    load_id: &str,
    now: DateTime<Utc>,
    report: &mut ResourceReport,
) -> Result<(), ResourceError> {
    let states = StateStore::new(ctx.store.clone());
    let snapshot = states.load(&source.name, &resource.name).await?;
    let mut filter = resource
        .incremental
        .as_ref()
        .map(|inc| IncrementalFilter::new(inc, &resource.primary_key, snapshot.state.as_ref()));
    let start = filter.as_ref().and_then(IncrementalFilter::start);
    let auth = WireAuth::resolve(source.auth.as_ref(), ctx.secrets.as_ref()).map_err(|error| {
        ResourceError::Auth {
            source_name: source.name.clone(),
            error,
        }
    })?;
    let mut pager = Pager::new(&ctx.fetcher, source, resource, auth, start)?;
    let schema = load_schema(ctx.store.clone(), &source.name, &resource.name).await?;
    let mut load = LoadWriter::new(
        ctx.store.clone(),
        LoadTarget {
            source: &source.name,
            resource: &resource.name,
            nesting: resource.nesting,
            primary_key: &resource.primary_key,
            disposition: resource.write_disposition,
            contract: resource.schema_contract,
            merge: resource.merge.as_ref(),
        },
        load_id,
        now,
        ctx.limits,
        schema,
    );

    // Write what was buffered even when a page fails, so the report lists every stored file;
    // the state is only advanced when the whole resource succeeded.
    let extracted = async {
        let mut page = pager.next_page().await?;
        while let Some(records) = page {
            report.pages += 1;
            report.received += records.len() as u64;
            // The next page is requested before this one is normalized and written, so the
            // API's time to answer overlaps ours. One request ahead at most: paging stays as
            // polite as before (the pager's retries and Retry-After waits are unchanged), and
            // at most two pages are held at once.
            let (next, processed) = futures::join!(pager.next_page(), async {
                for record in records {
                    if filter.as_mut().is_none_or(|f| f.keep(&record)) {
                        report.rows += 1;
                        load.push(record)?;
                    }
                }
                load.flush_if_full().await?;
                Ok::<(), ResourceError>(())
            });
            processed?;
            page = next?;
        }
        Ok::<(), ResourceError>(())
    }
    .await;
    let flushed = load.flush().await;
    report.files = load.files().to_vec();
    report.tables = load.rows().clone();
    report.schema_changes = load.schema_changes();
    report.skipped = filter.as_ref().map_or(0, |f| f.skipped);
    extracted?;
    flushed?;
    check_landed(report, load.normalized())?;

    if let Some(filter) = filter {
        let (next, boundary_keys) = filter.into_next();
        let state = ResourceState {
            cursor: next.clone(),
            boundary_keys,
            last_load_id: load_id.to_string(),
            updated_at: now.to_rfc3339_opts(SecondsFormat::Micros, true),
        };
        states
            .save(&source.name, &resource.name, &snapshot, &state)
            .await?;
        report.cursor = next;
    }
    Ok(())
}
