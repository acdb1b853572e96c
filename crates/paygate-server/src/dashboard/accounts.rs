//! Accounts: registration with email verification, sign-in (argon2id, the
//! same work and answer for an unknown email as for a wrong password,
//! lockout after repeated failures, a second factor when enabled), sign-out.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use http::header::SET_COOKIE;
use http::HeaderMap;
use paygate_proto::credentials::{generate_opaque_token, token_hash};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row as _;
use std::sync::OnceLock;

use super::pages::{message_page, render, Frame, LoginPage, RegisterPage, SecondFactorPage};
use super::session::{
    set_cookie, CsrfToken, SessionClaims, SignedIn, AUDIENCE, SECOND_FACTOR_AUDIENCE, SESSION_COOKIE, SESSION_TTL_SECS,
};
use super::{mail, second_factor};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::ids;
use crate::store::dashboard::{insert_user, UserRecord};

/// Failed sign-ins before the account pauses, and for how long.
const MAX_FAILURES: i64 = 5;
const LOCKOUT_SECS: i64 = 15 * 60;
const VERIFY_LINK_TTL_SECS: i64 = 24 * 3600;
const SECOND_FACTOR_TTL_SECS: i64 = 5 * 60;
const LOGIN: &str = "dashboard.login";
const SIGN_IN_FAILED: &str =
    "Email or password is incorrect. After several failed attempts, sign-in pauses for 15 minutes.";

pub(super) fn hash_password(password: &SecretString) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("argon2: {e}")))
}

fn password_matches(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

/// Why a new password is refused, if it is.
pub(super) fn password_problem(password: &SecretString) -> Option<&'static str> {
    let length = password.expose_secret().chars().count();
    (!(12..=128).contains(&length)).then_some("Choose a password of 12 to 128 characters.")
}

/// Argon2 off the async threads.
pub(super) async fn hash_off_thread(password: SecretString) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(ApiError::internal)?
}

/// A hash to verify against when the email is unknown, so both cases cost the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&SecretString::from("paygate-dummy-password".to_owned())).unwrap_or_default())
}

/// Argon2 runs off the async threads.
pub(super) async fn check_password(password: SecretString, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || match phc {
        Some(phc) => password_matches(&password, &phc),
        None => {
            let _ = password_matches(&password, dummy_hash());
            false
        }
    })
    .await
    .unwrap_or(false)
}

fn frame(csrf: &CsrfToken) -> Frame {
    Frame {
        csrf: csrf.0.clone(),
        ..Frame::default()
    }
}

pub async fn register_page(csrf: CsrfToken) -> Response {
    render(&RegisterPage {
        frame: frame(&csrf),
        email: String::new(),
        country: String::new(),
    })
}

#[derive(Deserialize)]
pub struct RegisterForm {
    email: String,
    password: SecretString,
    country: String,
}

