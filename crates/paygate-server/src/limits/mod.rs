//! Rate limiting (docs/api.md section 5): one [`Limiter`] trait deciding over
//! exact sliding windows, never more than N accepted in any window W. A
//! decision covers several limits at once and is atomic: a request refused by
//! one limit consumes no quota of the others. Accepted entries come back as
//! tickets, so a request refused by a later decision (the per-merchant limit,
//! known only after authentication) can give back what an earlier one took.

pub mod headers;
pub mod layer;
mod memory;
mod redis;
pub mod tiers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use layer::{per_ip, LimitContext};
pub use memory::MemoryLimiter;
pub use redis::RedisLimiter;

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
    /// Whether this limit refused the request.
    pub refused: bool,
    /// When refused: milliseconds until a slot frees under this limit.
    pub retry_ms: u64,
}

/// An accepted entry, which [`Limiter::release`] can give back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: String,
    pub member: String,
}

#[derive(Debug, Clone, Default)]
pub struct Decision {
    pub allowed: bool,
    /// Per check, in the order given.
    pub usage: Vec<(&'static str, Usage)>,
    /// When refused: milliseconds until every refusing limit has a free slot.
    pub retry_after_ms: u64,
    /// When allowed: one per check.
    pub tickets: Vec<Ticket>,
}

/// The limit to describe in the headers: a refusing one with the longest
/// wait, else the one with the fewest requests left.
pub fn tightest(usage: &[(&'static str, Usage)]) -> Option<(&'static str, Usage)> {
    let refused = usage
        .iter()
        .copied()
        .filter(|(_, u)| u.refused)
        .max_by_key(|(_, u)| u.retry_ms);
    refused.or_else(|| usage.iter().copied().min_by_key(|(_, u)| (u.remaining, u.reset_ms)))
}

impl Decision {
    pub fn tightest(&self) -> Option<(&'static str, Usage)> {
        tightest(&self.usage)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("rate limiter unavailable: {0}")]
pub struct LimitError(pub String);

pub type LimitFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, LimitError>> + Send + 'a>>;

pub trait Limiter: Send + Sync + 'static {
    /// Accepts the request (recording it under every check) only if every
    /// check has room; otherwise records nothing. `now_ms` is the caller's
    /// clock; implementations with their own clock (Redis) ignore it.
    fn acquire<'a>(&'a self, checks: &'a [Check], now_ms: i64) -> LimitFuture<'a, Decision>;

    /// Gives back entries of an accepted decision whose request was refused
    /// afterwards by another limit.
    fn release<'a>(&'a self, tickets: &'a [Ticket]) -> LimitFuture<'a, ()>;

    /// Whether the limiter can decide now (for `/readyz`): always in
    /// process; Redis answers a `PING`.
    fn ready(&self) -> LimitFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// The limiter and replay guard `config` asks for: Redis when `redis_url`
/// is set (validated at start), else in-process.
pub fn from_config(config: &crate::config::Config) -> (Arc<dyn Limiter>, Arc<dyn crate::auth::replay::ReplayGuard>) {
    use crate::auth::replay::{MemoryReplayGuard, RedisReplayGuard};
    if !config.redis_url.is_empty() {
        match RedisLimiter::new(&config.redis_url, &config.redis_key_prefix) {
            Ok(limiter) => {
                let limiter = Arc::new(limiter);
                return (limiter.clone(), Arc::new(RedisReplayGuard::new(limiter)));
            }
            Err(err) => tracing::error!(error = %err, "redis_url cannot be used; limits stay in process"),
        }
    }
    (
        Arc::new(MemoryLimiter::default()),
        Arc::new(MemoryReplayGuard::default()),
    )
}
