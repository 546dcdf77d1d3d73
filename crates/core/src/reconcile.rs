//! The reconciliation sweep: notifications can be lost (dropped under load, a rule created after
//! the objects were written), so a scheduled sweep walks the raw bucket under `sources/`, a
//! bounded page per run from a cursor kept in `_state/`, and finds the objects that their table
//! does not hold, that no newer replace load supersedes and that no error record explains. The
//! runtime sends them on exactly as a notification would (the Worker through its queue producer,
//! the CLI converts them); a late notification after the sweep is harmless (the ledger).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::catalog::RestCatalog;
use crate::raw::error_record::ErrorIndex;
use crate::raw::key::{RawKey, SOURCES_PREFIX};
use crate::raw::notification::{format_time_ms, Notification};
use crate::raw::reserved::RECONCILE_CURSOR_KEY;
use crate::standing::{standing_of, Standing, StandingError, TableStates};
use crate::storage::{ObjectMeta, ObjectStore, StorageError};

/// Raw objects examined per run, by default.
pub const DEFAULT_SWEEP_LIMIT: usize = 1000;
/// Objects younger than this are left to their notification, which may still be on its way.
pub const DEFAULT_MIN_AGE_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub namespace_root: String,
    /// Raw keys swept start with this (`sources/`, or one source's or resource's folder).
    pub prefix: String,
    /// Raw objects listed per run.
    pub limit: usize,
    /// Objects modified less than this long ago are skipped this time.
    pub min_age_ms: i64,
}

/// The sweep's position: the last key examined (`None`: start of a new pass).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursor {
    pub after: Option<String>,
    /// Passes over the whole bucket completed so far.
    pub passes: u64,
    pub updated_at: String,
}

/// A raw object no table accounts for: to convert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unaccounted {
    pub key: String,
    pub etag: String,
    pub size: u64,
    pub last_modified: String,
    #[serde(skip)]
    pub last_modified_ms: i64,
    pub table: String,
}

impl Unaccounted {
    /// The notification R2 would have sent for it.
    pub fn notification(&self, account: &str, bucket: &str) -> Notification {
        Notification::for_object(
            account,
            bucket,
            &self.key,
            self.size,
            &self.etag,
            self.last_modified_ms,
        )
    }

    pub fn meta(&self) -> ObjectMeta {
        ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            etag: self.etag.clone(),
            last_modified_ms: self.last_modified_ms,
        }
    }
}

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// The cursor the run started after (`None`: the start of the bucket).
    pub started_after: Option<String>,
    /// Where the next run starts (`None`: this run finished a pass; the next starts over).
    pub next_after: Option<String>,
    pub pass_complete: bool,
    /// Raw objects listed.
    pub examined: usize,
    pub held: usize,
    pub superseded: usize,
    pub recorded: usize,
    /// Objects too young to judge (their notification may be on its way).
    pub too_young: usize,
    /// Keys that are not raw Parquet objects in the layout (never converted; the converter logs them).
    pub off_layout: usize,
    /// Objects no table accounts for: queued (Worker) or converted (CLI).
    pub unaccounted: Vec<Unaccounted>,
}

/// One bounded run over the raw objects after `start_after`.
pub async fn sweep(
    raw: &Arc<dyn ObjectStore>,
    catalog: &RestCatalog,
    options: &SweepOptions,
    start_after: Option<&str>,
    now_ms: i64,
) -> Result<SweepReport, StandingError> {
    let page = raw
        .list_after(&options.prefix, start_after, options.limit.max(1))
        .await?;
    let mut report = SweepReport {
        started_after: start_after.map(str::to_string),
        next_after: if page.truncated {
            page.objects.last().map(|o| o.key.clone())
        } else {
            None
        },
        pass_complete: !page.truncated,
        examined: page.objects.len(),
        ..Default::default()
    };
    let mut tables = TableStates::new(catalog);
    let mut errors = ErrorIndex::new(raw.as_ref());
    for object in &page.objects {
        let Ok(key) = RawKey::parse(&object.key) else {
            report.off_layout += 1;
            continue;
        };
        if now_ms - object.last_modified_ms < options.min_age_ms {
            report.too_young += 1;
            continue;
        }
        let table = key.table(&options.namespace_root);
        let state = tables.get(&table).await?;
        match standing_of(raw, object, &state, &mut errors).await? {
            Standing::Held => report.held += 1,
            Standing::Superseded { .. } => report.superseded += 1,
            Standing::Recorded => report.recorded += 1,
            Standing::Unaccounted => report.unaccounted.push(Unaccounted {
                key: object.key.clone(),
                etag: object.etag.clone(),
                size: object.size,
                last_modified: format_time_ms(object.last_modified_ms),
                last_modified_ms: object.last_modified_ms,
                table: table.to_string(),
            }),
        }
    }
    Ok(report)
}

/// `prefix` under `sources/` (prepended when missing), as `POST /replay` takes it.
pub fn sweep_prefix(prefix: Option<&str>) -> String {
    let prefix = prefix.unwrap_or("").trim_start_matches('/');
    if prefix.starts_with(SOURCES_PREFIX) {
        prefix.to_string()
    } else {
        format!("{SOURCES_PREFIX}{prefix}")
    }
}

/// The stored cursor (a fresh one when none is stored or it is unreadable).
pub async fn load_cursor(raw: &dyn ObjectStore) -> Result<SweepCursor, StorageError> {
    match raw.get(RECONCILE_CURSOR_KEY).await {
        Ok(body) => Ok(serde_json::from_slice(&body).unwrap_or_default()),
        Err(StorageError::NotFound { .. }) => Ok(SweepCursor::default()),
        Err(e) => Err(e),
    }
}

/// Stores where the next run starts. Two overlapping runs may both store theirs: the worst case
/// is a page examined twice, and queueing an object twice is harmless.
pub async fn save_cursor(
    raw: &dyn ObjectStore,
    previous: &SweepCursor,
    report: &SweepReport,
    now_ms: i64,
) -> Result<SweepCursor, StorageError> {
    let next = SweepCursor {
        after: report.next_after.clone(),
        passes: previous.passes + u64::from(report.pass_complete),
        updated_at: format_time_ms(now_ms),
    };
    let body = serde_json::to_vec_pretty(&next).expect("cursors serialize");
    raw.put(RECONCILE_CURSOR_KEY, body.into()).await?;
    Ok(next)
}
