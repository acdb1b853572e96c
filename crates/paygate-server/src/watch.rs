//! The security watch (docs/api.md section 12): raises `security.alert` through
//! [`crate::alerts`] for a burst of authentication failures with one key or
//! from one address, for a burst of `429` answers to one merchant, and for the
//! first request of a key from an address it was never used from.
//!
//! Bursts are counted in memory, per process: a mutex and a short queue of
//! timestamps per subject, no database work until an alert fires. After an
//! alert the subject stays quiet for the configured cool-down, so one attack
//! makes one alert. Addresses a key was used from are kept in a table (so a
//! restart or another instance does not alert again) and cached here, so only
//! an address new to this process costs a database round trip.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, RwLock};

use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};

use crate::alerts::{self, Alert};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::config::{AlertConfig, Limit};
use crate::limits::tiers::client_bucket;
use crate::store::{Store, StoreResult};

/// Subjects counted at once; beyond this, idle ones are forgotten first.
const MAX_SUBJECTS: usize = 100_000;
/// Key and address pairs remembered by this process.
const MAX_KNOWN_ADDRESSES: usize = 100_000;

/// The key a request presented, when it was found.
pub struct KeyRef<'a> {
    pub id: &'a str,
    pub prefix: &'a str,
    pub merchant: &'a MerchantId,
    pub env: Environment,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Key(String),
    Address(String),
    Merchant(String),
}

#[derive(Default)]
struct Burst {
    hits: VecDeque<i64>,
    quiet_until: i64,
}

pub struct Watch {
    config: AlertConfig,
    bursts: Mutex<HashMap<Subject, Burst>>,
    /// Read on every successful request: a read lock, shared by all.
    known_addresses: RwLock<HashSet<(String, String)>>,
}

impl Watch {
    pub fn new(config: &AlertConfig) -> Self {
        Self {
            config: config.clone(),
            bursts: Mutex::new(HashMap::new()),
            known_addresses: RwLock::new(HashSet::new()),
        }
    }

    /// Counts one hit for `subject`; returns the burst's size when this hit
    /// completes a burst outside the subject's cool-down.
    fn count(&self, subject: Subject, limit: Limit, now: i64) -> Option<usize> {
        let mut bursts = self.bursts.lock().ok()?;
        if bursts.len() >= MAX_SUBJECTS && !bursts.contains_key(&subject) {
            let horizon = self.horizon();
            bursts.retain(|_, b| b.quiet_until > now || b.hits.back().is_some_and(|t| *t > now - horizon));
            if bursts.len() >= MAX_SUBJECTS {
                return None;
            }
        }
        let burst = bursts.entry(subject).or_default();
        let window = i64::try_from(limit.window_secs).unwrap_or(i64::MAX);
        while burst.hits.front().is_some_and(|t| *t <= now - window) {
            burst.hits.pop_front();
        }
        if now < burst.quiet_until {
            return None;
        }
        burst.hits.push_back(now);
        let size = burst.hits.len();
        if size < usize::try_from(limit.limit).unwrap_or(usize::MAX) {
            return None;
        }
        burst.hits.clear();
        burst.quiet_until = now.saturating_add(i64::try_from(self.config.cooldown_secs).unwrap_or(i64::MAX));
        Some(size)
    }

    /// The longest window any burst is counted over.
    fn horizon(&self) -> i64 {
        let longest = self
            .config
            .named()
            .iter()
            .map(|(_, l)| l.window_secs)
            .max()
            .unwrap_or(0);
        i64::try_from(longest).unwrap_or(i64::MAX)
    }

    /// An authentication failure (`code`) from `ip`, with `key` when the
    /// presented key was found.
    pub async fn auth_failed(&self, state: &AppState, key: Option<&KeyRef<'_>>, ip: IpAddr, code: &str) {
        let now = state.now();
        let address = client_bucket(ip);
        if let Some(key) = key {
            let limit = self.config.key_auth_failures;
            if let Some(failures) = self.count(Subject::Key(key.id.to_owned()), limit, now) {
                let details = json!({
                    "subject": "api_key",
                    "key_prefix": key.prefix,
                    "ip": address,
                    "failures": failures,
                    "window_secs": limit.window_secs,
                    "last_code": code,
                });
                raise(
                    state.store(),
                    key.merchant,
                    key.env,
                    "auth_failure_burst",
                    key.prefix,
                    ip,
                    details,
                    now,
                )
                .await;
            }
        }
        let limit = self.config.ip_auth_failures;
        let Some(failures) = self.count(Subject::Address(address.clone()), limit, now) else {
            return;
        };
        let details = json!({
            "subject": "ip",
            "ip": address,
            "key_prefix": key.map(|k| k.prefix),
            "failures": failures,
            "window_secs": limit.window_secs,
            "last_code": code,
        });
        match key {
            Some(key) => {
                raise(
                    state.store(),
                    key.merchant,
                    key.env,
                    "auth_failure_burst",
                    key.prefix,
                    ip,
                    details,
                    now,
                )
                .await
            }
            // No merchant to tell: the operator's audit log and server log.
            None => operator_alert(state.store(), "auth_failure_burst", ip, details, now).await,
        }
    }

