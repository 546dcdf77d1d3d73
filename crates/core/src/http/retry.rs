//! The one retry policy and retry loop for HTTP requests that are safe to send again: the catalog
//! client's idempotent requests (and its token requests) and the ingest's API pages.
//!
//! An attempt's answer is judged by the caller's `classify` ([`Verdict`]): the usual judgement,
//! [`retry_when_overloaded_or_failing`], retries 429 and 5xx honouring the server's `Retry-After`
//! (delta-seconds or an HTTP date, [`parse_retry_after`]). A caller with more classes of answers
//! worth another attempt (a commit's `400 ConcurrentUpdateError`, say) writes its own `classify`
//! and keeps this loop. Transport failures are retried too; an attempt's own final error
//! ([`AttemptError::Fatal`]) ends the loop at once.

use std::future::Future;
use std::time::Duration;

use super::{HttpError, HttpResponse};
use crate::clock::Clock;

/// What a `Retry-After` longer than [`RetryPolicy::max_retry_after`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongRetryAfter {
    /// Wait `max_retry_after` and try again (an API run can afford to wait).
    WaitTheMax,
    /// Stop at once and report the answer: the error is transient, so the caller's own slower
    /// retry (a queue redelivery) takes over instead of holding the request open.
    GiveUp,
}

/// How often and how long to wait between attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Pause before each retry; `backoff.len() + 1` attempts in all.
    pub backoff: Vec<Duration>,
    /// A server's `Retry-After` up to this long replaces the backoff.
    pub max_retry_after: Duration,
    pub long_retry_after: LongRetryAfter,
}

impl RetryPolicy {
    /// The catalog client's idempotent requests (config, token, load, list, namespace, drop):
    /// 3 attempts, 200 ms then 800 ms apart; a `Retry-After` over 5 s ends the retries.
    /// Commits never use it: a replayed commit could apply twice, so the committer decides.
    pub fn catalog_default() -> Self {
        Self {
            backoff: vec![Duration::from_millis(200), Duration::from_millis(800)],
            max_retry_after: Duration::from_secs(5),
            long_retry_after: LongRetryAfter::GiveUp,
        }
    }

    /// The ingest's API pages: 5 attempts, 0.5 s doubling, a `Retry-After` honoured up to 60 s.
    pub fn api_default() -> Self {
        Self {
            backoff: exponential(Duration::from_millis(500), 4, Duration::from_secs(60)),
            max_retry_after: Duration::from_secs(60),
            long_retry_after: LongRetryAfter::WaitTheMax,
        }
    }

    /// One attempt, no retries.
    pub fn none() -> Self {
        Self {
            backoff: Vec::new(),
            max_retry_after: Duration::ZERO,
            long_retry_after: LongRetryAfter::GiveUp,
        }
    }

    pub fn attempts(&self) -> u32 {
        self.backoff.len() as u32 + 1
    }

    /// The pause after attempt `attempt` (counted from 1) before the next one, the server's
    /// wish first; `None` when no attempt is left or the server asks to wait too long.
    pub fn pause(&self, attempt: u32, retry_after: Option<Duration>) -> Option<Duration> {
        let backoff = *self.backoff.get(attempt.checked_sub(1)? as usize)?;
        match retry_after {
            None => Some(backoff),
            Some(wait) if wait <= self.max_retry_after => Some(wait),
            Some(_) => match self.long_retry_after {
                LongRetryAfter::WaitTheMax => Some(self.max_retry_after),
                LongRetryAfter::GiveUp => None,
            },
        }
    }
}

/// `retries` pauses starting at `first` and doubling, each at most `cap`.
pub fn exponential(first: Duration, retries: u32, cap: Duration) -> Vec<Duration> {
    (0..retries)
        .map(|i| first.saturating_mul(1 << i.min(16)).min(cap))
        .collect()
}

/// What one attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The answer stands, whatever its status: the caller interprets it.
    Final,
    /// Worth another attempt, after the server's `Retry-After` if it gave one.
    Retry { retry_after: Option<Duration> },
}

