//! The thresholds of the configuration: request rate limits, the bursts that
//! raise `security.alert`, and the limits on connections.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub limit: u32,
    pub window_secs: u64,
}

impl Limit {
    pub const fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// `false` turns off the per-IP and per-merchant request limits (behind
    /// an upstream limiter, or to measure their cost); token issuing stays
    /// limited.
    pub enabled: bool,
    pub auth: Limit,
    pub financial: Limit,
    pub wallet: Limit,
    pub standard: Limit,
    pub dashboard: Limit,
    pub public: Limit,
    pub merchant: Limit,
    pub token_minute: Limit,
    pub token_hour: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            auth: Limit::new(15, 900),
            financial: Limit::new(30, 900),
            wallet: Limit::new(20, 900),
            standard: Limit::new(100, 900),
            dashboard: Limit::new(200, 900),
            public: Limit::new(60, 900),
            merchant: Limit::new(100, 60),
            token_minute: Limit::new(10, 60),
            token_hour: Limit::new(100, 3600),
            enabled: true,
        }
    }
}

impl RateLimits {
    /// Every limit with its configuration key, for validation and docs.
    pub fn named(&self) -> [(&'static str, Limit); 9] {
        [
            ("auth", self.auth),
            ("financial", self.financial),
            ("wallet", self.wallet),
            ("standard", self.standard),
            ("dashboard", self.dashboard),
            ("public", self.public),
            ("merchant", self.merchant),
            ("token_minute", self.token_minute),
            ("token_hour", self.token_hour),
        ]
    }
}

/// When `security.alert` events fire (docs/api.md section 12). Bursts are counted
/// in memory per process; after an alert the same subject stays quiet for
/// `cooldown_secs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// Authentication failures with one API key (or its tokens) that make a burst.
    pub key_auth_failures: Limit,
    /// Authentication failures from one client address (IPv6: its /64) that make a burst.
    pub ip_auth_failures: Limit,
    /// `429` answers to one merchant and environment that make a burst.
    pub rate_limited: Limit,
    /// Alert when a key is used from an address it was never used from
    /// (its very first address is recorded without an alert).
    pub new_ip: bool,
    /// Quiet time per subject (key, address, merchant) after an alert.
    pub cooldown_secs: u64,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            key_auth_failures: Limit::new(10, 60),
            ip_auth_failures: Limit::new(20, 60),
            rate_limited: Limit::new(20, 60),
            new_ip: true,
            cooldown_secs: 900,
        }
    }
}

impl AlertConfig {
    /// Every burst threshold with its configuration key, for validation.
    pub fn named(&self) -> [(&'static str, Limit); 3] {
        [
            ("key_auth_failures", self.key_auth_failures),
            ("ip_auth_failures", self.ip_auth_failures),
            ("rate_limited", self.rate_limited),
        ]
    }
}

/// Protection against slow clients and connection floods.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionLimits {
    /// From accept to a completed TLS handshake.
    pub handshake_timeout_secs: u64,
    /// For a request's headers to arrive once they have begun.
    pub header_timeout_secs: u64,
    /// For a request body to arrive.
    pub body_timeout_secs: u64,
    /// A connection with no request in progress is closed after this long,
    /// however slowly it trickles bytes.
    pub idle_timeout_secs: u64,
    /// Open connections per client IP (IPv6 per /64); trusted proxies are exempt.
    pub max_per_ip: u32,
    /// Open connections in all.
    pub max_total: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout_secs: 10,
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_per_ip: 256,
            max_total: 10_000,
        }
    }
}
