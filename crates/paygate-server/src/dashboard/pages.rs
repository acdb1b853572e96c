//! The dashboard's pages (askama templates under `templates/dashboard/`).
//! Templates escape every value; nothing user-supplied is marked safe.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

/// What every page's frame needs.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub csrf: String,
    /// The signed-in user's email, when there is one.
    pub email: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "a dashboard page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("Service temporarily unavailable. Please try again."),
            )
                .into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/message.html")]
pub struct MessagePage<'a> {
    pub frame: Frame,
    pub title: &'a str,
    pub text: &'a str,
}

/// A page with a title and one paragraph.
pub fn message_page(title: &str, text: &str) -> Response {
    render(&MessagePage {
        frame: Frame::default(),
        title,
        text,
    })
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
pub struct LoginPage {
    pub frame: Frame,
    pub email: String,
}

#[derive(Template)]
#[template(path = "dashboard/second_factor.html")]
pub struct SecondFactorPage {
    pub frame: Frame,
    pub pending: String,
}

#[derive(Template)]
#[template(path = "dashboard/register.html")]
pub struct RegisterPage {
    pub frame: Frame,
    pub email: String,
    pub country: String,
}

pub struct BalanceLine {
    pub env: &'static str,
    pub currency: String,
    pub available: String,
    pub pending: String,
    pub reserved: String,
}

#[derive(Template)]
#[template(path = "dashboard/home.html")]
pub struct HomePage {
    pub frame: Frame,
    pub merchant_id: String,
    pub balances: Vec<BalanceLine>,
}

#[derive(Template)]
#[template(path = "dashboard/security.html")]
pub struct SecurityPage {
    pub frame: Frame,
    pub totp_enabled: bool,
}

#[derive(Template)]
#[template(path = "dashboard/totp_setup.html")]
pub struct TotpSetupPage {
    pub frame: Frame,
    /// An SVG QR code made by the server from the otpauth URL (no user input).
    pub qr_svg: String,
    pub secret_base32: String,
}

#[derive(Template)]
#[template(path = "dashboard/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub frame: Frame,
    pub codes: Vec<String>,
}