pub async fn register(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    uri: http::Uri,
    headers: HeaderMap,
    Form(form): Form<RegisterForm>,
) -> ApiResult<Response> {
    let email = form.email.trim().to_ascii_lowercase();
    let country = form.country.trim().to_ascii_uppercase();
    let again = |error: &str| {
        render(&RegisterPage {
            frame: Frame {
                error: Some(error.to_owned()),
                ..frame(&csrf)
            },
            email: email.clone(),
            country: country.clone(),
        })
    };
    if let Some(problem) = password_problem(&form.password) {
        return Ok(again(problem));
    }
    if !paygate_proto::credentials::is_country_code(&country) {
        return Ok(again("Enter your country as a two-letter ISO code, such as ZA or US."));
    }
    if !crate::merchants::looks_like_email(&email) {
        return Ok(again("Enter a valid email address."));
    }
    let done = message_page(
        "Check your email",
        "We sent a link to verify your address. Open it to finish creating your account.",
    );
    // The same work whether or not the address is registered (the password
    // hash, one transaction, one mail), and the same answer: neither the page
    // nor its timing says who has an account.
    let hash = hash_off_thread(form.password).await?;
    let now = state.now();
    let base = crate::http::origin::public_base(&state.config().public_url, &uri, &headers).unwrap_or_default();
    let link_token = generate_opaque_token("ev_", &mut rand::rngs::OsRng);
    let mut tx = state.store().begin_write().await?;
    let registered = crate::store::dashboard::user_exists_in(tx.conn(), &email).await?;
    let (subject, body) = if registered {
        (
            "Your Paygate account",
            format!(
                "Someone asked to create a Paygate account with this address, which already has one.\n\nSign in at {base}/dashboard/login, or reset your password at {base}/dashboard/forgot.\n\nIf this was not you, ignore this message: nothing has changed.\n"
            ),
        )
    } else {
        let merchant = crate::merchants::create_merchant_in(tx.conn(), &country, &email, now)
            .await
            .map_err(ApiError::internal)?;
        let user_id = ids::new_id("usr");
        insert_user(tx.conn(), &user_id, &merchant, &email, &hash, now).await?;
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, 'verify', $3)",
        )
        .bind(token_hash(link_token.expose_secret()))
        .bind(&user_id)
        .bind(now + VERIFY_LINK_TTL_SECS)
        .execute(tx.conn())
        .await?;
        let entry = AuditEntry::new("dashboard.registered", Outcome::Success)
            .merchant(&merchant, paygate_proto::Environment::Test)
            .actor(&email)
            .ip(ip)
            .details(json!({ "user_id": user_id }));
        audit::record(tx.conn(), &entry, now).await?;
        // Links are made from the configured public URL or the request's own host.
        (
            "Verify your email for Paygate",
            format!(
                "Welcome to Paygate.\n\nOpen this link to verify your email address (valid for 24 hours):\n\n{base}/dashboard/verify?token={}\n\nIf you did not create an account, ignore this message.\n",
                link_token.expose_secret()
            ),
        )
    };
    tx.commit().await?;
    // After the commit: a mail never announces an account that is not there.
    if let Err(err) = mail::send(&state, &email, subject, body).await {
        tracing::error!(error = %err, "the sign-up mail could not be sent");
    }
    Ok(done)
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    token: Option<String>,
}

pub async fn verify_email(State(state): State<AppState>, Query(query): Query<VerifyQuery>) -> ApiResult<Response> {
    let token = query.token.unwrap_or_default();
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let row = sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = 'verify' AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash(&token))
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        return Ok(message_page(
            "Link expired",
            "This verification link is not valid any more. Sign in to get a new one.",
        ));
    };
    let user_id: String = row.try_get("user_id")?;
    sqlx::query("UPDATE dashboard_users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL")
        .bind(now)
        .bind(&user_id)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(message_page(
        "Email verified",
        "Your address is verified. You can sign in now.",
    ))
}

pub async fn login_page(csrf: CsrfToken, signed_in: Option<SignedIn>) -> Response {
    if signed_in.is_some() {
        return Redirect::to("/dashboard").into_response();
    }
    render(&LoginPage {
        frame: frame(&csrf),
        email: String::new(),
    })
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
}

