//! Passwords: reset by an emailed link (an unknown address gets the same
//! answer, and the mail goes out after the answer so timing tells nothing),
//! and change with the current password plus a one-time code. Both end
//! every session of the user at once.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Form;
use http::header::SET_COOKIE;
use http::HeaderMap;
use paygate_proto::credentials::{generate_opaque_token, token_hash};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::json;
use sqlx::Row as _;

use super::accounts::{check_password, hash_off_thread, password_problem};
use super::mail;
use super::one_time::{self, Purpose};
use super::pages::{message_page, render, ForgotPage, Frame, ResetPage};
use super::session::{set_cookie, CsrfToken, Viewer, SESSION_COOKIE};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::store::dashboard::UserRecord;

const RESET_LINK_TTL_SECS: i64 = 3600;

fn frame(csrf: &CsrfToken) -> Frame {
    Frame {
        csrf: csrf.0.clone(),
        ..Frame::default()
    }
}

pub async fn forgot_page(csrf: CsrfToken) -> Response {
    render(&ForgotPage { frame: frame(&csrf) })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// Emails a reset link when the address has an account; the answer is the
/// same either way, and the link is made and sent after the answer so the
/// time to answer does not tell which addresses exist.
pub async fn forgot(
    State(state): State<AppState>,
    uri: http::Uri,
    headers: HeaderMap,
    Form(form): Form<ForgotForm>,
) -> ApiResult<Response> {
    let email = form.email.trim().to_ascii_lowercase();
    if let Some(user) = state.store().user_by_email(&email).await? {
        let base = crate::http::origin::public_base(&state.config().public_url, &uri, &headers).unwrap_or_default();
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = send_reset_link(&state, &user, &base).await {
                tracing::warn!(error = ?err, "a password reset link was not sent");
            }
        });
    }
    Ok(message_page(
        "Check your email",
        "If an account uses that address, we sent it a link to choose a new password.",
    ))
}

/// Stores a fresh reset link (ending any earlier one) and mails it.
async fn send_reset_link(state: &AppState, user: &UserRecord, base: &str) -> ApiResult<()> {
    let link_token = generate_opaque_token("pr_", &mut rand::rngs::OsRng);
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'reset' AND used_at IS NULL")
        .bind(now)
        .bind(&user.id)
        .execute(tx.conn())
        .await?;
    sqlx::query("INSERT INTO email_tokens (token_hash, user_id, purpose, expires_at) VALUES ($1, $2, 'reset', $3)")
        .bind(token_hash(link_token.expose_secret()))
        .bind(&user.id)
        .bind(now + RESET_LINK_TTL_SECS)
        .execute(tx.conn())
        .await?;
    tx.commit().await?;
    let body = format!(
        "Someone asked to reset the password of your Paygate account.\n\n\
         Open this link to choose a new one (valid for 1 hour, once):\n\n\
         {base}/dashboard/password/reset?token={}\n\n\
         If it was not you, ignore this message: your password stays as it is.\n",
        link_token.expose_secret()
    );
    mail::send(state, &user.email, "Reset your Paygate password", body)
        .await
        .map_err(ApiError::internal)
}

#[derive(Deserialize)]
pub struct ResetQuery {
    #[serde(default)]
    token: String,
}

pub async fn reset_page(csrf: CsrfToken, Query(query): Query<ResetQuery>) -> Response {
    render(&ResetPage {
        frame: frame(&csrf),
        token: query.token,
    })
}

#[derive(Deserialize)]
pub struct ResetForm {
    token: String,
    password: SecretString,
}

pub async fn reset(
    State(state): State<AppState>,
    csrf: CsrfToken,
    ClientIp(ip): ClientIp,
    Form(form): Form<ResetForm>,
) -> ApiResult<Response> {
    if let Some(problem) = password_problem(&form.password) {
        return Ok(render(&ResetPage {
            frame: Frame {
                error: Some(problem.to_owned()),
                ..frame(&csrf)
            },
            token: form.token,
        }));
    }
    let hash = hash_off_thread(form.password).await?;
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let row = sqlx::query(
        "UPDATE email_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = 'reset' AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(now)
    .bind(token_hash(&form.token))
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else {
        return Ok(message_page(
            "Link expired",
            "This reset link is not valid any more. Ask for a new one from the sign-in page.",
        ));
    };
    let user_id: String = row.try_get("user_id")?;
    let user = state
        .store()
        .user_by_id(&user_id)
        .await?
        .ok_or_else(|| ApiError::internal("a reset link without its user"))?;
    // The link proves the address: it also verifies it and lifts a lockout.
    sqlx::query(
        "UPDATE dashboard_users SET failed_logins = 0, locked_until = NULL, \
         email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2",
    )
    .bind(now)
    .bind(&user_id)
    .execute(tx.conn())
    .await?;
    replace_password(tx.conn(), &user, &hash, "dashboard.password_reset", ip, now).await?;
    tx.commit().await?;
    Ok(signed_out(message_page(
        "Password changed",
        "Your new password is set and every session has ended. Sign in with it now.",
    )))
}

/// Sets the password hash, ends every live session of the user and audits
/// it as `action`, in the caller's transaction.
async fn replace_password(
    conn: &mut sqlx::AnyConnection,
    user: &UserRecord,
    hash: &str,
    action: &str,
    ip: std::net::IpAddr,
    now: i64,
) -> ApiResult<()> {
    sqlx::query("UPDATE dashboard_users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now)
        .bind(&user.id)
        .execute(&mut *conn)
        .await?;
    let ended = sqlx::query("UPDATE dashboard_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(&user.id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    let entry = AuditEntry::new(action, Outcome::Success)
        .merchant(&user.merchant_id, paygate_proto::Environment::Test)
        .actor(&user.email)
        .ip(ip)
        .details(json!({ "sessions_ended": ended }));
    audit::record(conn, &entry, now).await?;
    Ok(())
}

/// `response`, clearing this browser's session cookie.
fn signed_out(mut response: Response) -> Response {
    if let Some(cookie) = set_cookie(SESSION_COOKIE, "", 0) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
pub struct ChangeForm {
    current_password: SecretString,
    new_password: SecretString,
    #[serde(default)]
    code: String,
}

/// Why a change was refused, if it was; `Ok(None)` once changed.
async fn try_change(
    state: &AppState,
    user: &UserRecord,
    form: ChangeForm,
    ip: std::net::IpAddr,
) -> ApiResult<Option<&'static str>> {
    if let Some(problem) = password_problem(&form.new_password) {
        return Ok(Some(problem));
    }
    if !check_password(form.current_password, Some(user.password_hash.clone())).await {
        super::accounts::record_failure(state, user, ip, "dashboard.password_change", "wrong_password").await?;
        return Ok(Some("Your current password is not that."));
    }
    if !one_time::verify(state, user, Purpose::PasswordChange, &form.code, ip).await? {
        return Ok(Some("That code is not valid. Enter a current code (each works once)."));
    }
    let hash = hash_off_thread(form.new_password).await?;
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    replace_password(tx.conn(), user, &hash, "dashboard.password_changed", ip, now).await?;
    tx.commit().await?;
    Ok(None)
}

pub async fn change(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientIp(ip): ClientIp,
    Form(form): Form<ChangeForm>,
) -> ApiResult<Response> {
    match try_change(&state, viewer.user(), form, ip).await? {
        None => Ok(signed_out(message_page(
            "Password changed",
            "Every session has ended, this one too. Sign in with your new password.",
        ))
        .into_response()),
        Some(problem) => super::security::view(&state, &viewer, None, Some(problem.to_owned())).await,
    }
}
