//! When to try a request again: 429 and 5xx (and transport failures) with exponential backoff,
//! honouring `Retry-After` (seconds or an HTTP date), up to a fixed number of attempts.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    /// Cap for both the backoff and a server's `Retry-After`.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (`attempt` counts from 1), the server's wish first.
    pub fn delay(&self, attempt: u32, retry_after: Option<&str>, now_ms: i64) -> Duration {
        let wanted = retry_after
            .and_then(|value| parse_retry_after(value, now_ms))
            .unwrap_or_else(|| {
                self.base_delay
                    .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            });
        wanted.min(self.max_delay)
    }
}

/// `Retry-After: 120` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (a date in the past is 0).
pub fn parse_retry_after(value: &str, now_ms: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait_ms = date.timestamp_millis().saturating_sub(now_ms).max(0);
    Some(Duration::from_millis(wait_ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        // 2015-10-21T07:28:00Z, asked 3 s before.
        let at = 1_445_412_480_000;
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at - 3000),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", at + 5000),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, None, 0), Duration::from_millis(500));
        assert_eq!(policy.delay(3, None, 0), Duration::from_secs(2));
        assert_eq!(policy.delay(30, None, 0), Duration::from_secs(60));
        assert_eq!(policy.delay(1, Some("9999"), 0), Duration::from_secs(60));
        assert_eq!(policy.delay(1, Some("4"), 0), Duration::from_secs(4));
    }
}
