//! Refunds (docs/refunds.md): money paid back from a succeeded payment,
//! in full by default or in several partials, never more than it received
//! and never more than `available` holds. Each refund is written in one
//! transaction with the payment's `amount_refunded`, its ledger entries, its
//! events, an audit row and (by the caller) the idempotency record.
//!
//! Status: `pending` -> `succeeded` | `failed`. A card refund in test mode
//! succeeds at once. A crypto refund needs the payout path of its network,
//! which this server does not have yet: `422 network_unavailable`.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use paygate_proto::money::Currency;
use paygate_proto::refunds::{CreateRefund, Refund, RefundDestination};
use paygate_proto::{Environment, ErrorCode, FieldError, MerchantId, Scope};
use serde::Deserialize;
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
use crate::idempotency::{self, IdempotentJson};
use crate::keyset::{self, Listed};
use crate::ledger::{self, Account, Source};
use crate::store::{lock_rows, RowLock, StoreError, StoreResult};
use crate::{ids, outbox};

const COLUMNS: &str = "id, merchant_id, env, payment_id, amount, currency, reason, destination, status, \
    failure_code, created_at, updated_at, confirmed_at";
const LISTING: keyset::Listing = keyset::Listing {
    table: "refunds",
    columns: COLUMNS,
    sort_columns: keyset::money_sort_columns,
};
const MAX_REASON_CHARS: usize = 500;

struct Record {
    id: String,
    env: Environment,
    payment_id: String,
    amount: i64,
    currency: String,
    reason: Option<String>,
    destination: Option<String>,
    status: String,
    failure_code: Option<String>,
    created_at: i64,
    updated_at: i64,
    confirmed_at: Option<i64>,
}

fn record_from_row(row: &AnyRow) -> StoreResult<Record> {
    let env: String = row.try_get("env")?;
    Ok(Record {
        id: row.try_get("id")?,
        env: Environment::parse(&env).ok_or_else(|| StoreError::Corrupt("refunds.env".to_owned()))?,
        payment_id: row.try_get("payment_id")?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        reason: row.try_get("reason")?,
        destination: row.try_get("destination")?,
        status: row.try_get("status")?,
        failure_code: row.try_get("failure_code")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
    })
}

impl Record {
    fn to_api(&self) -> StoreResult<Refund> {
        let destination = match &self.destination {
            Some(text) => Some(
                serde_json::from_str::<RefundDestination>(text)
                    .map_err(|_| StoreError::Corrupt("refunds.destination".to_owned()))?,
            ),
            None => None,
        };
        Ok(Refund {
            id: self.id.clone(),
            object: "refund".to_owned(),
            env: self.env,
            payment: self.payment_id.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            reason: self.reason.clone(),
            destination,
            status: self.status.clone(),
            failure_code: self.failure_code.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            confirmed_at: self.confirmed_at.map(rfc3339),
        })
    }
}

/// A refund request that passed validation (before the payment is read).
#[derive(Debug, Clone)]
pub struct NewRefund {
    pub payment: String,
    pub amount: Option<i64>,
    pub reason: Option<String>,
    pub destination: Option<RefundDestination>,
}

