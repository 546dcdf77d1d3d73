//! Time, the third seam: retries sleep and tokens expire, and a Worker has no tokio timer.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// Wall-clock time, milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    async fn sleep(&self, duration: Duration);
}

/// The native clock: system time and tokio's timer.
#[cfg(feature = "native")]
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[cfg(feature = "native")]
#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await
    }
}