/// 429 (too many requests) or 5xx: the server may answer otherwise later.
pub fn is_overloaded_or_failing(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// 429 and 5xx are worth another attempt (with the server's `Retry-After`); anything else stands.
pub fn retry_when_overloaded_or_failing(response: &HttpResponse, now_ms: i64) -> Verdict {
    if is_overloaded_or_failing(response.status) {
        Verdict::Retry {
            retry_after: response
                .header("retry-after")
                .and_then(|value| parse_retry_after(value, now_ms)),
        }
    } else {
        Verdict::Final
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

/// Why one attempt produced no answer.
#[derive(Debug)]
pub enum AttemptError<E> {
    /// The request failed in transport: retried like a retryable answer.
    Transport(HttpError),
    /// The attempt's own error (e.g. no token could be had): ends the loop as it is.
    Fatal(E),
}

/// The answer that stands, and how many attempts it took.
#[derive(Debug)]
pub struct Answered {
    pub response: HttpResponse,
    pub attempts: u32,
}

/// Why the loop ended without an answer that stands.
#[derive(Debug)]
pub enum Exhausted<E> {
    /// The last answer was still worth retrying (or asked to wait longer than allowed).
    Status {
        response: HttpResponse,
        attempts: u32,
    },
    /// The last attempt failed in transport.
    Transport {
        error: HttpError,
        attempts: u32,
    },
    Fatal(E),
}

/// Runs `attempt` until its answer stands (by `classify`, given the clock's time in ms) or the
/// policy has no retry left, sleeping on `clock` in between.
pub async fn send_with_retries<F, Fut, E>(
    clock: &dyn Clock,
    policy: &RetryPolicy,
    classify: impl Fn(&HttpResponse, i64) -> Verdict,
    mut attempt: F,
) -> Result<Answered, Exhausted<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<HttpResponse, AttemptError<E>>>,
{
    let mut attempts = 1;
    loop {
        let pause = match attempt().await {
            Ok(response) => match classify(&response, clock.now_ms()) {
                Verdict::Final => return Ok(Answered { response, attempts }),
                Verdict::Retry { retry_after } => match policy.pause(attempts, retry_after) {
                    Some(pause) => pause,
                    None => return Err(Exhausted::Status { response, attempts }),
                },
            },
            Err(AttemptError::Fatal(error)) => return Err(Exhausted::Fatal(error)),
            Err(AttemptError::Transport(error)) => match policy.pause(attempts, None) {
                Some(pause) => pause,
                None => return Err(Exhausted::Transport { error, attempts }),
            },
        };
        clock.sleep(pause).await;
        attempts += 1;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::clock::ManualClock;

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
        let policy = RetryPolicy::api_default();
        assert_eq!(policy.attempts(), 5);
        assert_eq!(policy.pause(1, None), Some(Duration::from_millis(500)));
        assert_eq!(policy.pause(3, None), Some(Duration::from_secs(2)));
        assert_eq!(policy.pause(5, None), None, "no attempt left");
        assert_eq!(
            exponential(Duration::from_millis(500), 30, Duration::from_secs(60))[29],
            Duration::from_secs(60)
        );
        assert_eq!(
            policy.pause(1, Some(Duration::from_secs(9999))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            policy.pause(1, Some(Duration::from_secs(4))),
            Some(Duration::from_secs(4))
        );
        // The catalog gives up on a long Retry-After instead of waiting.
        let catalog = RetryPolicy::catalog_default();
        assert_eq!(catalog.pause(1, Some(Duration::from_secs(60))), None);
        assert_eq!(
            catalog.pause(2, Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
    }

    fn answer(status: u16, retry_after: Option<&str>) -> HttpResponse {
        HttpResponse {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_string(), v.to_string())])
                .unwrap_or_default(),
            body: Bytes::new(),
        }
    }

    #[tokio::test]
    async fn the_loop_retries_until_an_answer_stands_or_attempts_run_out() {
        let clock = ManualClock::new(0);
        let policy = RetryPolicy::api_default();
        let mut answers = vec![answer(200, None), answer(503, Some("7")), answer(429, None)];
        let done = send_with_retries::<_, _, ()>(
            &clock,
            &policy,
            retry_when_overloaded_or_failing,
            || {
                let next = answers.pop().unwrap();
                async move { Ok(next) }
            },
        )
        .await
        .unwrap();
        assert_eq!((done.response.status, done.attempts), (200, 3));
        assert_eq!(
            clock.sleeps(),
            [Duration::from_millis(500), Duration::from_secs(7)]
        );

        let always = send_with_retries::<_, _, ()>(
            &clock,
            &RetryPolicy::catalog_default(),
            retry_when_overloaded_or_failing,
            || async { Ok(answer(500, None)) },
        )
        .await;
        assert!(matches!(always, Err(Exhausted::Status { attempts: 3, .. })));
        let fatal = send_with_retries(
            &clock,
            &RetryPolicy::catalog_default(),
            retry_when_overloaded_or_failing,
            || async { Err(AttemptError::Fatal("no token")) },
        )
        .await;
        assert!(matches!(fatal, Err(Exhausted::Fatal("no token"))));
    }
}
