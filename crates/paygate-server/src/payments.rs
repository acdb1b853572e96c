//! Payments (docs/api.md section 8): creation with full validation, test-mode
//! card confirmation, crypto payments with their own address, cancel, expiry,
//! reads and lists. Every change writes its ledger entries and its event in
//! the same transaction.
//!
//! Status: `requires_payment` -> `processing` -> `succeeded` | `failed`, or
//! `canceled` | `expired` from `requires_payment`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use paygate_proto::money::{check_amount, check_currency, check_metadata, Currency};
use paygate_proto::payments::{CardDetails, CardSummary, CreatePayment, CryptoTarget, Payment};
use paygate_proto::{Environment, ErrorCode, FieldError, MerchantId, Scope};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};
use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::http::list::{ListReply, Page};
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::idempotency::{self, BodylessKey, IdempotentJson};
use crate::keyset::{self, Listed};
use crate::ledger::{self, Account};
use crate::store::{lock_rows, RowLock, Store, StoreError, StoreResult};
use crate::{ids, outbox, wallets};

/// An unpaid payment expires this long after creation.
pub const PAYMENT_TTL_SECS: i64 = 24 * 3600;
const MAX_DESCRIPTION_CHARS: usize = 1000;

const COLUMNS: &str = "id, merchant_id, env, amount, currency, method, status, description, metadata, card_brand, \
    card_last4, crypto_network, crypto_address, amount_received, failure_code, created_at, updated_at, confirmed_at, expires_at, amount_refunded";
const LISTING: keyset::Listing = keyset::Listing {
    table: "payments",
    columns: COLUMNS,
    sort_columns: keyset::money_sort_columns,
};

/// What a test card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Succeeds,
    Declined,
    InsufficientFunds,
}

/// The test cards of docs/api.md section 8.
pub fn test_card(number: &str) -> Option<CardOutcome> {
    match number {
        "4242424242424242" => Some(CardOutcome::Succeeds),
        "4000000000000002" => Some(CardOutcome::Declined),
        "4000000000009995" => Some(CardOutcome::InsufficientFunds),
        _ => None,
    }
}

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum.is_multiple_of(10)
}

/// A validated test card: its outcome and what may be shown of it.
struct CheckedCard {
    outcome: CardOutcome,
    last4: String,
}