    /// A `429` answered to an identified merchant.
    pub async fn rate_limited(&self, state: &AppState, key: &KeyRef<'_>, ip: IpAddr) {
        let now = state.now();
        let limit = self.config.rate_limited;
        let subject = Subject::Merchant(format!("{}:{}", key.merchant, key.env.as_str()));
        if let Some(refusals) = self.count(subject, limit, now) {
            let details = json!({
                "key_prefix": key.prefix,
                "ip": client_bucket(ip),
                "refusals": refusals,
                "window_secs": limit.window_secs,
            });
            raise(
                state.store(),
                key.merchant,
                key.env,
                "rate_limit_burst",
                key.prefix,
                ip,
                details,
                now,
            )
            .await;
        }
    }

    /// A successful request with `key` from `ip`: alerts when the address is
    /// new for a key that was used before from elsewhere.
    pub async fn used_from(&self, state: &AppState, key: &KeyRef<'_>, ip: IpAddr) {
        if !self.config.new_ip {
            return;
        }
        let pair = (key.id.to_owned(), client_bucket(ip));
        if self.known_addresses.read().is_ok_and(|known| known.contains(&pair)) {
            return;
        }
        match record_address(state.store(), key, &pair.1, ip, state.now()).await {
            Ok(()) => {
                if let Ok(mut known) = self.known_addresses.write() {
                    if known.len() >= MAX_KNOWN_ADDRESSES {
                        known.clear();
                    }
                    known.insert(pair);
                }
            }
            Err(err) => tracing::error!(error = %err, "could not record a key's address; will try again"),
        }
    }
}

/// Records `address` for the key; raises `new_ip` when it is new and the key
/// has been used from another address before.
async fn record_address(store: &Store, key: &KeyRef<'_>, address: &str, ip: IpAddr, now: i64) -> StoreResult<()> {
    let mut tx = store.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO api_key_addresses (key_id, address, first_seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key_id, address) DO NOTHING",
    )
    .bind(key.id)
    .bind(address)
    .bind(now)
    .execute(&mut *tx.conn())
    .await?
    .rows_affected();
    if inserted == 1 {
        let addresses: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_key_addresses WHERE key_id = $1")
            .bind(key.id)
            .fetch_one(&mut *tx.conn())
            .await?;
        if addresses > 1 {
            let alert = Alert {
                merchant: key.merchant,
                env: key.env,
                kind: "new_ip",
                actor: key.prefix,
                ip: Some(ip),
                details: json!({ "key_prefix": key.prefix, "ip": address }),
            };
            alerts::raise(tx.conn(), alert, now).await?;
        }
    }
    tx.commit().await
}

/// Raises an alert for a merchant in its own transaction; a failure is
/// logged (the request it came with is answered regardless).
#[allow(clippy::too_many_arguments)]
async fn raise(
    store: &Store,
    merchant: &MerchantId,
    env: Environment,
    kind: &'static str,
    actor: &str,
    ip: IpAddr,
    details: Value,
    now: i64,
) {
    let result = async {
        let mut tx = store.begin_write().await?;
        let alert = Alert {
            merchant,
            env,
            kind,
            actor,
            ip: Some(ip),
            details,
        };
        alerts::raise(tx.conn(), alert, now).await?;
        tx.commit().await
    }
    .await;
    if let Err(err) = result {
        tracing::error!(error = %err, alert = kind, "could not record a security alert");
    }
}

/// An alert no merchant can be told about (no key was found): an audit row
/// without a merchant, for the operator, and the log line.
async fn operator_alert(store: &Store, kind: &'static str, ip: IpAddr, details: Value, now: i64) {
    let entry = AuditEntry::new("security.alert", Outcome::Success)
        .actor("security watch")
        .reason(kind)
        .ip(ip)
        .details(details);
    let result = async {
        let mut tx = store.begin_write().await?;
        audit::record(tx.conn(), &entry, now).await?;
        tx.commit().await
    }
    .await;
    match result {
        Ok(()) => tracing::warn!(alert = kind, "security.alert"),
        Err(err) => tracing::error!(error = %err, alert = kind, "could not record a security alert"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_alerts_once_then_stays_quiet_for_the_cool_down() {
        let watch = Watch::new(&AlertConfig {
            cooldown_secs: 100,
            ..AlertConfig::default()
        });
        let limit = Limit::new(3, 10);
        let key = || Subject::Key("key_1".into());
        assert_eq!(watch.count(key(), limit, 0), None);
        assert_eq!(watch.count(key(), limit, 1), None);
        assert_eq!(watch.count(key(), limit, 2), Some(3));
        for t in 3..100 {
            assert_eq!(watch.count(key(), limit, t), None, "quiet at {t}");
        }
        // Hits spread wider than the window never make a burst.
        for t in (100..200).step_by(5) {
            assert_eq!(watch.count(key(), limit, t), None, "spread at {t}");
        }
        assert_eq!(watch.count(key(), limit, 201), None);
        assert_eq!(watch.count(key(), limit, 202), Some(3));
        // Subjects are counted apart.
        assert_eq!(watch.count(Subject::Address("10.0.0.1".into()), limit, 202), None);
    }
}
