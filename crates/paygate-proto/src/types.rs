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