fn check_card(card: &CardDetails, now: i64, errors: &mut Vec<FieldError>) -> Option<CheckedCard> {
    let digits: String = card.number.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let mut ok = true;
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || !luhn_valid(&digits) {
        errors.push(FieldError::new("card.number", "is not a valid card number"));
        ok = false;
    } else if test_card(&digits).is_none() {
        errors.push(FieldError::new(
            "card.number",
            "test mode takes the test cards only: 4242424242424242, 4000000000000002, 4000000000009995",
        ));
        ok = false;
    }
    if !(1..=12).contains(&card.exp_month) {
        errors.push(FieldError::new("card.exp_month", "must be 1 to 12"));
        ok = false;
    }
    let today = OffsetDateTime::from_unix_timestamp(now).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let (year, month) = (i64::from(today.year()), i64::from(u8::from(today.month())));
    let (exp_year, exp_month) = (i64::from(card.exp_year), i64::from(card.exp_month));
    if !(2000..=2100).contains(&exp_year) {
        errors.push(FieldError::new("card.exp_year", "must be a four-digit year"));
        ok = false;
    } else if exp_year < year || (exp_year == year && exp_month < month) {
        errors.push(FieldError::new("card.exp_year", "the card has expired"));
        ok = false;
    }
    if !(3..=4).contains(&card.cvc.len()) || !card.cvc.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new("card.cvc", "must be 3 or 4 digits"));
        ok = false;
    }
    let outcome = test_card(&digits)?;
    ok.then(|| CheckedCard {
        outcome,
        last4: digits[digits.len() - 4..].to_owned(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Card,
    Crypto,
}

/// A create request that passed validation.
struct NewPayment {
    amount: i64,
    currency: Currency,
    method: Method,
    description: Option<String>,
    metadata: BTreeMap<String, String>,
    card: Option<CheckedCard>,
}

/// Validates a create request, naming every bad field at once.
fn validate(body: CreatePayment, env: Environment, now: i64) -> ApiResult<NewPayment> {
    let mut errors = Vec::new();
    check_amount("amount", body.amount, &mut errors);
    let currency = check_currency("currency", &body.currency, &mut errors);
    let method = match body.method.as_str() {
        "card" => Some(Method::Card),
        "crypto" => Some(Method::Crypto),
        _ => {
            errors.push(FieldError::new("method", "must be card or crypto"));
            None
        }
    };
    match (method, currency) {
        (Some(Method::Crypto), Some(c)) if c != Currency::BTC => {
            errors.push(FieldError::new("currency", "crypto payments are in BTC"));
        }
        (Some(Method::Card), Some(c)) if !c.is_fiat() => {
            errors.push(FieldError::new(
                "currency",
                "card payments take USD, EUR, GBP, ZAR, NGN or KES",
            ));
        }
        _ => {}
    }
    let description = body.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        errors.push(FieldError::new("description", "must be at most 1000 characters"));
    }
    let metadata = body.metadata.unwrap_or_default();
    check_metadata(&metadata, &mut errors);
    let card = match (&body.card, env) {
        (None, _) => None,
        // The live environment never accepts a card number.
        (Some(_), Environment::Live) => {
            errors.push(FieldError::new(
                "card",
                "card details are never accepted in live mode; use a checkout session",
            ));
            None
        }
        (Some(card), Environment::Test) => {
            if method != Some(Method::Card) {
                errors.push(FieldError::new("card", "is only for card payments"));
            }
            check_card(card, now, &mut errors)
        }
    };
    match (errors.is_empty(), currency, method) {
        (true, Some(currency), Some(method)) => Ok(NewPayment {
            amount: body.amount,
            currency,
            method,
            description,
            metadata,
            card,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

/// A payment row.
struct Record {
    id: String,
    env: Environment,
    amount: i64,
    currency: String,
    method: String,
    status: String,
    description: Option<String>,
    metadata: String,
    card_brand: Option<String>,
    card_last4: Option<String>,
    crypto_network: Option<String>,
    crypto_address: Option<String>,
    amount_received: i64,
    amount_refunded: i64,
    failure_code: Option<String>,
    created_at: i64,
    updated_at: i64,
    confirmed_at: Option<i64>,
    expires_at: i64,
}

fn record_from_row(row: &AnyRow) -> StoreResult<Record> {
    let env: String = row.try_get("env")?;
    Ok(Record {
        id: row.try_get("id")?,
        env: Environment::parse(&env).ok_or_else(|| StoreError::Corrupt("payments.env".to_owned()))?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        method: row.try_get("method")?,
        status: row.try_get("status")?,
        description: row.try_get("description")?,
        metadata: row.try_get("metadata")?,
        card_brand: row.try_get("card_brand")?,
        card_last4: row.try_get("card_last4")?,
        crypto_network: row.try_get("crypto_network")?,
        crypto_address: row.try_get("crypto_address")?,
        amount_received: row.try_get("amount_received")?,
        amount_refunded: row.try_get("amount_refunded")?,
        failure_code: row.try_get("failure_code")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        confirmed_at: row.try_get("confirmed_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Record {
    fn to_api(&self) -> Payment {
        Payment {
            id: self.id.clone(),
            object: "payment".to_owned(),
            env: self.env,
            amount: self.amount,
            currency: self.currency.clone(),
            method: self.method.clone(),
            status: self.status.clone(),
            description: self.description.clone(),
            metadata: serde_json::from_str(&self.metadata).unwrap_or_default(),
            card: match (&self.card_brand, &self.card_last4) {
                (Some(brand), Some(last4)) => Some(CardSummary {
                    brand: brand.clone(),
                    last4: last4.clone(),
                }),
                _ => None,
            },
            crypto: match (&self.crypto_network, &self.crypto_address) {
                (Some(network), Some(address)) => Some(CryptoTarget {
                    network: network.clone(),
                    address: address.clone(),
                }),
                _ => None,
            },
            amount_received: self.amount_received,
            amount_refunded: self.amount_refunded,
            failure_code: self.failure_code.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            confirmed_at: self.confirmed_at.map(rfc3339),
            expires_at: rfc3339(self.expires_at),
        }
    }
}

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

/// A transfer to a crypto payment's address was seen on its chain: the
/// payment is `processing` (with its event) if it still required payment
/// and has not expired.
pub async fn mark_processing(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    now: i64,
) -> ApiResult<()> {
    let mut record = load_for_change(&mut *conn, merchant, env, id).await?;
    if !expire_if_due(&mut *conn, merchant, &mut record, now).await? && record.status == "requires_payment" {
        set_status(conn, merchant, &mut record, "processing", None, now).await?;
    }
    Ok(())
}

/// Expires a `processing` payment past its expiry that is still not
/// covered, once nothing more is on its way to it (the caller knows no
/// transfer to it awaits confirmations): it shows what it received.
pub async fn expire_processing(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    now: i64,
) -> ApiResult<bool> {
    let mut record = load_for_change(&mut *conn, merchant, env, id).await?;
    if record.status == "processing" && now >= record.expires_at && record.amount_received < record.amount {
        set_status(conn, merchant, &mut record, "expired", None, now).await?;
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

async fn insert(conn: &mut AnyConnection, merchant: &MerchantId, record: &Record) -> ApiResult<()> {
    let sql = format!(
        "INSERT INTO payments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    );
    sqlx::query(&sql)
        .bind(&record.id)
        .bind(merchant.as_str())
        .bind(record.env.as_str())
        .bind(record.amount)
        .bind(&record.currency)
        .bind(&record.method)
        .bind(&record.status)
        .bind(record.description.clone())
        .bind(&record.metadata)
        .bind(record.card_brand.clone())
        .bind(record.card_last4.clone())
        .bind(record.crypto_network.clone())
        .bind(record.crypto_address.clone())
        .bind(record.amount_received)
        .bind(record.failure_code.clone())
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.confirmed_at)
        .bind(record.expires_at)
        .bind(record.amount_refunded)
        .execute(conn)
        .await?;
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
        amount_received: 0,
        amount_refunded: 0,
        failure_code: None,
        created_at: now,
        updated_at: now,
        confirmed_at: None,
        expires_at: now.saturating_add(PAYMENT_TTL_SECS),
    };
    if new.method == Method::Crypto {
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
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    body: CreatePayment,
    now: i64,
) -> ApiResult<Payment> {
    let new = validate(body, env, now)?;
    create_in(conn, merchant, env, new, now).await
}

#[utoipa::path(post, path = "/v1/payments", operation_id = "createPayment", tag = "payments", request_body = CreatePayment,
    responses((status = 200, body = Payment), (status = 400, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<CreatePayment>,
) -> ApiResult<Response> {
    caller.require(Scope::PaymentsWrite)?;
    let now = state.now();
    let new = validate(body, caller.env, now)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_pass_luhn_and_map_to_outcomes() {
        for number in ["4242424242424242", "4000000000000002", "4000000000009995"] {
            assert!(luhn_valid(number), "{number}");
        }
        assert!(!luhn_valid("4242424242424241"));
        assert_eq!(test_card("4000000000000002"), Some(CardOutcome::Declined));
        assert_eq!(test_card("5555555555554444"), None);
    }

    #[test]
    fn live_mode_refuses_any_card_field() {
        let body = CreatePayment {
            amount: 100,
            currency: "USD".to_owned(),
            method: "card".to_owned(),
            description: None,
            metadata: None,
            card: Some(CardDetails {
                number: "4242424242424242".to_owned(),
                exp_month: 12,
                exp_year: 2099,
                cvc: "123".to_owned(),
            }),
        };
        let err = validate(body, Environment::Live, 1_700_000_000).err().unwrap();
        assert_eq!(err.errors[0].field, "card");
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = CreatePayment {
            amount: 0,
            currency: "XYZ".to_owned(),
            method: "cash".to_owned(),
            description: Some("d".repeat(1001)),
            metadata: None,
            card: None,
        };
        let err = validate(body, Environment::Test, 1_700_000_000).err().unwrap();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["amount", "currency", "method", "description"]);
    }
}