/// Validates the body, naming every bad field at once.
pub fn validate(body: CreateRefund) -> ApiResult<NewRefund> {
    let mut errors = Vec::new();
    let payment = body.payment.trim().to_owned();
    if !payment.starts_with("pay_") || payment.len() > 64 {
        errors.push(FieldError::new("payment", "must be the id of a payment (pay_...)"));
    }
    if let Some(amount) = body.amount {
        paygate_proto::money::check_amount("amount", amount, &mut errors);
    }
    let reason = body.reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        errors.push(FieldError::new("reason", "must be at most 500 characters"));
    }
    if let Some(destination) = &body.destination {
        if !matches!(destination.kind.as_str(), "ethereum" | "bitcoin") || destination.address.trim().is_empty() {
            errors.push(FieldError::new(
                "destination",
                "must be {\"type\": \"ethereum\" | \"bitcoin\", \"address\"}",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(NewRefund {
        payment,
        amount: body.amount,
        reason,
        destination: body.destination,
    })
}

/// What a refund needs of its payment, read with the payment's row locked
/// until the transaction ends: concurrent refunds of one payment queue here.
struct Refundable {
    status: String,
    method: String,
    currency: String,
    received: i64,
    refunded: i64,
}

async fn lock_payment(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<Refundable> {
    let sql = format!(
        "SELECT status, method, currency, amount_received, amount_refunded FROM payments \
         WHERE id = $1 AND merchant_id = $2 AND env = $3{}",
        lock_rows(conn, RowLock::Wait)
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(Refundable {
        status: row.try_get("status")?,
        method: row.try_get("method")?,
        currency: row.try_get("currency")?,
        received: row.try_get("amount_received")?,
        refunded: row.try_get("amount_refunded")?,
    })
}

/// Creates a refund in the caller's transaction: checks the payment, the
/// amount and `available`, then writes the refund, the payment's
/// `amount_refunded`, the ledger entries, the events and the audit row.
pub async fn create_in(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    new: NewRefund,
    actor: &Actor,
    now: i64,
) -> ApiResult<Refund> {
    let payment = lock_payment(&mut *conn, merchant, env, &new.payment).await?;
    if payment.status != "succeeded" {
        return Err(ApiError::new(ErrorCode::InvalidState).with_detail(format!(
            "A payment that is {} cannot be refunded: only a succeeded payment can.",
            payment.status
        )));
    }
    let remaining = payment.received.saturating_sub(payment.refunded);
    let amount = new.amount.unwrap_or(remaining);
    if amount > remaining || amount <= 0 {
        return Err(ApiError::new(ErrorCode::RefundExceedsPayment)
            .with_detail(format!("{remaining} (minor units) remains to refund of this payment.")));
    }
    if payment.method != "card" {
        return Err(ApiError::new(ErrorCode::NetworkUnavailable).with_detail(
            "Refunds of crypto payments go out as payouts on their network, which this server cannot make yet.",
        ));
    }
    if new.destination.is_some() {
        return Err(ApiError::field(
            "destination",
            "a card refund goes back to the card: leave it out",
        ));
    }
    let currency =
        Currency::parse(&payment.currency).ok_or_else(|| StoreError::Corrupt("payments.currency".to_owned()))?;
    // Read (and lock) inside the writer's transaction: every earlier refund or
    // withdrawal is already counted, so concurrent ones cannot overdraw.
    let available = ledger::balance(&mut *conn, merchant, env, Account::Available, currency).await?;
    if available < amount {
        return Err(ApiError::new(ErrorCode::InsufficientFunds));
    }
    let mut record = Record {
        id: ids::new_id("re"),
        env,
        payment_id: new.payment,
        amount,
        currency: currency.as_str().to_owned(),
        reason: new.reason,
        destination: None,
        status: "pending".to_owned(),
        failure_code: None,
        created_at: now,
        updated_at: now,
        confirmed_at: None,
    };
    let created = record.to_api()?;
    // A card refund settles at once (test mode has no card network to wait
    // for; live mode has no card payments): the row is written in its final
    // state, with both events.
    ledger::transfer(
        &mut *conn,
        merchant,
        env,
        currency,
        amount,
        Account::Available,
        Account::ExternalCard,
        Source::new("refund", &record.id),
        now,
    )
    .await?;
    "succeeded".clone_into(&mut record.status);
    record.confirmed_at = Some(now);
    sqlx::query("UPDATE payments SET amount_refunded = amount_refunded + $1, updated_at = $2 WHERE id = $3")
        .bind(amount)
        .bind(now)
        .bind(&record.payment_id)
        .execute(&mut *conn)
        .await?;
    let sql =
        format!("INSERT INTO refunds ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)");
    sqlx::query(&sql)
        .bind(&record.id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(&record.payment_id)
        .bind(record.amount)
        .bind(&record.currency)
        .bind(record.reason.clone())
        .bind(record.destination.clone())
        .bind(&record.status)
        .bind(record.failure_code.clone())
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.confirmed_at)
        .execute(&mut *conn)
        .await?;
    let refund = record.to_api()?;
    outbox::record_event(&mut *conn, merchant, env, "refund.created", json!(created), now).await?;
    outbox::record_event(&mut *conn, merchant, env, "refund.succeeded", json!(refund), now).await?;
    let entry = actor.stamp(AuditEntry::new("refund.created", Outcome::Success).merchant(merchant, env).details(
        json!({ "refund_id": refund.id, "payment_id": refund.payment, "amount": amount, "currency": refund.currency }),
    ));
    audit::record(conn, &entry, now).await?;
    Ok(refund)
}

#[utoipa::path(post, path = "/v1/refunds", operation_id = "createRefund", tag = "refunds", request_body = CreateRefund,
    responses((status = 200, body = Refund), (status = 400, body = paygate_proto::Problem),
        (status = 404, body = paygate_proto::Problem), (status = 409, body = paygate_proto::Problem),
        (status = 422, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    IdempotentJson { body, key }: IdempotentJson<CreateRefund>,
) -> ApiResult<Response> {
    caller.require(Scope::PaymentsWrite)?;
    let new = validate(body)?;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    let actor = Actor::api(&caller, client_ip);
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { create_in(conn, &merchant, env, new, &actor, now).await })
    })
    .await
}

#[utoipa::path(get, path = "/v1/refunds/{id}", operation_id = "retrieveRefund", tag = "refunds",
    responses((status = 200, body = Refund), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<ApiJson<Refund>> {
    caller.require(Scope::PaymentsRead)?;
    let sql = format!("SELECT {COLUMNS} FROM refunds WHERE id = $1 AND merchant_id = $2 AND env = $3");
    let row = sqlx::query(&sql)
        .bind(&id)
        .bind(caller.merchant_id.as_str())
        .bind(caller.env.as_str())
        .fetch_optional(state.store().pool())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(ApiJson(record_from_row(&row)?.to_api()?))
}

/// The filter of `GET /v1/refunds`, beside the list parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundFilter {
    /// Only the refunds of this payment (`pay_...`).
    payment: Option<String>,
}

#[utoipa::path(get, path = "/v1/refunds", operation_id = "listRefunds", tag = "refunds", params(crate::http::list::ListQuery, RefundFilter),
    responses((status = 200, description = "A page of refunds", body = crate::openapi::schemas::RefundList)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
    Query(filter): Query<RefundFilter>,
) -> ApiResult<ApiJson<ListReply<Listed<Refund>>>> {
    caller.require(Scope::PaymentsRead)?;
    Ok(ApiJson(
        refunds_page(
            &state,
            &caller.merchant_id,
            caller.env,
            &page,
            filter.payment.as_deref(),
        )
        .await?,
    ))
}

/// A page of the tenant's refunds (of one payment, if given).
pub async fn refunds_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
    payment: Option<&str>,
) -> ApiResult<ListReply<Listed<Refund>>> {
    let filter = payment.map(|id| ("payment_id", id));
    Ok(
        keyset::page_where(state.store(), &LISTING, merchant, env, page, filter, |row| {
            record_from_row(row)?.to_api()
        })
        .await?,
    )
}
