//! The merchant's dashboard (docs/api.md section 11): server-rendered pages for
//! a merchant's people, behind a session cookie, CSRF tokens on every form
//! and a strict Content-Security-Policy (no inline script or style).

mod accounts;
mod audit;
mod charts;
mod finance;
mod keys;
mod listing;
mod mail;
mod money;
pub mod one_time;
mod pages;
mod passwords;
mod second_factor;
mod security;
pub mod session;
mod webhooks;

use axum::http::HeaderValue;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;

/// No script at all, styles only from our own stylesheet, forms only to us.
pub const CONTENT_SECURITY_POLICY_VALUE: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(money::home))
        .route("/dashboard/mode", post(session::switch_mode))
        .route("/dashboard/codes", post(money::send_code))
        .route("/dashboard/payments", get(money::payments))
        .route("/dashboard/payments/{id}", get(money::payment))
        .route("/dashboard/payments/{id}/refund", post(finance::refund))
        .route("/dashboard/balance-transactions", get(finance::statement))
        .route("/dashboard/balance-transactions/export", get(finance::export))
        .route("/dashboard/withdrawals", get(money::withdrawals))
        .route("/dashboard/withdrawals/{id}/decide", post(money::decide))
        .route("/dashboard/audit", get(audit::list))
        .route("/dashboard/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/dashboard/webhooks/{id}", get(webhooks::show))
        .route("/dashboard/webhooks/{id}/rotate", post(webhooks::rotate))
        .route("/dashboard/webhooks/{id}/redeliver", post(webhooks::redeliver))
        .route("/dashboard/api-keys", get(keys::list).post(keys::create))
        .route("/dashboard/api-keys/{id}/roll", post(keys::roll))
        .route("/dashboard/api-keys/{id}/revoke", post(keys::revoke))
        .route(
            "/dashboard/register",
            get(accounts::register_page).post(accounts::register),
        )
        .route("/dashboard/verify", get(accounts::verify_email))
        .route("/dashboard/login", get(accounts::login_page).post(accounts::login))
        .route("/dashboard/login/2fa", post(accounts::login_second_factor))
        .route("/dashboard/logout", post(accounts::logout))
        .route("/dashboard/security", get(security::page))
        .route("/dashboard/security/policy", post(security::save_policy))
        .route("/dashboard/security/allowlists/{id}", post(security::save_allowlist))
        .route("/dashboard/security/password", post(passwords::change))
        .route("/dashboard/security/lockdown", post(security::lock_down))
        .route(
            "/dashboard/password/forgot",
            get(passwords::forgot_page).post(passwords::forgot),
        )
        .route(
            "/dashboard/password/reset",
            get(passwords::reset_page).post(passwords::reset),
        )
        .route("/dashboard/security/2fa/setup", post(second_factor::setup))
        .route("/dashboard/security/2fa/confirm", post(second_factor::confirm))
        .layer(middleware::from_fn(session::csrf_layer))
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
        .route("/dashboard/static/app.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}
