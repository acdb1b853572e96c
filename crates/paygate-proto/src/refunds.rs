//! Refunds and balance transactions on the wire: the create body, the
//! refund object and one row of the balance's history.

use serde::{Deserialize, Serialize};

use crate::credentials::Environment;

/// `POST /v1/refunds`. Without `amount`, refunds what remains of the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// The `pay_...` id of a succeeded payment.
    pub payment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Free text for the merchant's records (up to 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where a crypto refund is sent (an address on the payment's network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<RefundDestination>,
}

/// Where a crypto refund goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundDestination {
    /// `ethereum` or `bitcoin`.
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refund {
    /// `re_...`.
    pub id: String,
    pub object: String,
    pub env: Environment,
    pub payment: String,
    pub amount: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub destination: Option<RefundDestination>,
    /// `pending`, `succeeded` or `failed` (funds back in `available`).
    pub status: String,
    pub failure_code: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
}

/// One movement of the `available` balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BalanceTransaction {
    /// `txn_...`.
    pub id: String,
    pub object: String,
    /// `payment`, `deposit`, `refund`, `withdrawal`, `release`, `reversal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The id of the object that moved the balance.
    pub source: Option<String>,
    /// Signed, in minor units: positive credits `available`.
    pub amount: i64,
    pub currency: String,
    /// `available` in this currency right after this movement.
    pub balance_after: Option<i64>,
    pub created_at: String,
}
