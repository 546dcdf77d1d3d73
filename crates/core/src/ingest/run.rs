//! One ingest run of a source: every resource (or one), each independently: pages -> normalized
//! tables -> Parquet parts -> state. A failing resource reports its error, keeps its state, and
//! does not stop the others.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use super::config::{ResourceConfig, SourceConfig};
use super::extract::{Fetcher, Pager};
use super::incremental::IncrementalFilter;
use super::json_arrow::{Normalizer, SystemColumns};
use super::parquet_out::PartWriter;
use super::request::WireAuth;
use super::secrets::Secrets;
use super::state::{ResourceState, StateStore};
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
    pub part_bytes: usize,
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
    /// Records of the resource loaded by this run (root table rows).
    pub rows: u64,
    /// Records the API returned that an earlier run already loaded (incremental resources).
    pub skipped: u64,
    /// Rows per table, child tables included.
    pub tables: BTreeMap<String, u64>,
    /// Raw object keys written.
    pub files: Vec<String>,
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
}

/// `20261124T081500123Z-<8 hex>`: sortable by time, unique across overlapping runs.
pub fn new_load_id(now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%3fZ"), &random[..8])
}

/// Runs `only` (or every resource) of `source`.
pub async fn run_source(
    ctx: &IngestContext,
    source: &SourceConfig,
    only: Option<&str>,
) -> Result<RunReport, String> {
    let started_ms = ctx.fetcher.clock.now_ms();
    let now = DateTime::<Utc>::from_timestamp_millis(started_ms).ok_or("clock out of range")?;
    let load_id = new_load_id(now);
    let resources: Vec<&ResourceConfig> = match only {
        Some(name) => vec![source.resources.get(name).ok_or_else(|| {
            format!(
                "source {} has no resource {name}; it has {}",
                source.name,
                source
                    .resources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?],
        None => source.resources.values().collect(),
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
            resource_report.error = Some(e);
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
) -> Result<(), String> {
    let states = StateStore::new(ctx.store.clone());
    let snapshot = states
        .load(&source.name, &resource.name)
        .await
        .map_err(|e| e.to_string())?;
    let mut filter = resource
        .incremental
        .as_ref()
        .map(|inc| IncrementalFilter::new(inc, &resource.primary_key, snapshot.state.as_ref()));
    let start = filter.as_ref().and_then(IncrementalFilter::start);
    let auth = WireAuth::resolve(source.auth.as_ref(), ctx.secrets.as_ref())
        .map_err(|e| format!("source {}: {e}", source.name))?;
    let mut pager =
        Pager::new(&ctx.fetcher, source, resource, auth, start).map_err(|e| e.to_string())?;
    let loaded_at = now.to_rfc3339_opts(SecondsFormat::Micros, true);
    let mut normalizer = Normalizer::new(
        &resource.name,
        resource.nesting,
        resource.primary_key.clone(),
        SystemColumns::new(load_id, &loaded_at),
    );
    let mut writer = PartWriter::new(
        ctx.store.clone(),
        &source.name,
        &resource.name,
        load_id,
        now,
        resource.write_disposition,
    );

    // Write what was buffered even when a page fails, so the report lists every stored file;
    // the state is only advanced when the whole resource succeeded.
    let extracted = async {
        while let Some(records) = pager.next_page().await.map_err(|e| e.to_string())? {
            report.pages += 1;
            for record in records {
                if filter.as_mut().is_none_or(|f| f.keep(&record)) {
                    report.rows += 1;
                    normalizer.push(record);
                }
            }
            if normalizer.approx_bytes() >= ctx.part_bytes {
                flush_all(&mut normalizer, &mut writer).await?;
            }
        }
        Ok::<(), String>(())
    }
    .await;
    let flushed = flush_all(&mut normalizer, &mut writer).await;
    report.files = writer.files.clone();
    report.tables = writer.rows.clone();
    report.skipped = filter.as_ref().map_or(0, |f| f.skipped);
    extracted?;
    flushed?;

    if let Some(filter) = filter {
        let (next, boundary_keys) = filter.into_next();
        let state = ResourceState {
            cursor: next.clone(),
            boundary_keys,
            last_load_id: load_id.to_string(),
            updated_at: loaded_at,
        };
        states
            .save(&source.name, &resource.name, &snapshot, &state)
            .await
            .map_err(|e| e.to_string())?;
        report.cursor = next;
    }
    Ok(())
}

async fn flush_all(normalizer: &mut Normalizer, writer: &mut PartWriter) -> Result<(), String> {
    for table in normalizer.tables_mut() {
        writer.flush(table).await?;
    }
    Ok(())
}
