//! Who is calling: the credential check that every merchant route goes
//! through, producing a verified [`Caller`] for the handler.
//!
//! Order: exactly one credential (API key, or access token with its
//! session), then the account state, the key's IP allowlist, `x-api-secret`
//! when sent, the request signature when sent, and the merchant's security
//! policy. Each decision, success or failure, leaves an audit row.

mod api_key;
mod cache;
mod caller;
pub mod credential_headers;
pub mod decisions;
mod jwt_crypto;
pub mod replay;
mod services;
pub mod signature;
pub mod tokens;

pub use caller::{Caller, Credential};
pub use services::AuthServices;

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::request::Parts;
use paygate_proto::{headers, ErrorCode};
use secrecy::ExposeSecret as _;
use serde_json::json;

use self::cache::KeyEntry;
use crate::app::AppState;
use crate::audit::{AuditEntry, Outcome};
use crate::http::json::BODY_LIMIT;
use crate::http::{ApiError, ClientIp};
use crate::limits::{self, Check, LimitContext};

/// The one route a plain API key may call under `require_token`.
pub const TOKEN_EXCHANGE_PATH: &str = "/v1/auth/token";

/// What the audit row of a decision says about who tried.
#[derive(Default)]
struct Trail {
    credential: Option<&'static str>,
    actor: Option<String>,
    key: Option<Arc<KeyEntry>>,
    session_id: Option<String>,
    /// Why a credential was refused, beyond its public code.
    reason: Option<&'static str>,
}

/// Middleware for merchant routes: verifies the credentials and stores the
/// `Caller` in the request for the handler.
pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>().copied() else {
        return ApiError::internal("client ip missing").into_response();
    };
    let (parts, body) = req.into_parts();
    let mut trail = Trail::default();
    let verified = verify(&state, &parts, body, ip, &mut trail).await;
    let now = state.now();
    let outcome = match &verified {
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    };
    let mut entry = AuditEntry::new("authentication", outcome).ip(ip).details(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "credential": trail.credential,
        "session_id": trail.session_id,
        "detail": trail.reason,
    }));
    if let Some(key) = &trail.key {
        entry = entry.merchant(&key.record.merchant_id, key.record.env);
    }
    if let Some(actor) = &trail.actor {
        entry = entry.actor(actor.clone());
    }
    if let Err(err) = &verified {
        entry = entry.reason(err.code().as_str());
    }
    // A 500 is not an authentication decision; it is logged, not audited.
    let is_decision = verified
        .as_ref()
        .err()
        .is_none_or(|e| e.code() != ErrorCode::InternalError);
    if is_decision {
        state
            .auth()
            .decisions()
            .record(decisions::Decision {
                entry,
                key_id: trail.key.as_ref().map(|k| k.record.id.clone()),
                at: now,
            })
            .await;
    }
    let key_ref = trail.key.as_ref().map(|k| crate::watch::KeyRef {
        id: &k.record.id,
        prefix: &k.record.prefix,
        merchant: &k.record.merchant_id,
        env: k.record.env,
    });
    let watch = state.auth().watch();
    match verified {
        Ok((caller, body)) => {
            if let Some(key) = &key_ref {
                watch.used_from(&state, key, ip).await;
            }
            let checks = request_limits(&state, &parts, &caller);
            let context = parts.extensions.get::<LimitContext>().cloned();
            if let Err(refused) = limits::layer::apply_more(&state, context.as_ref(), &checks).await {
                if let Some(key) = &key_ref {
                    watch.rate_limited(&state, key, ip).await;
                }
                return refused;
            }
            let mut req = Request::from_parts(parts, body);
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(err) => {
            if is_decision {
                watch
                    .auth_failed(&state, key_ref.as_ref(), ip, err.code().as_str())
                    .await;
            }
            err.into_response()
        }
    }
}

