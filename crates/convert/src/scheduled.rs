//! The cron trigger (`[triggers] crons` in wrangler.convert.toml). A Worker has one scheduled
//! handler, so every run does both scheduled jobs, each independent of the other's failure: the
//! reconciliation sweep (queues what lost notifications left out), then one bounded maintenance
//! step per table (expire, merge manifests, compact, remove orphans).

use worker::{event, Env, ScheduleContext, ScheduledEvent};

use crate::maintenance::maintain_and_log;
use crate::sweep::sweep_and_log;

#[event(scheduled)]
pub async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let cron = event.cron();
    sweep_and_log(&cron, &env).await;
    maintain_and_log(&cron, &env).await;
}
