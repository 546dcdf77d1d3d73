//! [`Clock`] for a Worker: `Date.now()` and `setTimeout` (no tokio timer in workerd).

use std::time::Duration;

use async_trait::async_trait;
use icepipe_core::clock::Clock;
use worker::send::SendFuture;
use worker::{Date, Delay};

/// Note that a Worker's clock only advances across I/O (a Spectre mitigation), so durations
/// measured with it cover waiting, not CPU work.
#[derive(Debug, Default, Clone, Copy)]
pub struct WorkerClock;

#[async_trait]
impl Clock for WorkerClock {
    fn now_ms(&self) -> i64 {
        Date::now().as_millis() as i64
    }

    async fn sleep(&self, duration: Duration) {
        SendFuture::new(Delay::from(duration)).await
    }
}