/// The limits an authenticated request adds to its per-IP one: the
/// per-merchant-and-environment limit, and on token exchange the token
/// issuing limits (API.md 4.2 and 5).
fn request_limits(state: &AppState, parts: &Parts, caller: &Caller) -> Vec<Check> {
    let limits = &state.config().rate_limits;
    let scope = format!("{}:{}", caller.merchant_id, caller.env);
    let mut checks = Vec::new();
    if limits.enabled {
        checks.push(Check {
            name: "merchant",
            key: format!("merchant:{scope}"),
            limit: limits.merchant,
        });
    }
    if parts.method == http::Method::POST && parts.uri.path() == TOKEN_EXCHANGE_PATH {
        checks.push(Check {
            name: "token_minute",
            key: format!("token_minute:{scope}"),
            limit: limits.token_minute,
        });
        checks.push(Check {
            name: "token_hour",
            key: format!("token_hour:{scope}"),
            limit: limits.token_hour,
        });
    }
    checks
}

async fn verify(
    state: &AppState,
    parts: &Parts,
    body: Body,
    ip: IpAddr,
    trail: &mut Trail,
) -> Result<(Caller, Body), ApiError> {
    credential_headers::check_merchant(&parts.headers)?;
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await?;
    let now = state.now();
    let headers = &parts.headers;
    let api_key = credential_headers::api_key(headers);
    let bearer = headers.get(http::header::AUTHORIZATION);
    let (key, credential, session_id) = match (api_key, bearer) {
        (Some(_), Some(_)) => return Err(ApiError::new(ErrorCode::AmbiguousCredentials)),
        (None, None) => return Err(ApiError::new(ErrorCode::MissingCredentials)),
        (Some(presented), None) => {
            trail.credential = Some("api_key");
            let key = api_key::verify(state, epoch, presented, headers, now, trail).await?;
            (key, Credential::ApiKey, None)
        }
        (None, Some(presented)) => {
            trail.credential = Some("token");
            let (key, session) = auth.verify_token(state, epoch, presented, headers, now, trail).await?;
            (key, Credential::Token, Some(session))
        }
    };
    trail.actor = Some(key.record.prefix.clone());
    trail.key = Some(key.clone());
    if key.record.merchant_suspended {
        return Err(ApiError::new(ErrorCode::AccountSuspended));
    }
    if !key.allowed.is_empty() && !key.allowed.iter().any(|net| net.contains(&ip)) {
        return Err(ApiError::new(ErrorCode::IpNotAllowed));
    }
    let mut secret_verified = false;
    if let Some(presented) = headers.get(headers::API_SECRET) {
        let presented = presented.to_str().map(str::trim).unwrap_or_default();
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(key.secret.expose_secret().as_bytes(), presented.as_bytes()).into();
        if !matches {
            return Err(ApiError::new(ErrorCode::InvalidApiSecret));
        }
        secret_verified = true;
    }
    let (body, signed) = if signature::is_signed(headers) {
        let bytes = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
        let tolerance = i64::try_from(state.config().auth.signature_tolerance_secs).unwrap_or(300);
        signature::verify(
            parts,
            &bytes,
            &key.secret,
            &key.record.id,
            tolerance,
            now,
            auth.replay(),
        )
        .await?;
        (Body::from(bytes), true)
    } else {
        (body, false)
    };
    let policy = auth
        .policy(state.store(), epoch, &key.record.merchant_id, key.record.env)
        .await?;
    if policy.require_signature && !signed {
        return Err(ApiError::new(ErrorCode::SignatureRequired)
            .with_detail("This merchant's security policy requires signed requests (`x-timestamp`, `x-signature`)."));
    }
    let exchanging = parts.method == http::Method::POST && parts.uri.path() == TOKEN_EXCHANGE_PATH;
    if policy.require_token && credential == Credential::ApiKey && !exchanging {
        return Err(ApiError::new(ErrorCode::MissingCredentials).with_detail(
            "This merchant's security policy requires an access token: exchange the key at `POST /v1/auth/token`.",
        ));
    }
    Ok((
        Caller {
            merchant_id: key.record.merchant_id.clone(),
            env: key.record.env,
            key_id: key.record.id.clone(),
            key_prefix: key.record.prefix.clone(),
            scopes: key.scopes.clone(),
            secret_verified: secret_verified || signed,
            credential,
            session_id,
            signed,
        },
        body,
    ))
}
