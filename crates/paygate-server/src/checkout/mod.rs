//! Checkout sessions and the payor's routes (docs/api.md section 9).
//!
//! The merchant's server creates a session; the payor's browser receives
//! only its `session_token` (`cst_…`, stored as a hash) and `session_secret`
//! (`cs_secret_…`, sealed), both scoped to that one session. Payor requests
//! carry the token and a signature keyed with the secret (section 4.3). The
//! amount and currency are fixed at creation; a server credential, or any
//! string shaped like one, in a payor request is refused.

use std::collections::BTreeMap;

use axum::body::to_bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderMap, Uri};
use paygate_proto::checkout::{CheckoutSession, CreateCheckoutSession, CreatedCheckoutSession, PayorPayment};
use paygate_proto::credentials::{contains_server_credential, generate_opaque_token, is_opaque_token, token_hash};
use paygate_proto::money::{check_amount, check_currency};
use paygate_proto::payments::CreatePayment;
use paygate_proto::realtime::RealtimeToken;
use paygate_proto::{headers, Environment, ErrorCode, FieldError, MerchantId, Scope};
use secrecy::ExposeSecret as _;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::app::AppState;
use crate::auth::Caller;
use crate::clock::rfc3339;
use crate::crypto::Sealed;
use crate::http::json::{is_json, parse_json, BODY_LIMIT};
use crate::http::{ApiError, ApiJson, ApiResult};
use crate::{ids, payments, realtime};

mod state;
pub use state::{Refused, SessionEvent, SessionState};

const TOKEN_PREFIX: &str = "cst_";
const SECRET_PREFIX: &str = "cs_secret_";
const DEFAULT_TTL_SECS: i64 = 30 * 60;
const MIN_TTL_SECS: i64 = 60;
const MAX_TTL_SECS: i64 = 24 * 3600;

fn secret_context(id: &str) -> String {
    format!("checkout_secret:{id}")
}

/// A session row.
struct Session {
    id: String,
    merchant_id: MerchantId,
    env: Environment,
    amount: i64,
    currency: String,
    methods: Vec<String>,
    secret: Sealed,
    payment_id: Option<String>,
    status: SessionState,
    expires_at: i64,
    created_at: i64,
}

const COLUMNS: &str =
    "id, merchant_id, env, amount, currency, methods, secret_key_id, secret_sealed, payment_id, status, expires_at, created_at";

