//! The merchant's dashboard (API.md section 11): server-rendered pages for
//! a merchant's people, behind a session cookie, CSRF tokens on every form
//! and a strict Content-Security-Policy (no inline script or style).

mod accounts;
mod mail;
mod pages;
mod second_factor;
pub mod session;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use paygate_proto::Environment;
use tower_http::set_header::SetResponseHeaderLayer;

use self::pages::{render, BalanceLine, Frame, HomePage};
use self::session::{CsrfToken, SignedIn};
use crate::app::AppState;
use crate::http::ApiResult;

/// No script at all, styles only from our own stylesheet, forms only to us.
pub const CONTENT_SECURITY_POLICY_VALUE: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/dashboard", get(home))
        .route(
            "/dashboard/register",
            get(accounts::register_page).post(accounts::register),
        )
        .route("/dashboard/verify", get(accounts::verify_email))
        .route("/dashboard/login", get(accounts::login_page).post(accounts::login))
        .route("/dashboard/login/2fa", post(accounts::login_second_factor))
        .route("/dashboard/logout", post(accounts::logout))
        .route("/dashboard/security", get(second_factor::security_page))
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

/// Minor units as a decimal amount (`12345` in a 2-decimal currency: `123.45`).
fn format_minor(amount: i64, currency: &str) -> String {
    let decimals = match currency {
        "BTC" => 8,
        "USDT" | "USDC" => 6,
        _ => 2,
    };
    let divisor = 10_i64.pow(decimals);
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let divisor = divisor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / divisor,
        abs % divisor,
        width = decimals as usize
    )
}

async fn home(State(state): State<AppState>, csrf: CsrfToken, signed_in: SignedIn) -> ApiResult<Response> {
    let merchant = &signed_in.user.merchant_id;
    let mut balances = Vec::new();
    for env in [Environment::Live, Environment::Test] {
        let mut by_currency: std::collections::BTreeMap<String, [i64; 3]> = Default::default();
        for row in state.store().balances(merchant, env).await? {
            let slot = by_currency.entry(row.currency).or_default();
            match row.account.as_str() {
                "available" => slot[0] = row.amount,
                "pending" => slot[1] = row.amount,
                "reserved" => slot[2] = row.amount,
                _ => {}
            }
        }
        for (currency, [available, pending, reserved]) in by_currency {
            balances.push(BalanceLine {
                env: env.as_str(),
                available: format_minor(available, &currency),
                pending: format_minor(pending, &currency),
                reserved: format_minor(reserved, &currency),
                currency,
            });
        }
    }
    Ok(render(&HomePage {
        frame: Frame {
            csrf: csrf.0,
            email: Some(signed_in.user.email.clone()),
            ..Frame::default()
        },
        merchant_id: merchant.to_string(),
        balances,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn minor_units_format_by_currency() {
        assert_eq!(super::format_minor(12345, "USD"), "123.45");
        assert_eq!(super::format_minor(5, "ZAR"), "0.05");
        assert_eq!(super::format_minor(150_000_000, "BTC"), "1.50000000");
        assert_eq!(super::format_minor(-1_500_000, "USDC"), "-1.500000");
    }
}
