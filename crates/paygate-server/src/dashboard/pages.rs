//! The dashboard's pages (askama templates under `templates/dashboard/`).
//! Templates escape every value; nothing user-supplied is marked safe.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

use super::session::{CsrfToken, Mode};
use crate::store::dashboard::UserRecord;

/// What every page's frame needs.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    pub csrf: String,
    /// The signed-in user's email, when there is one.
    pub email: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
    /// The environment shown (`test` or `live`), on pages that show one.
    pub mode: Option<&'static str>,
    /// The page's place in the navigation (its path).
    pub section: &'static str,
    /// Working keys of the shown environment due for rotation (a banner).
    pub keys_due: usize,
}

impl Frame {
    /// The frame of a signed-in page in `section`, showing `mode`.
    pub fn signed_in(csrf: &CsrfToken, user: &UserRecord, mode: Mode, section: &'static str) -> Self {
        Frame {
            csrf: csrf.0.clone(),
            email: Some(user.email.clone()),
            mode: Some(mode.0.as_str()),
            section,
            ..Frame::default()
        }
    }

    pub fn with_notice(mut self, notice: Option<&str>) -> Self {
        self.notice = notice.map(str::to_owned);
        self
    }

    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }

    pub fn is_live(&self) -> bool {
        self.mode == Some("live")
    }

    pub fn navigation(&self) -> &'static [(&'static str, &'static str)] {
        NAVIGATION
    }

    /// Whether `path` is the current section (for the navigation).
    pub fn is(&self, path: &str) -> bool {
        self.section == path
    }
}

/// The navigation: path and label.
pub const NAVIGATION: &[(&str, &str)] = &[
    ("/dashboard", "Balances"),
    ("/dashboard/payments", "Payments"),
    ("/dashboard/withdrawals", "Withdrawals"),
    ("/dashboard/balance-transactions", "Statement"),
    ("/dashboard/api-keys", "API keys"),
    ("/dashboard/webhooks", "Webhooks"),
    ("/dashboard/security", "Security"),
    ("/dashboard/audit", "Audit log"),
];

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

#[derive(Template)]
#[template(path = "dashboard/forgot.html")]
pub struct ForgotPage {
    pub frame: Frame,
}

#[derive(Template)]
#[template(path = "dashboard/reset.html")]
pub struct ResetPage {
    pub frame: Frame,
    pub token: String,
}

/// `?done=` after a change's redirect: which fixed notice the page shows
/// (the text never comes from the URL).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    pub fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "code_sent" => "We emailed you a code. It works once, for 10 minutes.",
            "approved" => "Withdrawal approved.",
            "rejected" => "Withdrawal rejected; the funds are available again.",
            "revoked" => "Key revoked, with every session made from it.",
            "policy" => "Security policy saved.",
            "allowlist" => "IP allowlist saved. It applies to the key's next request.",
            "redelivered" => "Redelivery planned: it goes out shortly.",
            "refunded" => "Refund made: the money is on its way back to the payor.",
            _ => return None,
        })
    }
}
