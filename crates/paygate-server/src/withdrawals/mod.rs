//! Withdrawals (docs/api.md section 8): funds reserved at creation inside the
//! same transaction that checks them (so no concurrency can overdraw),
//! approval and rejection with the API secret and `payouts:approve`, test
//! mode paying at once, and destinations validated before anything moves.
//!
//! Status: `pending_approval` -> `processing` -> `paid` | `failed`, or
//! `pending_approval` -> `rejected`. Anything else is `409 invalid_state`.

use axum::extract::{Path, State};
use axum::response::Response;
use paygate_proto::money::{check_amount, check_currency, Currency};
use paygate_proto::payments::{CreateWithdrawal, Destination, Withdrawal};
use paygate_proto::{Environment, ErrorCode, MerchantId, Scope};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::api_keys::Actor;
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Page};
use crate::http::{ApiError, ApiJson, ApiResult, ClientIp};
use crate::idempotency::{self, BodylessKey, IdempotentJson};
use crate::keyset::{self, Listed};
use crate::ledger::{self, Account};
use crate::store::{lock_rows, RowLock, StoreError, StoreResult};
use crate::{ids, outbox};

mod destination;
mod settle;
pub use destination::check_destination;
pub use settle::{settle_payout, Settlement};

const COLUMNS: &str = "id, merchant_id, env, amount, currency, destination, status, failure_code, created_at, \
     updated_at, confirmed_at, chain";
const LISTING: keyset::Listing = keyset::Listing {
    table: "withdrawals",
    columns: COLUMNS,
    sort_columns: keyset::money_sort_columns,
};

struct Record {
    id: String,
    env: Environment,
    amount: i64,
    currency: String,
    destination: String,
    status: String,
    failure_code: Option<String>,
    created_at: i64,
    updated_at: i64,
    confirmed_at: Option<i64>,
    /// The `chain` object (JSON), kept by the payout runner.
    chain: Option<String>,
}

fn record_from_row(row: &AnyRow) -> StoreResult<Record> {
    let env: String = row.try_get("env")?;
    Ok(Record {
        id: row.try_get("id")?,
        env: Environment::parse(&env).ok_or_else(|| StoreError::Corrupt("withdrawals.env".to_owned()))?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        destination: row.try_get("destination")?,
        status: row.try_get("status")?,
        failure_code: row.try_get("failure_code")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        chain: row.try_get("chain")?,
    })
}

impl Record {
    fn to_api(&self) -> StoreResult<Withdrawal> {
        Ok(Withdrawal {
            id: self.id.clone(),
            object: "withdrawal".to_owned(),
            env: self.env,
            amount: self.amount,
            currency: self.currency.clone(),
            destination: serde_json::from_str(&self.destination)
                .map_err(|_| StoreError::Corrupt("withdrawals.destination".to_owned()))?,
            status: self.status.clone(),
            failure_code: self.failure_code.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            confirmed_at: self.confirmed_at.map(rfc3339),
            chain: match &self.chain {
                Some(chain) => {
                    Some(serde_json::from_str(chain).map_err(|_| StoreError::Corrupt("withdrawals.chain".to_owned()))?)
                }
                None => None,
            },
        })
    }

    fn currency(&self) -> StoreResult<Currency> {
        Currency::parse(&self.currency).ok_or_else(|| StoreError::Corrupt("withdrawals.currency".to_owned()))
    }
}

/// One withdrawal, or 404; with `lock` (from [`lock_rows`]) its row stays
/// locked until the caller's transaction ends, so two instances never both
/// approve or reject it.
async fn load_or_404(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    lock: &'static str,
) -> ApiResult<Record> {
    let sql = format!("SELECT {COLUMNS} FROM withdrawals WHERE id = $1 AND merchant_id = $2 AND env = $3{lock}");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(record_from_row(&row)?)
}

