//! The dashboard session and form protection.
//!
//! A session is an EdDSA JWT (signed with the server's token keys, audience
//! `paygate-dashboard`) in the cookie `__Host-paygate` (HttpOnly, Secure,
//! SameSite=Strict, Path=/), backed by a session row so that logout and a
//! password change end it at once. Every form carries a CSRF token that must
//! equal the `__Host-paygate-csrf` cookie; the check runs for every POST in
//! one middleware, so no handler can forget it.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use paygate_proto::credentials::generate_opaque_token;
use paygate_proto::Environment;
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::app::AppState;
use crate::http::ApiError;
use crate::store::dashboard::UserRecord;

pub const SESSION_COOKIE: &str = "__Host-paygate";
pub const CSRF_COOKIE: &str = "__Host-paygate-csrf";
pub const AUDIENCE: &str = "paygate-dashboard";
/// The audience of the short-lived token between password and 2FA code.
pub const SECOND_FACTOR_AUDIENCE: &str = "paygate-dashboard-2fa";
pub const SESSION_TTL_SECS: i64 = 12 * 3600;
/// The environment the dashboard shows (`test` unless switched to `live`).
pub const MODE_COOKIE: &str = "__Host-paygate-mode";
const FORM_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionClaims {
    pub iss: String,
    /// The user id.
    pub sub: String,
    pub aud: String,
    /// The session row's id.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
}

/// The value of one cookie in `headers`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// `Set-Cookie` for a `__Host-` cookie: Secure, HttpOnly, SameSite=Strict, Path=/.
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

/// The CSRF token of this browser, for the forms of the page being rendered.
/// Its `Debug` (a `Viewer` is `Debug`) never prints it.
#[derive(Clone)]
pub struct CsrfToken(pub String);

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| ApiError::internal("csrf layer missing"))
    }
}

/// Ensures every browser has a CSRF cookie, and refuses any POST whose form
/// `csrf` field does not equal it.
pub async fn csrf_layer(mut req: Request, next: Next) -> Response {
    let existing = cookie(req.headers(), CSRF_COOKIE).filter(|v| v.len() >= 32);
    if req.method() == Method::POST {
        let Some(expected) = existing.clone() else {
            return forbidden();
        };
        let (parts, body) = req.into_parts();
        let Ok(bytes) = to_bytes(body, FORM_LIMIT).await else {
            return forbidden();
        };
        let presented = form_field(&bytes, "csrf").unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return forbidden();
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    let (token, fresh) = match existing {
        Some(token) => (token, false),
        None => (
            generate_opaque_token("", &mut rand::rngs::OsRng)
                .expose_secret()
                .to_owned(),
            true,
        ),
    };
    req.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(req).await;
    if fresh {
        if let Some(value) = set_cookie(CSRF_COOKIE, &token, 86_400) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        super::pages::message_page(
            "Form expired",
            "This form could not be accepted. Go back, reload the page and try again.",
        ),
    )
        .into_response()
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded_pairs(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A signed-in dashboard user. Pages that take it redirect anyone else to
/// the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: UserRecord,
    pub session_id: String,
}

pub struct ToLogin;

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        Redirect::to("/dashboard/login").into_response()
    }
}

/// Why a page that needs a signed-in user is not served.
pub enum Refused {
    /// Nobody is signed in (or the session ended): go to the sign-in page.
    ToLogin,
    /// The user's merchant is suspended (docs/api.md section 14): a page saying
    /// so, with the status of `account_suspended`.
    Suspended,
}

