//! The scheduled handler: every source due on the trigger that fired runs, one after another;
//! each run is one log line. A failing source does not stop the others.

use icepipe_core::ingest::run_source;
use icepipe_edge::log::{emit, event_line};
use serde_json::json;
use worker::{event, Env, ScheduleContext, ScheduledEvent};

use crate::routes::run_line;
use crate::wiring::Wiring;

#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    let wiring = match Wiring::from_env(&env) {
        Ok(wiring) => wiring,
        Err(reason) => {
            emit(&event_line(
                "cron_error",
                json!({ "cron": cron, "error": reason.to_string() }),
            ));
            return;
        }
    };
    let due: Vec<_> = wiring
        .settings
        .sources
        .sources
        .values()
        .filter(|s| s.is_due(&cron))
        .collect();
    emit(&event_line(
        "cron",
        json!({ "cron": cron, "sources": due.iter().map(|s| s.name.as_str()).collect::<Vec<_>>() }),
    ));
    for source in due {
        match run_source(&wiring.ingest, source, None).await {
            Ok(report) => emit(&run_line(&report, "cron")),
            Err(e) => emit(&event_line(
                "run_error",
                json!({ "source": source.name, "trigger": "cron", "error": e.to_string() }),
            )),
        }
    }
}