async fn set_status(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    record: &mut Record,
    status: &str,
    event: &str,
    now: i64,
) -> ApiResult<Withdrawal> {
    let confirmed = (status == "paid").then_some(now);
    sqlx::query(
        "UPDATE withdrawals SET status = $1, updated_at = $2, confirmed_at = COALESCE($3, confirmed_at), \
         failure_code = $4, chain = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(now)
    .bind(confirmed)
    .bind(record.failure_code.clone())
    .bind(record.chain.clone())
    .bind(&record.id)
    .execute(&mut *conn)
    .await?;
    status.clone_into(&mut record.status);
    record.updated_at = now;
    record.confirmed_at = confirmed.or(record.confirmed_at);
    let object = record.to_api()?;
    outbox::record_event(conn, merchant, record.env, event, json!(object), now).await?;
    Ok(object)
}

#[utoipa::path(post, path = "/v1/withdrawal-requests", operation_id = "createWithdrawal", tag = "withdrawals", request_body = CreateWithdrawal,
    responses((status = 200, body = Withdrawal), (status = 400, body = paygate_proto::Problem), (status = 422, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<CreateWithdrawal>,
) -> ApiResult<Response> {
    caller.require(Scope::PayoutsWrite)?;
    if key.is_none() {
        return Err(ApiError::new(ErrorCode::IdempotencyKeyRequired));
    }
    let mut errors = Vec::new();
    check_amount("amount", body.amount, &mut errors);
    let currency = check_currency("currency", &body.currency, &mut errors);
    let Some(currency) = currency.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let destination = check_destination(&body.destination, currency, caller.env)?;
    if matches!(destination, Destination::Ethereum { .. }) {
        let (chain, _) = crate::chain::rail::chain_of(&state, caller.env)?;
        crate::chain::rail::token_on(chain, caller.env, currency)?;
    }
    let destination = serde_json::to_string(&destination).map_err(ApiError::internal)?;
    let amount = body.amount;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move {
            // Read inside the writer's transaction: every earlier reservation
            // is already counted, so concurrent requests cannot overdraw.
            let available = ledger::balance(&mut *conn, &merchant, env, Account::Available, currency).await?;
            if available < amount {
                return Err(ApiError::new(ErrorCode::InsufficientFunds));
            }
            let mut record = Record {
                id: ids::new_id("wd"),
                env,
                amount,
                currency: currency.as_str().to_owned(),
                destination,
                status: "pending_approval".to_owned(),
                failure_code: None,
                created_at: now,
                updated_at: now,
                confirmed_at: None,
                chain: None,
            };
            let sql = format!(
                "INSERT INTO withdrawals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)"
            );
            sqlx::query(&sql)
                .bind(&record.id)
                .bind(merchant.as_str())
                .bind(env.as_str())
                .bind(record.amount)
                .bind(&record.currency)
                .bind(&record.destination)
                .bind(&record.status)
                .bind(record.failure_code.clone())
                .bind(record.created_at)
                .bind(record.updated_at)
                .bind(record.confirmed_at)
                .execute(&mut *conn)
                .await?;
            ledger::transfer(
                &mut *conn,
                &merchant,
                env,
                currency,
                amount,
                Account::Available,
                Account::Reserved,
                ledger::Source::new("withdrawal", &record.id),
                now,
            )
            .await?;
            record.updated_at = now;
            let object = record.to_api()?;
            outbox::record_event(conn, &merchant, env, "withdrawal.created", json!(object), now).await?;
            Ok(object)
        })
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

#[utoipa::path(post, path = "/v1/withdrawal-requests/{id}/approve", operation_id = "approveWithdrawal", tag = "withdrawals",
    responses((status = 200, body = Withdrawal), (status = 401, body = paygate_proto::Problem), (status = 409, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    BodylessKey(key): BodylessKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(state, caller, client_ip, key, id, Decision::Approve).await
}

#[utoipa::path(post, path = "/v1/withdrawal-requests/{id}/reject", operation_id = "rejectWithdrawal", tag = "withdrawals",
    responses((status = 200, body = Withdrawal), (status = 401, body = paygate_proto::Problem), (status = 409, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    BodylessKey(key): BodylessKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(state, caller, client_ip, key, id, Decision::Reject).await
}

/// Approves or rejects a pending withdrawal, with its ledger entries, its
/// events and an audit row, in one transaction.
async fn decide(
    state: AppState,
    caller: Caller,
    client_ip: ClientIp,
    key: Option<idempotency::IdempotencyKey>,
    id: String,
    decision: Decision,
) -> ApiResult<Response> {
    caller.require(Scope::PayoutsApprove)?;
    caller.require_secret()?;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    let actor = Actor::api(&caller, client_ip);
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { decide_in(conn, &merchant, env, &id, decision, &actor, now).await })
    })
    .await
}

/// Approves or rejects a pending withdrawal, with its ledger entries, its
/// events and an audit row, in the caller's transaction.
pub async fn decide_in(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    decision: Decision,
    actor: &Actor,
    now: i64,
) -> ApiResult<Withdrawal> {
    let lock = lock_rows(conn, RowLock::Wait);
    let mut record = load_or_404(&mut *conn, merchant, env, id, lock).await?;
    if record.status != "pending_approval" {
        return Err(ApiError::new(ErrorCode::InvalidState).with_detail(format!(
            "A withdrawal that is {} cannot be approved or rejected.",
            record.status
        )));
    }
    let currency = record.currency()?;
    let amount = record.amount;
    let (action, object) = match decision {
        Decision::Reject => {
            ledger::transfer(
                &mut *conn,
                merchant,
                env,
                currency,
                amount,
                Account::Reserved,
                Account::Available,
                ledger::Source::new("release", id),
                now,
            )
            .await?;
            (
                "payout.rejected",
                set_status(
                    &mut *conn,
                    merchant,
                    &mut record,
                    "rejected",
                    "withdrawal.rejected",
                    now,
                )
                .await?,
            )
        }
        Decision::Approve => {
            let approved = set_status(
                &mut *conn,
                merchant,
                &mut record,
                "processing",
                "withdrawal.approved",
                now,
            )
            .await?;
            // Test mode has no payout rail to wait for: it pays at once,
            // except on a chain, where only the chain says a payout is paid.
            let on_chain = matches!(
                serde_json::from_str(&record.destination),
                Ok(Destination::Ethereum { .. })
            );
            let object = if env == Environment::Test && !on_chain {
                ledger::transfer(
                    &mut *conn,
                    merchant,
                    env,
                    currency,
                    amount,
                    Account::Reserved,
                    Account::ExternalPayout,
                    ledger::Source::new("payout", id),
                    now,
                )
                .await?;
                set_status(&mut *conn, merchant, &mut record, "paid", "withdrawal.paid", now).await?
            } else {
                approved
            };
            ("payout.approved", object)
        }
    };
    let entry = actor.stamp(
        AuditEntry::new(action, Outcome::Success)
            .merchant(merchant, env)
            .details(json!({ "withdrawal_id": object.id, "amount": amount, "currency": currency.as_str() })),
    );
    audit::record(conn, &entry, now).await?;
    Ok(object)
}

#[utoipa::path(get, path = "/v1/withdrawal-requests/{id}", operation_id = "retrieveWithdrawal", tag = "withdrawals",
    responses((status = 200, body = Withdrawal), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<Withdrawal>> {
    caller.require(Scope::PaymentsRead)?;
    let mut conn = state.store().pool().acquire().await?;
    let record = load_or_404(&mut conn, &caller.merchant_id, caller.env, &id, "").await?;
    Ok(ApiJson(record.to_api()?))
}

#[utoipa::path(get, path = "/v1/withdrawal-requests", operation_id = "listWithdrawals", tag = "withdrawals", params(crate::http::list::ListQuery),
    responses((status = 200, description = "A page of withdrawals", body = crate::openapi::schemas::WithdrawalList)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<Listed<Withdrawal>>>> {
    caller.require(Scope::PaymentsRead)?;
    Ok(ApiJson(
        withdrawals_page(&state, &caller.merchant_id, caller.env, &page).await?,
    ))
}

/// A page of the tenant's withdrawals, with the list rules of section 7.
pub async fn withdrawals_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
) -> ApiResult<ListReply<Listed<Withdrawal>>> {
    Ok(keyset::page_of(state.store(), &LISTING, merchant, env, page, |row| {
        record_from_row(row)?.to_api()
    })
    .await?)
}
