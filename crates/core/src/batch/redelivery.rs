//! The delay before a message comes back: the queue redelivers a message the batch retried after
//! the delay given with the retry, which grows with the message's delivery attempts.

/// Longest delay Cloudflare Queues accepts for a retry (12 hours).
pub const MAX_QUEUE_DELAY_SECONDS: u32 = 43_200;

/// How long the queue waits before delivering a message again that this batch could not finish:
/// `base * 2^(attempts - 1)` seconds, capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedeliveryDelay {
    pub base_seconds: u32,
    pub max_seconds: u32,
}

impl Default for RedeliveryDelay {
    fn default() -> Self {
        Self {
            base_seconds: 30,
            max_seconds: 1_800,
        }
    }
}

impl RedeliveryDelay {
    /// Delay before the next delivery of a message that has been delivered `attempts` times.
    pub fn delay_seconds(&self, attempts: u32) -> u32 {
        let exponent = attempts.saturating_sub(1).min(31);
        let delay = u64::from(self.base_seconds) << exponent;
        delay
            .min(u64::from(self.max_seconds))
            .min(u64::from(MAX_QUEUE_DELAY_SECONDS)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_with_attempts_and_is_capped() {
        let b = RedeliveryDelay::default();
        assert_eq!(b.delay_seconds(0), 30);
        assert_eq!(b.delay_seconds(1), 30);
        assert_eq!(b.delay_seconds(2), 60);
        assert_eq!(b.delay_seconds(3), 120);
        assert_eq!(b.delay_seconds(7), 1_800);
        assert_eq!(b.delay_seconds(1_000), 1_800);
        let huge = RedeliveryDelay {
            base_seconds: u32::MAX,
            max_seconds: u32::MAX,
        };
        assert_eq!(huge.delay_seconds(40), MAX_QUEUE_DELAY_SECONDS);
        let fast = RedeliveryDelay {
            base_seconds: 1,
            max_seconds: 4,
        };
        assert_eq!(
            (1..=5).map(|a| fast.delay_seconds(a)).collect::<Vec<_>>(),
            [1, 2, 4, 4, 4]
        );
    }
}
