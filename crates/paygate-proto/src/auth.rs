//! Shapes of the two-layer credential API (docs/api.md section 3, 4.2, 4.5, 12): token
//! exchange, key rolls, the security policy and audit events.

use serde::{Deserialize, Serialize};

/// `POST /v1/auth/token`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// Send as `x-session-id` with every call made with the token.
    pub session_id: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("session_id", &self.session_id)
            .finish()
    }
}

/// `POST /v1/api-keys/{id}/roll`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollApiKey {
    /// Seconds the old key keeps working (default 86400, max 604800, 0 = now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_old_in: Option<u64>,
}

/// `GET /v1/security/policy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecurityPolicy {
    pub require_signature: bool,
    pub require_token: bool,
}

/// `PUT /v1/security/policy`: fields left out keep their value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSecurityPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_signature: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_token: Option<bool>,
}

/// One row of `GET /v1/audit-events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: String,
    pub object: String,
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// For a failure, the error code (and the audit-only reason in `details`).
    pub reason: Option<String>,
    /// A masked key prefix, an email or `operator`; never a credential.
    pub actor: Option<String>,
    pub ip: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: String,
}
