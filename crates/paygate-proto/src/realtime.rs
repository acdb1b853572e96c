//! Realtime socket tokens (docs/api.md section 9).

use serde::{Deserialize, Serialize};

/// `POST /v1/realtime/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRealtimeToken {
    /// Limit the socket to the events of one checkout session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkout_session: Option<String>,
}

/// A single-use token for `wss://host/v1/realtime?ws_token=…`, valid 60 s.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RealtimeToken {
    pub ws_token: String,
    pub expires_in: u64,
}

impl std::fmt::Debug for RealtimeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeToken")
            .field("ws_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}
