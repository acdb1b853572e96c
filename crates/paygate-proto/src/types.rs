//! Request and response shapes shared by the server and the SDK.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::credentials::Environment;

/// One currency's balance, in minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    pub available: i64,
    pub pending: i64,
    pub reserved: i64,
}

/// `GET /v1/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Balance {
    pub object: String,
    pub env: Environment,
    /// Keyed by ISO currency code.
    pub balances: BTreeMap<String, CurrencyBalance>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    pub status: String,
}

/// `POST /v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<Vec<String>>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyInfo {
    pub id: String,
    pub object: String,
    pub name: String,
    pub env: Environment,
    /// Masked: `sk_live_AbCd…wxyz`.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    /// Older than `auth.key_rotation_days`: roll it (docs/api.md section 14).
    #[serde(default)]
    pub rotation_due: bool,
}

/// A key as issued: the only answer that carries `key` and `secret`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedApiKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    pub key: String,
    pub secret: String,
}

impl std::fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedApiKey")
            .field("info", &self.info)
            .field("key", &"[redacted]")
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// The answer of `POST /v1/security/lockdown`: what ended, and the one new
/// key and secret (shown this once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LockdownReply {
    pub object: String,
    pub env: Environment,
    pub locked_at: String,
    pub revoked_keys: u64,
    pub ended_sessions: u64,
    pub spent_ws_tokens: u64,
    pub expired_checkout_sessions: u64,
    /// The one key that works from now on, with its secret.
    pub new_key: IssuedApiKey,
}

/// The answer to `POST /v1/leaked-keys`: always the same, whatever the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeakReceipt {
    pub received: bool,
}
