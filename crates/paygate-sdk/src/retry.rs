//! When a request is sent again, and after how long.
//!
//! Only requests that are safe to repeat are retried: `GET` and `PUT`, and a
//! `POST` that carries an `Idempotency-Key` (the server replays the first
//! answer instead of acting twice). A `429` is retried whatever the method:
//! the server refused it before it ran. Waits grow exponentially with full
//! jitter (a random wait between zero and the cap), and a `Retry-After` on a
//! `429` or `503` is honoured as given. A server whose certificate TLS
//! refuses is never tried again.

use std::time::Duration;

use paygate_proto::ErrorCode;
use rand::Rng as _;

/// How many times, and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 turns retrying off).
    pub max_retries: u32,
    /// The cap of the first backoff; it doubles at each retry.
    pub base_delay: Duration,
    /// No backoff is longer than this.
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is returned.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The request never got an answer (connect error, timeout, reset).
    Transport,
    /// The server answered with this status, error code and `Retry-After`.
    Answered {
        status: u16,
        code: Option<ErrorCode>,
        retry_after: Option<u64>,
    },
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based), or `None` when the
    /// attempt must not be repeated.
    pub(crate) fn delay(&self, retry: u32, safe_to_repeat: bool, outcome: Outcome) -> Option<Duration> {
        if retry >= self.max_retries {
            return None;
        }
        match outcome {
            Outcome::Answered {
                status: 429,
                retry_after,
                ..
            } => self.after(retry, retry_after),
            Outcome::Answered {
                status: 503,
                retry_after,
                ..
            } if safe_to_repeat => self.after(retry, retry_after),
            Outcome::Answered { status, code, .. } if safe_to_repeat => {
                let transient = matches!(status, 500 | 502 | 504) || code == Some(ErrorCode::IdempotencyInProgress);
                transient.then(|| self.backoff(retry))
            }
            Outcome::Transport if safe_to_repeat => Some(self.backoff(retry)),
            _ => None,
        }
    }

    fn after(&self, retry: u32, retry_after: Option<u64>) -> Option<Duration> {
        match retry_after {
            Some(secs) if Duration::from_secs(secs) > self.max_retry_after => None,
            // A little past the time given, so the slot has surely freed.
            Some(secs) => Some(
                Duration::from_secs(secs) + rand::thread_rng().gen_range(Duration::ZERO..=Duration::from_millis(100)),
            ),
            None => Some(self.backoff(retry)),
        }
    }

    /// Full jitter: uniform between zero and `min(max_delay, base * 2^retry)`.
    fn backoff(&self, retry: u32) -> Duration {
        let cap = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max_delay);
        rand::thread_rng().gen_range(Duration::ZERO..=cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, retry_after: Option<u64>) -> Outcome {
        Outcome::Answered {
            status,
            code: None,
            retry_after,
        }
    }

    #[test]
    fn only_safe_requests_are_repeated_after_a_failure() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(0, false, Outcome::Transport).is_none());
        assert!(policy.delay(0, false, answered(500, None)).is_none());
        assert!(policy.delay(0, false, answered(503, Some(1))).is_none());
        assert!(policy.delay(0, true, Outcome::Transport).is_some());
        assert!(policy.delay(0, true, answered(502, None)).is_some());
        assert!(policy.delay(0, true, answered(400, None)).is_none());
        assert!(policy.delay(0, true, answered(422, None)).is_none());
    }

    #[test]
    fn a_429_waits_for_retry_after_whatever_the_method() {
        let policy = RetryPolicy::default();
        let wait = policy.delay(0, false, answered(429, Some(3))).unwrap();
        assert!(
            wait >= Duration::from_secs(3) && wait <= Duration::from_millis(3100),
            "{wait:?}"
        );
        assert!(
            policy.delay(0, true, answered(429, Some(3600))).is_none(),
            "too long a wait is not taken"
        );
        assert!(
            policy.delay(3, true, answered(429, Some(1))).is_none(),
            "retries are bounded"
        );
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_cap() {
        let policy = RetryPolicy::default();
        for retry in 0..3 {
            let cap = Duration::from_millis(500) * 2u32.pow(retry);
            for _ in 0..200 {
                assert!(policy.backoff(retry) <= cap);
            }
        }
        let spread: std::collections::BTreeSet<Duration> = (0..50).map(|_| policy.backoff(2)).collect();
        assert!(spread.len() > 10, "waits are spread out");
        assert!((0..200).all(|_| policy.backoff(30) <= Duration::from_secs(8)));
    }
}
