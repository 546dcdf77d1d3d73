//! The scheduled reconciliation sweep (`[triggers] crons` in `wrangler.convert.toml`): one
//! bounded page of the raw bucket per run from the cursor in `_state/`, and a notification sent
//! through `RAW_EVENTS` for every object no table accounts for (`icepipe_core::reconcile`).
//! One `{"event":"sweep",...}` line per run.

use icepipe_core::raw::notification::Notification;
use icepipe_core::reconcile::{load_cursor, save_cursor, sweep, sweep_prefix, SweepOptions};
use icepipe_core::standing::StandingError;
use icepipe_core::storage::ObjectStore;
use icepipe_edge::log::{emit, event_line};
use serde_json::{json, Value};
use worker::{event, Env, Queue, ScheduleContext, ScheduledEvent};

use crate::config::ConfigError;
use crate::wiring::{raw_events, Wiring};

/// Messages per `sendBatch` (the Queues limit).
const SEND_BATCH: usize = 100;

/// A `sendBatch` failed: how many messages were sent before it, and why not the rest.
#[derive(Debug, thiserror::Error)]
#[error("sending to the queue failed after {sent} message(s): {reason}")]
pub struct SendError {
    pub sent: usize,
    pub reason: String,
}

/// Sends `messages` in batches.
pub async fn send_all(queue: &Queue, messages: &[Notification]) -> Result<usize, SendError> {
    let mut sent = 0;
    for chunk in messages.chunks(SEND_BATCH) {
        queue
            .send_batch(chunk.to_vec())
            .await
            .map_err(|e| SendError {
                sent,
                reason: e.to_string(),
            })?;
        sent += chunk.len();
    }
    Ok(sent)
}

/// Why a sweep run stopped (its log line says): the catalog and the raw bucket fail as the
/// sweep's [`StandingError`].
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Standing(#[from] StandingError),
    #[error(
        "sending to the queue failed after {} of {total} message(s): {}",
        error.sent,
        error.reason
    )]
    Queue { error: SendError, total: usize },
}

#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let line = match run(&env).await {
        Ok(fields) => event_line(
            "sweep",
            json!({ "cron": event.cron(), "ok": true, "report": fields }),
        ),
        Err(error) => event_line(
            "sweep",
            json!({ "cron": event.cron(), "ok": false, "error": error.to_string() }),
        ),
    };
    emit(&line);
}

async fn run(env: &Env) -> Result<Value, SweepError> {
    let wiring = Wiring::from_env(env)?;
    let queue = raw_events(env)?;
    let catalog = wiring.catalog().await.map_err(StandingError::from)?;
    let raw: std::sync::Arc<dyn ObjectStore> = wiring.raw.clone();
    let settings = &wiring.settings;
    let cursor = load_cursor(raw.as_ref())
        .await
        .map_err(StandingError::from)?;
    let options = SweepOptions {
        namespace_root: settings.namespace_root.clone(),
        prefix: sweep_prefix(None),
        limit: settings.sweep_limit,
        min_age_ms: settings.sweep_min_age_ms,
    };
    let now = wiring.clock.now_ms();
    let report = sweep(&raw, &catalog, &options, cursor.after.as_deref(), now).await?;
    let messages: Vec<Notification> = report
        .unaccounted
        .iter()
        .map(|u| u.notification(&settings.account_id, &settings.raw_bucket))
        .collect();
    // The cursor moves on only once what this page found is queued: a failed send is swept again.
    let sent = send_all(&queue, &messages)
        .await
        .map_err(|error| SweepError::Queue {
            error,
            total: messages.len(),
        })?;
    let next = save_cursor(raw.as_ref(), &cursor, &report, now)
        .await
        .map_err(StandingError::from)?;
    let mut fields = serde_json::to_value(&report).unwrap_or_default();
    fields["queued"] = json!(sent);
    fields["passes"] = json!(next.passes);
    Ok(fields)
}
