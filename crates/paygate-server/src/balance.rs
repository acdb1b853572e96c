//! `GET /v1/balance`: per-currency sums of the merchant's ledger accounts.

use std::collections::BTreeMap;

use axum::extract::State;
use paygate_proto::types::{Balance, CurrencyBalance};
use paygate_proto::Scope;

use crate::app::AppState;
use crate::auth::Caller;
use crate::http::{ApiJson, ApiResult};

#[utoipa::path(
    get,
    path = "/v1/balance",
    operation_id = "retrieveBalance",
    tag = "balance",
    responses(
        (status = 200, description = "Balances per currency, in minor units", body = Balance),
        (status = 401, description = "Missing or invalid credentials", body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn get_balance(State(state): State<AppState>, caller: Caller) -> ApiResult<ApiJson<Balance>> {
    caller.require(Scope::PaymentsRead)?;
    let rows = state.store().balances(&caller.merchant_id, caller.env).await?;
    let mut balances: BTreeMap<String, CurrencyBalance> = BTreeMap::new();
    for row in rows {
        let entry = balances.entry(row.currency).or_insert(CurrencyBalance {
            available: 0,
            pending: 0,
            reserved: 0,
        });
        match row.account.as_str() {
            "available" => entry.available = row.amount,
            "pending" => entry.pending = row.amount,
            "reserved" => entry.reserved = row.amount,
            _ => {}
        }
    }
    Ok(ApiJson(Balance {
        object: "balance".to_owned(),
        env: caller.env,
        balances,
    }))
}
