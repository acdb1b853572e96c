//! Token exchange and sessions (docs/api.md section 4.2): `POST /v1/auth/token` turns an
//! API key into a short-lived access token bound to a new session;
//! `DELETE /v1/auth/sessions/{id}` ends one. Token issuing limits are applied
//! by `auth` with the request's other limits, in one decision.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use paygate_proto::auth::TokenResponse;
use paygate_proto::{headers, ErrorCode, Scope};
use serde_json::json;

use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::auth::tokens::claims_for;
use crate::auth::{Caller, Credential};
use crate::http::{ApiError, ApiJson, ApiResult, ClientIp};
use crate::store::auth::{insert_session, revoke_session, SessionRecord};

fn exchange_needs_key() -> ApiError {
    ApiError::new(ErrorCode::MissingCredentials)
        .with_detail("Token exchange takes the headers `x-api-key` and `x-merchant-id`.")
}

#[utoipa::path(
    post,
    path = "/v1/auth/token",
    operation_id = "createAuthSession",
    tag = "auth",
    responses(
        (status = 200, description = "An access token and its session", body = TokenResponse),
        (status = 401, body = paygate_proto::Problem),
        (status = 403, body = paygate_proto::Problem),
        (status = 429, body = paygate_proto::Problem),
    ),
    security(("api_key" = []))
)]
pub async fn exchange(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if caller.credential != Credential::ApiKey || !headers.contains_key(headers::MERCHANT_ID) {
        return Err(exchange_needs_key());
    }
    let now = state.now();
    let ttl = i64::try_from(state.config().auth.token_ttl_secs).unwrap_or(60);
    let session = SessionRecord {
        id: uuid::Uuid::new_v4().to_string(),
        merchant_id: caller.merchant_id.clone(),
        env: caller.env,
        key_id: caller.key_id.clone(),
        created_at: now,
        expires_at: now + ttl,
        revoked_at: None,
    };
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await?;
    let claims = claims_for(
        auth.tokens().issuer(),
        &caller.merchant_id,
        caller.env,
        &session.id,
        now,
        ttl,
    );
    let token = auth
        .tokens()
        .sign(state.store(), state.master_key(), epoch, now, &claims)
        .await?;
    let mut tx = state.store().begin_write().await?;
    insert_session(tx.conn(), &session).await?;
    let entry = AuditEntry::new("session.created", Outcome::Success)
        .merchant(&caller.merchant_id, caller.env)
        .actor(&caller.key_prefix)
        .ip(client_ip.0)
        .details(json!({ "session_id": session.id, "key_id": caller.key_id, "expires_at": session.expires_at }));
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    let response = ApiJson(TokenResponse {
        access_token: token,
        token_type: "Bearer".to_owned(),
        expires_in: u64::try_from(ttl).unwrap_or(60),
        session_id: session.id,
    })
    .into_response();
    Ok(response)
}

#[utoipa::path(
    delete,
    path = "/v1/auth/sessions/{id}",
    operation_id = "endAuthSession",
    tag = "auth",
    params(("id" = String, Path, description = "The session ID")),
    responses(
        (status = 200, description = "The session has ended", body = crate::openapi::schemas::RevokedSession),
        (status = 401, body = paygate_proto::Problem),
        (status = 404, body = paygate_proto::Problem),
    ),
    security(("api_key" = []), ("bearer" = []))
)]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    client_ip: ClientIp,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let not_found = || ApiError::new(ErrorCode::NotFound);
    let session = state.store().session(&id).await?.ok_or_else(not_found)?;
    if session.merchant_id != caller.merchant_id || session.env != caller.env {
        return Err(not_found());
    }
    // A key ends its own sessions; ending another key's needs `keys:manage`.
    if session.key_id != caller.key_id {
        caller.require(Scope::KeysManage)?;
    }
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let ended = revoke_session(tx.conn(), &id, &caller.merchant_id, caller.env, now).await?;
    if ended {
        let entry = AuditEntry::new("session.revoked", Outcome::Success)
            .merchant(&caller.merchant_id, caller.env)
            .actor(&caller.key_prefix)
            .ip(client_ip.0)
            .details(json!({ "session_id": id, "key_id": session.key_id }));
        audit::record(tx.conn(), &entry, now).await?;
    }
    tx.commit().await?;
    Ok(ApiJson(json!({ "id": id, "object": "session", "revoked": true })).into_response())
}
