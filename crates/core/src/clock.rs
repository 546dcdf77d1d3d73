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

/// A clock that only moves when told to (or by the time it is asked to sleep), and remembers the
/// sleeps: retry and backoff tests assert the waits without waiting. No runtime needed.
#[derive(Debug)]
pub struct ManualClock {
    now_ms: std::sync::atomic::AtomicI64,
    sleeps: std::sync::Mutex<Vec<Duration>>,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self {
            now_ms: std::sync::atomic::AtomicI64::new(start_ms),
            sleeps: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as i64, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every duration slept so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }

    async fn sleep(&self, duration: Duration) {
        self.sleeps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(duration);
        self.advance(duration);
    }
}
