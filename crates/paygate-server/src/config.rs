//! Layered configuration (docs/api.md section 13): defaults, then `paygate.toml`,
//! then `PAYGATE_*` environment variables; validated once at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use self::limits::{AlertConfig, ConnectionLimits, Limit, RateLimits};
use crate::chain::config::{Chains, SignerConfig};

mod limits;

/// Top-level keys that environment variables may set. Anything else under
/// `PAYGATE_` (such as `PAYGATE_MASTER_KEY`) is not configuration.
const CONFIG_KEYS: &[&str] = &[
    "listen",
    "admin_listen",
    "data_dir",
    "database_url",
    "redis_url",
    "redis_key_prefix",
    "public_url",
    "master_key_file",
    "tls",
    "auth",
    "rate_limits",
    "idempotency",
    "webhooks",
    "smtp",
    "connections",
    "audit",
    "alerts",
    "chains",
    "signer",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub redis_url: String,
    /// Prepended to every Redis key, so deployments can share a Redis.
    pub redis_key_prefix: String,
    pub public_url: String,
    pub master_key_file: String,
    pub tls: TlsConfig,
    pub auth: AuthConfig,
    pub rate_limits: RateLimits,
    pub idempotency: IdempotencyConfig,
    pub webhooks: WebhookConfig,
    pub smtp: SmtpConfig,
    pub connections: ConnectionLimits,
    pub audit: AuditConfig,
    pub alerts: AlertConfig,
    /// The stablecoin rail per environment (docs/stablecoins.md).
    pub chains: Chains,
    /// The signer's socket and the sandbox signer's caps.
    pub signer: SignerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            data_dir: PathBuf::from("./paygate-data"),
            database_url: String::new(),
            redis_url: String::new(),
            redis_key_prefix: "paygate:".to_owned(),
            public_url: String::new(),
            master_key_file: String::new(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            rate_limits: RateLimits::default(),
            idempotency: IdempotencyConfig::default(),
            webhooks: WebhookConfig::default(),
            smtp: SmtpConfig::default(),
            connections: ConnectionLimits::default(),
            audit: AuditConfig::default(),
            alerts: AlertConfig::default(),
            chains: Chains::default(),
            signer: SignerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsMode {
    /// Generate (once) and use a local certificate for localhost.
    SelfSigned,
    /// Use `tls.cert` and `tls.key`.
    Files,
    /// Plain HTTP behind a TLS-terminating proxy listed in `trusted_proxies`.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub mode: TlsMode,
    pub cert: String,
    pub key: String,
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::SelfSigned,
            cert: String::new(),
            key: String::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub token_ttl_secs: u64,
    pub signature_tolerance_secs: u64,
    pub key_roll_grace_secs: u64,
    /// Keys older than this many days are due for rotation (`rotation_due`,
    /// a weekly `key_rotation_due` alert, the dashboard banner).
    pub key_rotation_days: u32,
    /// Keys older than this many days stop working; unset: no limit.
    pub key_max_age_days: Option<u32>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl_secs: 60,
            signature_tolerance_secs: 300,
            key_roll_grace_secs: 86_400,
            key_rotation_days: 90,
            key_max_age_days: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    pub retention_secs: u64,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        Self { retention_secs: 86_400 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    pub retry_schedule_secs: Vec<u64>,
    /// Each retry waits its scheduled delay plus or minus this percentage.
    pub retry_jitter_percent: u64,
    pub timeout_secs: u64,
    pub allow_private_targets: bool,
    /// Attempts in flight at once, in all.
    pub max_concurrency: usize,
    /// Attempts in flight at once to any one endpoint.
    pub max_concurrency_per_endpoint: usize,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            retry_schedule_secs: vec![10, 60, 600, 3600, 21_600],
            retry_jitter_percent: 10,
            timeout_secs: 10,
            allow_private_targets: false,
            max_concurrency: 256,
            max_concurrency_per_endpoint: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    pub url: String,
    pub from: String,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            from: "paygate@localhost".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Audit rows older than this are pruned (daily), leaving a checkpoint.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 400 }
    }
}

/// A configuration problem, naming the key and how to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads defaults < `file` < environment, then validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Env::prefixed("PAYGATE_"))
    }

    fn load_from(file: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new("--config", "the configuration file does not exist"));
            }
            figment = figment.merge(Toml::file(path));
        }
        let env = env.split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or_default();
            CONFIG_KEYS.iter().any(|known| top.eq_ignore_ascii_case(known))
        });
        let config: Config = figment.merge(env).extract().map_err(|err| {
            let key = if err.path.is_empty() {
                "config".to_owned()
            } else {
                err.path.join(".")
            };
            ConfigError::new(key, err.kind.to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value that deserialisation alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let limits = self
            .rate_limits
            .named()
            .map(|(name, limit)| ("rate_limits", name, limit));
        let alerts = self.alerts.named().map(|(name, limit)| ("alerts", name, limit));
        for (section, name, limit) in limits.into_iter().chain(alerts) {
            if limit.limit == 0 {
                return Err(ConfigError::new(
                    format!("{section}.{name}.limit"),
                    "must be at least 1",
                ));
            }
            if limit.window_secs == 0 {
                return Err(ConfigError::new(
                    format!("{section}.{name}.window_secs"),
                    "must be at least 1",
                ));
            }
        }
        if !(10..=86_400).contains(&self.auth.token_ttl_secs) {
            return Err(ConfigError::new(
                "auth.token_ttl_secs",
                "must be between 10 and 86400 seconds",
            ));
        }
        if !(1..=3_600).contains(&self.auth.signature_tolerance_secs) {
            return Err(ConfigError::new(
                "auth.signature_tolerance_secs",
                "must be between 1 and 3600 seconds",
            ));
        }
        if self.auth.key_roll_grace_secs > 604_800 {
            return Err(ConfigError::new(
                "auth.key_roll_grace_secs",
                "must be at most 604800 seconds (7 days)",
            ));
        }
        if self.idempotency.retention_secs < 3_600 {
            return Err(ConfigError::new(
                "idempotency.retention_secs",
                "must be at least 3600 seconds",
            ));
        }
        if self.webhooks.timeout_secs == 0 || self.webhooks.timeout_secs > 60 {
            return Err(ConfigError::new(
                "webhooks.timeout_secs",
                "must be between 1 and 60 seconds",
            ));
        }
        self.validate_webhooks()?;
        match self.tls.mode {
            TlsMode::Files if self.tls.cert.is_empty() || self.tls.key.is_empty() => {
                return Err(ConfigError::new(
                    "tls.cert",
                    "tls.mode = \"files\" needs both tls.cert and tls.key",
                ));
            }
            TlsMode::Off if self.tls.trusted_proxies.is_empty() => {
                return Err(ConfigError::new(
                    "tls.trusted_proxies",
                    "tls.mode = \"off\" is only allowed behind a TLS-terminating proxy: list its addresses in tls.trusted_proxies",
                ));
            }
            _ => {}
        }
        if self.auth.key_rotation_days == 0 {
            return Err(ConfigError::new("auth.key_rotation_days", "must be at least 1 day"));
        }
        if self.auth.key_max_age_days == Some(0) {
            return Err(ConfigError::new(
                "auth.key_max_age_days",
                "must be at least 1 day (leave it out for no limit)",
            ));
        }
        if self.audit.retention_days < 30 {
            return Err(ConfigError::new("audit.retention_days", "must be at least 30 days"));
        }
        let c = &self.connections;
        for (name, value) in [
            ("handshake_timeout_secs", c.handshake_timeout_secs),
            ("header_timeout_secs", c.header_timeout_secs),
            ("body_timeout_secs", c.body_timeout_secs),
            ("idle_timeout_secs", c.idle_timeout_secs),
            ("max_per_ip", u64::from(c.max_per_ip)),
            ("max_total", u64::from(c.max_total)),
        ] {
            if value == 0 {
                return Err(ConfigError::new(format!("connections.{name}"), "must be at least 1"));
            }
        }
        if !self.database_url.is_empty()
            && !self.database_url.starts_with("postgres://")
            && !self.database_url.starts_with("postgresql://")
        {
            return Err(ConfigError::new(
                "database_url",
                "must be empty (SQLite in data_dir) or a postgres:// URL",
            ));
        }
        if !self.redis_url.is_empty() && redis::Client::open(self.redis_url.as_str()).is_err() {
            return Err(ConfigError::new(
                "redis_url",
                "must be empty (in-process limiter) or a redis:// or rediss:// URL",
            ));
        }
        if !self.public_url.is_empty() && !self.public_url.starts_with("https://") {
            return Err(ConfigError::new("public_url", "must be an https:// URL"));
        }
        self.chains.validate()?;
        self.signer.validate(&self.chains)?;
        Ok(())
    }

    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let hooks = &self.webhooks;
        if hooks.retry_schedule_secs.len() > 20 || hooks.retry_schedule_secs.iter().any(|d| !(1..=604_800).contains(d))
        {
            return Err(ConfigError::new(
                "webhooks.retry_schedule_secs",
                "at most 20 delays, each between 1 and 604800 seconds",
            ));
        }
        if hooks.retry_jitter_percent > 50 {
            return Err(ConfigError::new(
                "webhooks.retry_jitter_percent",
                "must be between 0 and 50",
            ));
        }
        if !(1..=4096).contains(&hooks.max_concurrency) {
            return Err(ConfigError::new(
                "webhooks.max_concurrency",
                "must be between 1 and 4096",
            ));
        }
        if !(1..=hooks.max_concurrency).contains(&hooks.max_concurrency_per_endpoint) {
            return Err(ConfigError::new(
                "webhooks.max_concurrency_per_endpoint",
                "must be between 1 and webhooks.max_concurrency",
            ));
        }
        Ok(())
    }

    /// Whether `ip` is one of the configured trusted proxies.
    pub fn is_trusted_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.tls.trusted_proxies.iter().any(|net| net.contains(&ip))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Loads `toml` as the configuration file, with only `vars` set.
    #[allow(clippy::result_large_err)]
    pub(crate) fn load_with(toml: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paygate.toml");
        std::fs::write(&path, toml).unwrap();
        let mut result = None;
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            for (k, v) in vars {
                jail.set_env(k, v);
            }
            result = Some(Config::load(Some(&path)));
            Ok(())
        });
        result.unwrap()
    }

    #[test]
    fn defaults_are_the_contract_defaults() {
        let config = load_with("", &[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(config.rate_limits.standard, Limit::new(100, 900));
        assert_eq!(config.rate_limits.token_hour, Limit::new(100, 3600));
        assert_eq!(config.webhooks.retry_schedule_secs, vec![10, 60, 600, 3600, 21_600]);
    }

    #[test]
    fn environment_overrides_file() {
        let config = load_with(
            "[rate_limits]\nstandard = { limit = 5, window_secs = 60 }\n",
            &[
                ("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "1000"),
                ("PAYGATE_TLS__TRUSTED_PROXIES", "[\"10.0.0.0/8\"]"),
                ("PAYGATE_MASTER_KEY", "not-config"),
                ("PAYGATE_LISTEN", "127.0.0.1:0"),
            ],
        )
        .unwrap();
        assert_eq!(config.rate_limits.standard, Limit::new(1000, 60));
        assert_eq!(config.tls.trusted_proxies.len(), 1);
        assert_eq!(config.listen.port(), 0);
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = load_with("", &[("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "0")]).unwrap_err();
        assert_eq!(err.key, "rate_limits.standard.limit");
        let err = load_with("", &[("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "many")]).unwrap_err();
        assert_eq!(err.key, "rate_limits.standard.limit");
        let err = load_with("[tls]\nmode = \"off\"\n", &[]).unwrap_err();
        assert_eq!(err.key, "tls.trusted_proxies");
        let err = load_with("lisen = \"x\"\n", &[]).unwrap_err();
        assert!(err.message.contains("lisen"), "{err}");
    }
}
