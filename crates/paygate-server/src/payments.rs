//! Payments (docs/api.md section 8): creation with full validation, test-mode
//! card confirmation, crypto payments with their own address, cancel, expiry,
//! reads and lists. Every change writes its ledger entries and its event in
//! the same transaction.
//!
//! Status: `requires_payment` -> `processing` -> `succeeded` | `failed`, or
//! `canceled` | `expired` from `requires_payment`.

use axum::extract::{Path, State};
use axum::response::Response;
use paygate_proto::payments::{CreatePayment, Payment};
use paygate_proto::{Environment, ErrorCode, MerchantId, Scope};
use serde_json::json;
use sqlx::{AnyConnection, Row as _};

use crate::app::AppState;
use crate::auth::Caller;
use crate::http::list::{ListReply, Page};
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::idempotency::{self, BodylessKey, IdempotentJson};
use crate::keyset::{self, Listed};
use crate::ledger::{self, Account};
use crate::store::{lock_rows, RowLock, Store, StoreResult};
use crate::{ids, outbox, wallets};

/// An unpaid payment expires this long after creation.
pub const PAYMENT_TTL_SECS: i64 = 24 * 3600;

mod cards;
mod record;
mod stablecoin;
mod validate;

pub use self::cards::{test_card, CardOutcome};
use self::record::{insert, record_from_row, Record, COLUMNS, LISTING};
use self::validate::{validate, Method, NewPayment};

/// One payment; with `lock` (from [`lock_rows`]) its row stays locked until
/// the caller's transaction ends, so instances never both move a payment on
/// from the same state.
async fn load(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    lock: &'static str,
) -> StoreResult<Option<Record>> {
    let sql = format!("SELECT {COLUMNS} FROM payments WHERE id = $1 AND merchant_id = $2 AND env = $3{lock}");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(record_from_row).transpose()
}

