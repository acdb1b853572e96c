//! Checkout sessions and the payor's routes (docs/api.md section 9).

use serde::{Deserialize, Serialize};

use crate::credentials::Environment;
use crate::payments::{CardDetails, Payment};

/// `POST /v1/checkout/sessions` (server to server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCheckoutSession {
    pub amount: i64,
    pub currency: String,
    /// `card` and/or `crypto`; default both that fit the currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// Seconds until the session expires: 60 to 86400, default 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// A checkout session as the merchant and the payor see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckoutSession {
    pub id: String,
    pub object: String,
    pub env: Environment,
    pub amount: i64,
    pub currency: String,
    pub methods: Vec<String>,
    /// `open`, `complete` or `expired`.
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    /// The payment made in this session, once the payor has paid.
    pub payment: Option<Payment>,
}

/// The answer to creation: the only time the two browser values are shown.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedCheckoutSession {
    #[serde(flatten)]
    pub session: CheckoutSession,
    /// For the payor's browser: `x-session-token`.
    pub session_token: String,
    /// For the payor's browser: the key of its request signatures.
    pub session_secret: String,
    /// The hosted page, with both values in its fragment (never sent to a server).
    pub url: String,
}

impl std::fmt::Debug for CreatedCheckoutSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedCheckoutSession")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/payor/session/pay`. The amount and currency are the session's:
/// a body that names them is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayorPayment {
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardDetails>,
}