fn session_from_row(row: &AnyRow) -> ApiResult<Session> {
    let merchant: String = row.try_get("merchant_id")?;
    let env: String = row.try_get("env")?;
    let methods: String = row.try_get("methods")?;
    Ok(Session {
        id: row.try_get("id")?,
        merchant_id: MerchantId::parse(&merchant).map_err(|_| ApiError::internal("checkout merchant id"))?,
        env: Environment::parse(&env).ok_or_else(|| ApiError::internal("checkout env"))?,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        methods: serde_json::from_str(&methods).map_err(ApiError::internal)?,
        secret: Sealed {
            key_id: row.try_get("secret_key_id")?,
            bytes: row.try_get("secret_sealed")?,
        },
        payment_id: row.try_get("payment_id")?,
        status: SessionState::parse(&row.try_get::<String, _>("status")?)
            .ok_or_else(|| ApiError::internal("checkout session status"))?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Session {
    fn status_at(&self, now: i64) -> SessionState {
        self.status.at(self.expires_at, now)
    }

    async fn view(&self, conn: &mut AnyConnection, now: i64) -> ApiResult<CheckoutSession> {
        let payment = match &self.payment_id {
            Some(id) => payments::find(conn, &self.merchant_id, self.env, id).await?,
            None => None,
        };
        Ok(CheckoutSession {
            id: self.id.clone(),
            object: "checkout.session".to_owned(),
            env: self.env,
            amount: self.amount,
            currency: self.currency.clone(),
            methods: self.methods.clone(),
            status: self.status_at(now).as_str().to_owned(),
            expires_at: rfc3339(self.expires_at),
            created_at: rfc3339(self.created_at),
            payment,
        })
    }
}

/// The methods a session offers: those asked for, each fitting the currency.
fn methods_for(requested: Option<Vec<String>>, fiat: bool, errors: &mut Vec<FieldError>) -> Vec<String> {
    let fitting: &[&str] = if fiat { &["card"] } else { &["crypto"] };
    let Some(requested) = requested else {
        return fitting.iter().map(|m| (*m).to_owned()).collect();
    };
    let mut methods = Vec::new();
    for (i, method) in requested.iter().enumerate() {
        match method.as_str() {
            "card" | "crypto" if !fitting.contains(&method.as_str()) => {
                errors.push(FieldError::new(
                    format!("methods[{i}]"),
                    "does not fit the currency (card: fiat; crypto: BTC, USDC, USDT)",
                ));
            }
            "card" | "crypto" if !methods.contains(method) => methods.push(method.clone()),
            "card" | "crypto" => {}
            _ => errors.push(FieldError::new(format!("methods[{i}]"), "must be card or crypto")),
        }
    }
    if methods.is_empty() && errors.is_empty() {
        errors.push(FieldError::new("methods", "must name at least one method"));
    }
    methods
}

#[utoipa::path(post, path = "/v1/checkout/sessions", operation_id = "createCheckoutSession", tag = "checkout", request_body = CreateCheckoutSession,
    responses((status = 200, body = CreatedCheckoutSession), (status = 400, body = paygate_proto::Problem),
        (status = 422, description = "`network_unavailable`: USDC or USDT, and no chain, or no contract for this token, in this environment", body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateCheckoutSession>,
) -> ApiResult<ApiJson<CreatedCheckoutSession>> {
    caller.require(Scope::PaymentsWrite)?;
    let mut errors = Vec::new();
    check_amount("amount", body.amount, &mut errors);
    let currency = check_currency("currency", &body.currency, &mut errors);
    let methods = methods_for(body.methods, currency.is_none_or(|c| c.is_fiat()), &mut errors);
    let ttl = body.expires_in.unwrap_or(DEFAULT_TTL_SECS);
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&ttl) {
        errors.push(FieldError::new("expires_in", "must be 60 to 86400 seconds"));
    }
    let Some(currency) = currency.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    crate::chain::rail::require_rail_for(&state, caller.env, currency)?;
    let now = state.now();
    let id = ids::new_id("cs");
    let token = generate_opaque_token(TOKEN_PREFIX, &mut rand::rngs::OsRng);
    let secret = generate_opaque_token(SECRET_PREFIX, &mut rand::rngs::OsRng);
    let sealed = state
        .master_key()
        .seal(secret.expose_secret().as_bytes(), &secret_context(&id))?;
    let session = Session {
        id: id.clone(),
        merchant_id: caller.merchant_id.clone(),
        env: caller.env,
        amount: body.amount,
        currency: currency.as_str().to_owned(),
        methods,
        secret: sealed,
        payment_id: None,
        status: SessionState::CREATED,
        expires_at: now + ttl,
        created_at: now,
    };
    let mut tx = state.store().begin_write().await?;
    sqlx::query(&format!(
        "INSERT INTO checkout_sessions ({COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&session.id)
    .bind(session.merchant_id.as_str())
    .bind(session.env.as_str())
    .bind(session.amount)
    .bind(&session.currency)
    .bind(serde_json::to_string(&session.methods).map_err(ApiError::internal)?)
    .bind(&session.secret.key_id)
    .bind(&session.secret.bytes)
    .bind(session.payment_id.as_deref())
    .bind(session.status.as_str())
    .bind(session.expires_at)
    .bind(session.created_at)
    .bind(token_hash(token.expose_secret()))
    .execute(tx.conn())
    .await?;
    let view = session.view(tx.conn(), now).await?;
    tx.commit().await?;
    let base = crate::http::origin::public_base(&state.config().public_url, &uri, &headers).unwrap_or_default();
    // The browser values travel in the fragment, which browsers never send.
    let url = format!(
        "{base}/pay/{id}#token={}&secret={}",
        token.expose_secret(),
        secret.expose_secret()
    );
    Ok(ApiJson(CreatedCheckoutSession {
        session: view,
        session_token: token.expose_secret().to_owned(),
        session_secret: secret.expose_secret().to_owned(),
        url,
    }))
}

#[utoipa::path(get, path = "/v1/checkout/sessions/{id}", operation_id = "retrieveCheckoutSession", tag = "checkout",
    responses((status = 200, body = CheckoutSession), (status = 404, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<ApiJson<CheckoutSession>> {
    caller.require(Scope::PaymentsRead)?;
    let mut conn = state.store().pool().acquire().await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM checkout_sessions WHERE id = $1 AND merchant_id = $2 AND env = $3"
    ))
    .bind(&id)
    .bind(caller.merchant_id.as_str())
    .bind(caller.env.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let session = session_from_row(&row)?;
    Ok(ApiJson(session.view(&mut conn, state.now()).await?))
}

/// Authenticates a payor request: no server credential anywhere, a live
/// session token, and a signature keyed with that session's secret.
async fn payor(state: &AppState, parts: &Parts, body: &[u8]) -> ApiResult<Session> {
    let invalid = || ApiError::new(ErrorCode::InvalidSessionToken);
    let h = &parts.headers;
    crate::auth::credential_headers::check_payor(h)?;
    if h.contains_key(headers::API_KEY)
        || h.contains_key(headers::API_KEY_ALIAS)
        || h.contains_key(http::header::AUTHORIZATION)
    {
        return Err(invalid().with_detail("Server credentials are never sent from a browser; use the session token."));
    }
    let carries_key = h.values().any(|v| v.to_str().is_ok_and(contains_server_credential))
        || parts.uri.query().is_some_and(contains_server_credential)
        || contains_server_credential(&String::from_utf8_lossy(body));
    if carries_key {
        return Err(invalid().with_detail("The request carries something shaped like a server key or secret."));
    }
    let token = h
        .get(headers::SESSION_TOKEN)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_opaque_token(token, TOKEN_PREFIX) {
        return Err(invalid());
    }
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM checkout_sessions WHERE token_hash = $1"
    ))
    .bind(token_hash(token))
    .fetch_optional(state.store().pool())
    .await?
    .ok_or_else(invalid)?;
    let session = session_from_row(&row)?;
    let now = state.now();
    if session.status_at(now) == SessionState::Expired {
        return Err(invalid().with_detail("This checkout session has expired."));
    }
    if !crate::auth::signature::is_signed(h) {
        return Err(ApiError::new(ErrorCode::SignatureRequired));
    }
    let secret = state
        .master_key()
        .open_string(&session.secret, &secret_context(&session.id))?;
    let tolerance = i64::try_from(state.config().auth.signature_tolerance_secs).unwrap_or(300);
    crate::auth::signature::verify(
        parts,
        body,
        &secret,
        &format!("checkout:{}", session.id),
        tolerance,
        now,
        state.auth().replay(),
    )
    .await?;
    let mut conn = state.store().pool().acquire().await?;
    if crate::suspension::is_suspended(&mut conn, session.merchant_id.as_str()).await? {
        return Err(ApiError::new(ErrorCode::AccountSuspended));
    }
    Ok(session)
}

async fn read(req: Request) -> ApiResult<(Parts, bytes::Bytes)> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
    Ok((parts, bytes))
}

/// `GET /v1/payor/session`: what the payor is paying, and how it stands.
pub async fn payor_session(State(state): State<AppState>, req: Request) -> ApiResult<ApiJson<CheckoutSession>> {
    let (parts, body) = read(req).await?;
    let session = payor(&state, &parts, &body).await?;
    let mut conn = state.store().pool().acquire().await?;
    Ok(ApiJson(session.view(&mut conn, state.now()).await?))
}

/// `POST /v1/payor/session/pay`: pays the session's fixed amount.
pub async fn payor_pay(State(state): State<AppState>, req: Request) -> ApiResult<Response> {
    let (parts, body) = read(req).await?;
    let session = payor(&state, &parts, &body).await?;
    if !is_json(&parts.headers) {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    let payment: PayorPayment = parse_json(&body)?;
    if !session.methods.contains(&payment.method) {
        return Err(ApiError::field(
            "method",
            format!("must be one of: {}", session.methods.join(", ")),
        ));
    }
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    // Re-read under the writer's turn (SQLite) or the row's lock (PostgreSQL,
    // where instances write at once): two pay calls cannot both pass.
    let lock = crate::store::lock_rows(tx.conn(), crate::store::RowLock::Wait);
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM checkout_sessions WHERE id = $1{lock}"))
        .bind(&session.id)
        .fetch_one(tx.conn())
        .await?;
    let current = session_from_row(&row)?;
    let under_way = match &current.payment_id {
        Some(id) => payments::find(tx.conn(), &current.merchant_id, current.env, id)
            .await?
            .is_some_and(|p| p.status != "failed"),
        None => false,
    };
    let open = current
        .status_at(now)
        .on(SessionEvent::PayAsked { under_way })
        .map_err(|refused| {
            let detail = match refused {
                Refused::NotOpen => "This checkout session is not open.",
                Refused::PaymentUnderWay => "A payment is already under way for this session.",
            };
            ApiError::new(ErrorCode::InvalidState).with_detail(detail)
        })?;
    let metadata = BTreeMap::from([("checkout_session".to_owned(), current.id.clone())]);
    let request = CreatePayment {
        amount: current.amount,
        currency: current.currency.clone(),
        method: payment.method,
        description: None,
        metadata: Some(metadata),
        card: payment.card,
    };
    let created =
        payments::create_for_checkout(&state, tx.conn(), &current.merchant_id, current.env, request, now).await?;
    let status = open
        .on(SessionEvent::PaymentMade {
            succeeded: created.status == "succeeded",
        })
        .map_err(|_| ApiError::internal("an open checkout session refused its payment"))?;
    sqlx::query("UPDATE checkout_sessions SET payment_id = $1, status = $2 WHERE id = $3")
        .bind(&created.id)
        .bind(status.as_str())
        .bind(&current.id)
        .execute(tx.conn())
        .await?;
    let view = Session {
        payment_id: Some(created.id.clone()),
        status,
        ..current
    }
    .view(tx.conn(), now)
    .await?;
    tx.commit().await?;
    state.realtime().nudge();
    Ok(ApiJson(view).into_response())
}

/// `POST /v1/payor/session/realtime`: a socket token for this session's
/// events only, for a page that has no server of its own (the hosted page).
pub async fn payor_realtime(State(state): State<AppState>, req: Request) -> ApiResult<ApiJson<RealtimeToken>> {
    let (parts, body) = read(req).await?;
    let session = payor(&state, &parts, &body).await?;
    let token = realtime::mint(&state, &session.merchant_id, session.env, Some(&session.id), None).await?;
    Ok(ApiJson(RealtimeToken {
        ws_token: token.expose_secret().to_owned(),
        expires_in: u64::try_from(realtime::WS_TOKEN_TTL_SECS).unwrap_or(60),
    }))
}