/// One payment to change: locked (see [`load`]), or 404.
async fn load_for_change(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<Record> {
    let lock = lock_rows(conn, RowLock::Wait);
    load(conn, merchant, env, id, lock)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
}

/// Moves a payment to `status` and writes its event.
async fn set_status(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    record: &mut Record,
    status: &str,
    failure_code: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let confirmed = matches!(status, "succeeded").then_some(now);
    sqlx::query(
        "UPDATE payments SET status = $1, failure_code = $2, updated_at = $3, \
         confirmed_at = COALESCE($4, confirmed_at), amount_received = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(failure_code)
    .bind(now)
    .bind(confirmed)
    .bind(record.amount_received)
    .bind(&record.id)
    .execute(&mut *conn)
    .await?;
    status.clone_into(&mut record.status);
    record.failure_code = failure_code.map(str::to_owned);
    record.updated_at = now;
    record.confirmed_at = confirmed.or(record.confirmed_at);
    let event = format!("payment.{status}");
    outbox::record_event(conn, merchant, record.env, &event, json!(record.to_api()), now).await?;
    Ok(())
}

/// Marks the payment expired if it is unpaid past its expiry; returns
/// whether it did.
async fn expire_if_due(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    record: &mut Record,
    now: i64,
) -> ApiResult<bool> {
    if record.status == "requires_payment" && now >= record.expires_at {
        set_status(conn, merchant, record, "expired", None, now).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Records `amount` received by a crypto payment (the ledger entry is the
/// caller's); succeeds it once the amount is covered.
pub async fn receive(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    amount: i64,
    now: i64,
) -> ApiResult<()> {
    let mut record = load_for_change(&mut *conn, merchant, env, id).await?;
    expire_if_due(&mut *conn, merchant, &mut record, now).await?;
    record.amount_received = record.amount_received.saturating_add(amount);
    let open = matches!(record.status.as_str(), "requires_payment" | "processing");
    if open && record.amount_received >= record.amount {
        set_status(conn, merchant, &mut record, "succeeded", None, now).await?;
    } else {
        sqlx::query("UPDATE payments SET amount_received = $1, updated_at = $2 WHERE id = $3")
            .bind(record.amount_received)
            .bind(now)
            .bind(&record.id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Creates the payment, its address or card outcome, its ledger entries and
/// its events, inside the caller's transaction.
async fn create_in(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    new: NewPayment,
    now: i64,
) -> ApiResult<Payment> {
    let id = ids::new_id("pay");
    let mut record = Record {
        id: id.clone(),
        env,
        amount: new.amount,
        currency: new.currency.as_str().to_owned(),
        method: match new.method {
            Method::Card => "card",
            Method::Crypto => "crypto",
        }
        .to_owned(),
        status: "requires_payment".to_owned(),
        description: new.description,
        metadata: serde_json::to_string(&new.metadata).map_err(ApiError::internal)?,
        card_brand: new.card.as_ref().map(|_| "visa".to_owned()),
        card_last4: new.card.as_ref().map(|c| c.last4.clone()),
        crypto_network: None,
        crypto_address: None,
        crypto_token_contract: None,
        crypto_confirmations: None,
        amount_received: 0,
        amount_refunded: 0,
        failure_code: None,
        created_at: now,
        updated_at: now,
        confirmed_at: None,
        expires_at: now.saturating_add(PAYMENT_TTL_SECS),
    };
    if let Some(target) = &new.stablecoin {
        stablecoin::assign(&mut *conn, target, merchant, &mut record, now).await?;
    } else if new.method == Method::Crypto {
        let address = wallets::next_address(&mut *conn, merchant, env, Some(&id), "method", now).await?;
        record.crypto_network = Some(address.network);
        record.crypto_address = Some(address.address);
    }
    let created = record.to_api();
    // A test card settles at creation: the row is written once, in its final
    // state, with both events (created, then the outcome).
    let outcome = new.card.map(|card| match card.outcome {
        CardOutcome::Succeeds => ("succeeded", None),
        CardOutcome::Declined => ("failed", Some("card_declined")),
        CardOutcome::InsufficientFunds => ("failed", Some("insufficient_funds")),
    });
    if let Some((status, failure_code)) = outcome {
        status.clone_into(&mut record.status);
        record.failure_code = failure_code.map(str::to_owned);
        if status == "succeeded" {
            record.amount_received = record.amount;
            record.confirmed_at = Some(now);
            ledger::transfer(
                &mut *conn,
                merchant,
                env,
                new.currency,
                record.amount,
                Account::ExternalCard,
                Account::Available,
                ledger::Source::new("payment", &id),
                now,
            )
            .await?;
        }
    }
    insert(&mut *conn, merchant, &record).await?;
    outbox::record_event(&mut *conn, merchant, env, "payment.created", json!(created), now).await?;
    if let Some((status, _)) = outcome {
        let event = format!("payment.{status}");
        outbox::record_event(&mut *conn, merchant, env, &event, json!(record.to_api()), now).await?;
    }
    Ok(record.to_api())
}

/// One payment as the API shows it, read through the caller's connection.
pub(crate) async fn find(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
) -> ApiResult<Option<Payment>> {
    Ok(load(conn, merchant, env, id, "").await?.map(|record| record.to_api()))
}

/// Validates and creates a payment inside the caller's transaction, for a
/// checkout session's payor (the session fixes the amount and currency).
pub(crate) async fn create_for_checkout(
    state: &AppState,
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    body: CreatePayment,
    now: i64,
) -> ApiResult<Payment> {
    let mut new = validate(body, env, now)?;
    new.stablecoin = stablecoin::target(state, env, &new)?;
    create_in(conn, merchant, env, new, now).await
}

#[utoipa::path(post, path = "/v1/payments", operation_id = "createPayment", tag = "payments", request_body = CreatePayment,
    responses((status = 200, body = Payment), (status = 400, body = paygate_proto::Problem),
        (status = 422, description = "`network_unavailable`: no chain, or no contract for this token, in this environment", body = paygate_proto::Problem),
        (status = 503, description = "The signer did not answer; retry", body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<CreatePayment>,
) -> ApiResult<Response> {
    caller.require(Scope::PaymentsWrite)?;
    let now = state.now();
    let mut new = validate(body, caller.env, now)?;
    new.stablecoin = stablecoin::target(&state, caller.env, &new)?;
    let (merchant, env) = (caller.merchant_id.clone(), caller.env);
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { create_in(conn, &merchant, env, new, now).await })
    })
    .await
}

#[utoipa::path(get, path = "/v1/payments/{id}", operation_id = "retrievePayment", tag = "payments",
    responses((status = 200, body = Payment), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<ApiJson<Payment>> {
    caller.require(Scope::PaymentsRead)?;
    Ok(ApiJson(
        find_payment(&state, &caller.merchant_id, caller.env, id).await?,
    ))
}

/// One of the tenant's payments, or `404`. Reads never show an unpaid
/// payment past its expiry as payable: it is expired first.
pub async fn find_payment(state: &AppState, merchant: &MerchantId, env: Environment, id: String) -> ApiResult<Payment> {
    let mut conn = state.store().pool().acquire().await?;
    let record = load(&mut conn, merchant, env, &id, "")
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    drop(conn);
    if record.status == "requires_payment" && state.now() >= record.expires_at {
        let (merchant, now) = (merchant.clone(), state.now());
        let payment = state
            .store()
            .write(move |conn: &mut AnyConnection| {
                Box::pin(async move {
                    let mut record = load_for_change(&mut *conn, &merchant, env, &id).await?;
                    expire_if_due(&mut *conn, &merchant, &mut record, now).await?;
                    Ok::<_, ApiError>(record.to_api())
                })
            })
            .await?;
        return Ok(payment);
    }
    Ok(record.to_api())
}

#[utoipa::path(get, path = "/v1/payments", operation_id = "listPayments", tag = "payments", params(crate::http::list::ListQuery),
    responses((status = 200, description = "A page of payments", body = crate::openapi::schemas::PaymentList)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    page: Page,
) -> ApiResult<ApiJson<ListReply<Listed<Payment>>>> {
    caller.require(Scope::PaymentsRead)?;
    Ok(ApiJson(
        payments_page(&state, &caller.merchant_id, caller.env, &page).await?,
    ))
}

/// A page of the tenant's payments, with the list rules of section 7.
pub async fn payments_page(
    state: &AppState,
    merchant: &MerchantId,
    env: Environment,
    page: &Page,
) -> ApiResult<ListReply<Listed<Payment>>> {
    Ok(keyset::page_of(state.store(), &LISTING, merchant, env, page, |row| {
        Ok(record_from_row(row)?.to_api())
    })
    .await?)
}

#[utoipa::path(post, path = "/v1/payments/{id}/cancel", operation_id = "cancelPayment", tag = "payments",
    responses((status = 200, body = Payment), (status = 409, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    BodylessKey(key): BodylessKey,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    caller.require(Scope::PaymentsWrite)?;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move {
            let mut record = load_for_change(&mut *conn, &merchant, env, &id).await?;
            if record.status != "requires_payment" || now >= record.expires_at {
                let status = if record.status == "requires_payment" {
                    "expired"
                } else {
                    &record.status
                };
                return Err(ApiError::new(ErrorCode::InvalidState)
                    .with_detail(format!("A payment that is {status} cannot be canceled.")));
            }
            set_status(conn, &merchant, &mut record, "canceled", None, now).await?;
            Ok(record.to_api())
        })
    })
    .await
}

/// Expires every unpaid payment past its expiry (a maintenance sweep, so
/// `payment.expired` events go out without anyone reading the payment).
pub async fn expire_due(store: &Store, now: i64) -> ApiResult<u64> {
    store
        .write(move |conn: &mut AnyConnection| {
            Box::pin(async move {
                // Payments another instance is changing are left to it.
                let sql = format!(
                    "SELECT {COLUMNS} FROM payments WHERE status = 'requires_payment' AND expires_at <= $1 LIMIT 500{}",
                    lock_rows(conn, RowLock::SkipLocked)
                );
                let rows = sqlx::query(&sql).bind(now).fetch_all(&mut *conn).await?;
                let mut expired = 0;
                for row in rows {
                    let merchant: String = row.try_get("merchant_id")?;
                    let merchant = MerchantId::parse(&merchant)
                        .map_err(|_| ApiError::internal("payments.merchant_id is not a merchant id"))?;
                    let mut record = record_from_row(&row)?;
                    if expire_if_due(&mut *conn, &merchant, &mut record, now).await? {
                        expired += 1;
                    }
                }
                Ok(expired)
            })
        })
        .await
}
