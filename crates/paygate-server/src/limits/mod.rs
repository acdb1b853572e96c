//! Rate limiting (API.md section 5): one [`Limiter`] trait deciding over
//! exact sliding windows, never more than N accepted in any window W. A
//! decision covers several limits at once and is atomic: a request refused by
//! one limit consumes no quota of the others.

pub mod headers;
mod memory;

use std::future::Future;
use std::pin::Pin;

pub use memory::MemoryLimiter;

use crate::config::Limit;

/// One limit to check for one counter (e.g. `token_minute:MCH-..:test`).
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub key: String,
    pub limit: Limit,
}

/// The answer for one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limit: u32,
    pub window_secs: u64,
    /// Requests still allowed in the window after this decision.
    pub remaining: u32,
    /// Milliseconds until the oldest accepted request leaves the window
    /// (0 when nothing is in it).
    pub reset_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub allowed: bool,
    /// Per check, in the order given.
    pub usage: Vec<(&'static str, Usage)>,
    /// When refused: milliseconds until every refusing limit has a free slot.
    pub retry_after_ms: u64,
}

impl Decision {
    /// The limit with the fewest requests left: the one to describe.
    pub fn tightest(&self) -> Option<(&'static str, Usage)> {
        self.usage
            .iter()
            .copied()
            .min_by_key(|(_, u)| (u.remaining, u.reset_ms))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimitError(pub String);

pub type LimitFuture<'a> = Pin<Box<dyn Future<Output = Result<Decision, LimitError>> + Send + 'a>>;

pub trait Limiter: Send + Sync + 'static {
    /// Accepts the request (recording it under every check) only if every
    /// check has room; otherwise records nothing. `now_ms` is the caller's
    /// clock; implementations with their own clock (Redis) may ignore it.
    fn acquire<'a>(&'a self, checks: &'a [Check], now_ms: i64) -> LimitFuture<'a>;
}
