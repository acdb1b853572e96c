//! The Redis limiter: the same exact sliding log as the in-process one, as a
//! sorted set per counter, decided by one Lua script per request (atomic
//! across every limit of the decision) and timed by Redis's clock (`TIME`),
//! so instances sharing a Redis share every limit whatever their clocks say.

use redis::aio::MultiplexedConnection;
use redis::{Client, Script};
use tokio::sync::OnceCell;

use super::{Check, Decision, LimitError, LimitFuture, Limiter, Ticket, Usage};

/// KEYS: the counters. ARGV: the member to add, then per key its limit and
/// window in milliseconds. Returns `allowed, now`, then per key
/// `used, reset_ms, retry_ms`.
const DECIDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member = ARGV[1]
local allowed = 1
local counts = {}
local retries = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  counts[i] = count
  retries[i] = 0
  if count >= limit then
    allowed = 0
    local freeing = redis.call('ZRANGE', KEYS[i], count - limit, count - limit, 'WITHSCORES')
    retries[i] = tonumber(freeing[2]) + window - now
  end
end
local out = {allowed, now}
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i + 1])
  local used = counts[i]
  if allowed == 1 then
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[i], window)
    used = used + 1
  end
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  local reset = 0
  if oldest[2] then reset = tonumber(oldest[2]) + window - now end
  out[#out + 1] = used
  out[#out + 1] = reset
  out[#out + 1] = retries[i]
end
return out
";

pub struct RedisLimiter {
    client: Client,
    prefix: String,
    connection: OnceCell<MultiplexedConnection>,
    script: Script,
}

fn unavailable(err: impl std::fmt::Display) -> LimitError {
    LimitError(err.to_string())
}

impl RedisLimiter {
    pub fn new(url: &str, prefix: &str) -> Result<Self, LimitError> {
        Ok(Self {
            client: Client::open(url).map_err(unavailable)?,
            prefix: prefix.to_owned(),
            connection: OnceCell::new(),
            script: Script::new(DECIDE),
        })
    }

    /// One multiplexed connection, opened on first use and shared.
    pub async fn connection(&self) -> Result<MultiplexedConnection, LimitError> {
        self.connection
            .get_or_try_init(|| async { self.client.get_multiplexed_async_connection().await })
            .await
            .cloned()
            .map_err(unavailable)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    async fn decide(&self, checks: &[Check]) -> Result<Decision, LimitError> {
        let member = uuid::Uuid::new_v4().to_string();
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(&member);
        for check in checks {
            invocation.key(format!("{}{}", self.prefix, check.key));
            invocation.arg(check.limit.limit);
            invocation.arg(check.limit.window_secs.saturating_mul(1000));
        }
        let mut connection = self.connection().await?;
        let out: Vec<i64> = invocation.invoke_async(&mut connection).await.map_err(unavailable)?;
        let allowed = out.first().copied() == Some(1);
        let millis = |v: i64| u64::try_from(v).unwrap_or(0);
        let mut usage = Vec::with_capacity(checks.len());
        let mut tickets = Vec::new();
        for (i, check) in checks.iter().enumerate() {
            let at = |k: usize| out.get(2 + 3 * i + k).copied().unwrap_or(0);
            let (used, reset, retry) = (at(0), at(1), at(2));
            let refused = !allowed && u32::try_from(used).unwrap_or(u32::MAX) >= check.limit.limit;
            usage.push((
                check.name,
                Usage {
                    limit: check.limit.limit,
                    window_secs: check.limit.window_secs,
                    remaining: check
                        .limit
                        .limit
                        .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
                    reset_ms: millis(reset),
                    refused,
                    retry_ms: millis(retry),
                },
            ));
            if allowed {
                tickets.push(Ticket {
                    key: check.key.clone(),
                    member: member.clone(),
                });
            }
        }
        let retry_after_ms = usage.iter().map(|(_, u)| u.retry_ms).max().unwrap_or(0);
        Ok(Decision {
            allowed,
            usage,
            retry_after_ms,
            tickets,
        })
    }

    async fn give_back(&self, tickets: &[Ticket]) -> Result<(), LimitError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for ticket in tickets {
            pipe.zrem(format!("{}{}", self.prefix, ticket.key), &ticket.member)
                .ignore();
        }
        let mut connection = self.connection().await?;
        pipe.query_async::<()>(&mut connection).await.map_err(unavailable)
    }
}

impl Limiter for RedisLimiter {
    fn acquire<'a>(&'a self, checks: &'a [Check], _now_ms: i64) -> LimitFuture<'a, Decision> {
        Box::pin(self.decide(checks))
    }

    fn release<'a>(&'a self, tickets: &'a [Ticket]) -> LimitFuture<'a, ()> {
        Box::pin(self.give_back(tickets))
    }

    fn ready(&self) -> LimitFuture<'_, ()> {
        Box::pin(async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map(drop)
                .map_err(unavailable)
        })
    }
}
