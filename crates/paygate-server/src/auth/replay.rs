//! The replay guard of docs/api.md section 4.3: a request signature is accepted once. It
//! sits behind a small trait so that instances sharing a Redis share it; this
//! file holds the in-process implementation.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

pub type GuardFuture<'a> = Pin<Box<dyn Future<Output = Result<bool, ReplayError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
#[error("replay guard unavailable: {0}")]
pub struct ReplayError(pub String);

pub trait ReplayGuard: Send + Sync + 'static {
    /// Remembers `id` until `expires_at` (Unix seconds). True the first time,
    /// false if it was already remembered and has not expired.
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64, now: i64) -> GuardFuture<'a>;
}

/// Signatures seen by this process, forgotten once they could no longer pass
/// the timestamp check anyway.
#[derive(Default)]
pub struct MemoryReplayGuard {
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    expiry: HashMap<String, i64>,
    next_sweep: i64,
}

impl MemoryReplayGuard {
    fn remember(&self, id: &str, expires_at: i64, now: i64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if now >= seen.next_sweep {
            seen.expiry.retain(|_, expiry| *expiry > now);
            seen.next_sweep = now + 10;
        }
        match seen.expiry.get(id) {
            Some(expiry) if *expiry > now => false,
            _ => {
                seen.expiry.insert(id.to_owned(), expires_at);
                true
            }
        }
    }
}

impl ReplayGuard for MemoryReplayGuard {
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64, now: i64) -> GuardFuture<'a> {
        let first = self.remember(id, expires_at, now);
        Box::pin(async move { Ok(first) })
    }
}

/// The replay guard shared by every instance using the same Redis:
/// `SET key NX EX`, so exactly one instance sees a signature first.
pub struct RedisReplayGuard {
    limiter: std::sync::Arc<crate::limits::RedisLimiter>,
}

impl RedisReplayGuard {
    /// Shares the limiter's connection and key prefix.
    pub fn new(limiter: std::sync::Arc<crate::limits::RedisLimiter>) -> Self {
        Self { limiter }
    }
}

impl ReplayGuard for RedisReplayGuard {
    fn first_use<'a>(&'a self, id: &'a str, expires_at: i64, now: i64) -> GuardFuture<'a> {
        Box::pin(async move {
            let mut connection = self
                .limiter
                .connection()
                .await
                .map_err(|e| ReplayError(e.to_string()))?;
            let ttl = u64::try_from(expires_at - now).unwrap_or(0).max(1);
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{}replay:{id}", self.limiter.prefix()))
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(ttl)
                .query_async(&mut connection)
                .await
                .map_err(|e| ReplayError(e.to_string()))?;
            Ok(set.is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signature_passes_once_until_it_expires() {
        let guard = MemoryReplayGuard::default();
        assert!(guard.first_use("a", 100, 10).await.unwrap());
        assert!(!guard.first_use("a", 100, 50).await.unwrap());
        assert!(guard.first_use("b", 100, 50).await.unwrap());
        assert!(guard.first_use("a", 200, 100).await.unwrap());
    }
}