impl From<ToLogin> for Refused {
    fn from(_: ToLogin) -> Self {
        Self::ToLogin
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::ToLogin => ToLogin.into_response(),
            Self::Suspended => (
                StatusCode::FORBIDDEN,
                super::pages::message_page(
                    "Account suspended",
                    "This merchant account is suspended (account_suspended). Contact the operator of this Paygate installation.",
                ),
            )
                .into_response(),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for SignedIn {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Ok(
            <SignedIn as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(ToLogin)?;
        let auth = state.auth();
        let epoch = auth.epoch(state.store()).await.map_err(|_| ToLogin)?;
        let now = state.now();
        let claims: SessionClaims = auth
            .tokens()
            .verify_as(state.store(), state.master_key(), epoch, now, &token, Some(AUDIENCE))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(ToLogin)?;
        if claims.exp <= now {
            return Err(Refused::ToLogin);
        }
        let live = state
            .store()
            .dashboard_session_live(&claims.sid, &claims.sub, now)
            .await
            .map_err(|_| ToLogin)?;
        if !live {
            return Err(Refused::ToLogin);
        }
        let user = state
            .store()
            .user_by_id(&claims.sub)
            .await
            .ok()
            .flatten()
            .ok_or(ToLogin)?;
        let mut conn = state.store().pool().acquire().await.map_err(|_| ToLogin)?;
        if crate::suspension::is_suspended(&mut conn, user.merchant_id.as_str())
            .await
            .map_err(|_| ToLogin)?
        {
            return Err(Refused::Suspended);
        }
        Ok(SignedIn {
            user,
            session_id: claims.sid,
        })
    }
}

/// The environment the pages show and change: test unless this browser
/// switched to live. It is a view setting, not a credential: the session
/// decides who may act, this only which of the merchant's two worlds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub Environment);

impl<S: Send + Sync> FromRequestParts<S> for Mode {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let live = cookie(&parts.headers, MODE_COOKIE).is_some_and(|v| v == "live");
        Ok(Mode(if live { Environment::Live } else { Environment::Test }))
    }
}

#[derive(Deserialize)]
pub struct ModeForm {
    env: String,
    #[serde(default)]
    back: String,
}

/// Switches between test and live, then returns to the page the switch was on.
pub async fn switch_mode(_signed_in: SignedIn, axum::Form(form): axum::Form<ModeForm>) -> Response {
    let env = if form.env == "live" { "live" } else { "test" };
    let back = local_path(&form.back).unwrap_or("/dashboard");
    let mut response = Redirect::to(back).into_response();
    if let Some(value) = set_cookie(MODE_COOKIE, env, 365 * 86_400) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// `path` when it is one of the dashboard's own pages (no open redirect).
pub fn local_path(path: &str) -> Option<&str> {
    let ours = path.starts_with("/dashboard") && path.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_".contains(&b));
    ours.then_some(path)
}

/// What every signed-in page needs: the person, this browser's form token
/// and the environment shown. Pages that take it send anyone else to sign in.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub csrf: CsrfToken,
    pub mode: Mode,
    pub signed_in: SignedIn,
    /// How many working keys of the shown environment are due for rotation
    /// (`auth.key_rotation_days`): every page shows a banner while any are.
    pub keys_due: usize,
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let signed_in = <SignedIn as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        let csrf = CsrfToken::from_request_parts(parts, state).await.map_err(|_| ToLogin)?;
        let Ok(mode) = Mode::from_request_parts(parts, state).await;
        let due = crate::key_age::keys_due(
            state.store(),
            &state.config().auth,
            &signed_in.user.merchant_id,
            mode.0,
            state.now(),
        )
        .await;
        // The banner is advice: a failed count shows none rather than no page.
        let keys_due = due.map(|keys| keys.len()).unwrap_or(0);
        Ok(Viewer {
            csrf,
            mode,
            signed_in,
            keys_due,
        })
    }
}

impl Viewer {
    pub fn user(&self) -> &UserRecord {
        &self.signed_in.user
    }

    pub fn merchant(&self) -> &paygate_proto::MerchantId {
        &self.signed_in.user.merchant_id
    }

    pub fn env(&self) -> Environment {
        self.mode.0
    }

    /// The frame of a page in `section`.
    pub fn frame(&self, section: &'static str) -> super::pages::Frame {
        let mut frame = super::pages::Frame::signed_in(&self.csrf, &self.signed_in.user, self.mode, section);
        frame.keys_due = self.keys_due;
        frame
    }

    /// This person as the actor of an audited change, from `ip`.
    pub fn actor(&self, ip: crate::http::ClientIp) -> crate::api_keys::Actor {
        crate::api_keys::Actor {
            label: self.signed_in.user.email.clone(),
            ip: Some(ip.0.to_string()),
        }
    }
}