pub async fn login(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> ApiResult<Response> {
    let email = form.email.trim().to_ascii_lowercase();
    let now = state.now();
    let user = state.store().user_by_email(&email).await?;
    let matches = check_password(form.password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let failed = |frame_error: &str| {
        render(&LoginPage {
            frame: Frame {
                error: Some(frame_error.to_owned()),
                ..frame(&csrf)
            },
            email: email.clone(),
        })
    };
    let Some(user) = user else {
        return Ok(failed(SIGN_IN_FAILED));
    };
    let locked = user.locked_until.is_some_and(|until| until > now);
    if !matches || locked {
        record_failure(
            &state,
            &user,
            ip,
            LOGIN,
            if locked { "locked" } else { "wrong_password" },
        )
        .await?;
        return Ok(failed(SIGN_IN_FAILED));
    }
    if !user.email_verified {
        return Ok(failed("Verify your email address first: open the link we sent you."));
    }
    if user.totp_enabled {
        let pending = pending_second_factor(&state, &user, now).await?;
        return Ok(render(&SecondFactorPage {
            frame: frame(&csrf),
            pending,
        }));
    }
    start_session(&state, &user, ip, "password").await
}

/// Counts a failure (of a password or a code) and audits it as `action`;
/// the fifth in a row pauses sign-in and codes for 15 minutes.
pub(super) async fn record_failure(
    state: &AppState,
    user: &UserRecord,
    ip: std::net::IpAddr,
    action: &str,
    reason: &str,
) -> ApiResult<()> {
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    sqlx::query(
        "UPDATE dashboard_users SET failed_logins = CASE WHEN failed_logins + 1 >= $1 THEN 0 ELSE failed_logins + 1 END, \
         locked_until = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until END WHERE id = $3",
    )
    .bind(MAX_FAILURES)
    .bind(now + LOCKOUT_SECS)
    .bind(&user.id)
    .execute(tx.conn())
    .await?;
    let entry = AuditEntry::new(action, Outcome::Failure)
        .merchant(&user.merchant_id, paygate_proto::Environment::Test)
        .actor(&user.email)
        .ip(ip)
        .reason(reason);
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(())
}

#[derive(serde::Serialize, Deserialize)]
pub(super) struct PendingClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    /// A second factor is only good for the password it followed.
    pub pwd: i64,
}

async fn pending_second_factor(state: &AppState, user: &UserRecord, now: i64) -> ApiResult<String> {
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await?;
    let claims = PendingClaims {
        iss: auth.tokens().issuer().to_owned(),
        sub: user.id.clone(),
        aud: SECOND_FACTOR_AUDIENCE.to_owned(),
        exp: now + SECOND_FACTOR_TTL_SECS,
        pwd: user.password_changed_at,
    };
    auth.tokens()
        .sign(state.store(), state.master_key(), epoch, now, &claims)
        .await
}

#[derive(Deserialize)]
pub struct SecondFactorForm {
    pending: String,
    code: String,
}

pub async fn login_second_factor(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    Form(form): Form<SecondFactorForm>,
) -> ApiResult<Response> {
    let now = state.now();
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await?;
    let claims: Option<PendingClaims> = auth
        .tokens()
        .verify_as(
            state.store(),
            state.master_key(),
            epoch,
            now,
            &form.pending,
            Some(SECOND_FACTOR_AUDIENCE),
        )
        .await?
        .ok()
        .filter(|c: &PendingClaims| c.exp > now);
    let expired = || {
        render(&LoginPage {
            frame: Frame {
                error: Some("That took too long. Sign in again.".to_owned()),
                ..frame(&csrf)
            },
            email: String::new(),
        })
    };
    let Some(claims) = claims else { return Ok(expired()) };
    let Some(user) = state.store().user_by_id(&claims.sub).await? else {
        return Ok(expired());
    };
    if claims.pwd != user.password_changed_at || user.locked_until.is_some_and(|until| until > now) {
        return Ok(expired());
    }
    if second_factor::accept(&state, &user, form.code.trim()).await? {
        return start_session(&state, &user, ip, "password+2fa").await;
    }
    record_failure(&state, &user, ip, LOGIN, "wrong_second_factor").await?;
    Ok(render(&SecondFactorPage {
        frame: Frame {
            error: Some("That code is not valid. Try the current code from your app.".to_owned()),
            ..frame(&csrf)
        },
        pending: form.pending,
    }))
}

/// Creates the session row and its cookie, and audits the sign-in.
async fn start_session(state: &AppState, user: &UserRecord, ip: std::net::IpAddr, method: &str) -> ApiResult<Response> {
    let now = state.now();
    let session_id = uuid::Uuid::new_v4().to_string();
    let mut tx = state.store().begin_write().await?;
    sqlx::query("UPDATE dashboard_users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(&user.id)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO dashboard_sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(&session_id)
        .bind(&user.id)
        .bind(now)
        .bind(now + SESSION_TTL_SECS)
        .execute(tx.conn())
        .await?;
    let entry = AuditEntry::new("dashboard.login", Outcome::Success)
        .merchant(&user.merchant_id, paygate_proto::Environment::Test)
        .actor(&user.email)
        .ip(ip)
        .details(json!({ "method": method, "session_id": session_id }));
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await?;
    let claims = SessionClaims {
        iss: auth.tokens().issuer().to_owned(),
        sub: user.id.clone(),
        aud: AUDIENCE.to_owned(),
        sid: session_id,
        iat: now,
        exp: now + SESSION_TTL_SECS,
    };
    let jwt = auth
        .tokens()
        .sign(state.store(), state.master_key(), epoch, now, &claims)
        .await?;
    let mut response = Redirect::to("/dashboard").into_response();
    if let Some(cookie) = set_cookie(SESSION_COOKIE, &jwt, SESSION_TTL_SECS) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}

pub async fn logout(State(state): State<AppState>, signed_in: Option<SignedIn>) -> ApiResult<Response> {
    if let Some(signed_in) = signed_in {
        let mut tx = state.store().begin_write().await?;
        sqlx::query("UPDATE dashboard_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(state.now())
            .bind(&signed_in.session_id)
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
    }
    let mut response = Redirect::to("/dashboard/login").into_response();
    if let Some(cookie) = set_cookie(SESSION_COOKIE, "", 0) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    Ok(response)
}
