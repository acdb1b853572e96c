//! docs/api.md section 11, the dashboard's accounts: registration with email
//! verification, sign-in, the session cookie, CSRF, lockout and TOTP 2FA.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};

use crate::support::{spawn_app, TestApp};

/// A browser as far as these pages need: cookies kept, redirects visible.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    http: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none());
        for cert in reqwest::Certificate::from_pem_bundle(&app.ca_pem).expect("pem") {
            builder = builder.add_root_certificate(cert);
        }
        Self {
            app,
            http: builder.build().expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn keep_cookies(&mut self, response: &Response) {
        for header in response.headers().get_all(SET_COOKIE) {
            let text = header.to_str().expect("ascii");
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("cookie");
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let response = self
            .http
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("get");
        self.keep_cookies(&response);
        response
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let response = self
            .http
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .form(fields)
            .send()
            .await
            .expect("post");
        self.keep_cookies(&response);
        response
    }

    /// Loads a page and returns its CSRF token.
    pub async fn csrf(&mut self, path: &str) -> String {
        let html = self.get(path).await.text().await.expect("html");
        hidden(&html, "csrf")
    }
}

pub fn hidden(html: &str, name: &str) -> String {
    let re = Regex::new(&format!(r#"name="{name}" value="([^"]+)""#)).expect("regex");
    re.captures(html)
        .map(|c| c[1].to_owned())
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
}

pub fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default()
}

/// The newest mail in the outbox, quoted-printable soft breaks undone.
pub fn newest_mail(outbox: &Path) -> String {
    let mut mails: Vec<_> = std::fs::read_dir(outbox)
        .expect("outbox")
        .filter_map(Result::ok)
        .collect();
    mails.sort_by_key(|e| e.metadata().and_then(|m| m.modified()).ok());
    let text = std::fs::read_to_string(mails.last().expect("a mail").path()).expect("eml");
    text.replace("=\r\n", "").replace("=3D", "=")
}

/// The path of the first dashboard link in the newest mail matching `pattern`.
pub fn link_path_from_outbox(outbox: &Path, pattern: &str) -> String {
    let text = newest_mail(outbox);
    let re = Regex::new(&format!(r"https://[^\s]+(/dashboard/{pattern}\?token=[A-Za-z0-9_\-]+)")).expect("regex");
    re.captures(&text).expect("link in mail")[1].to_owned()
}

pub async fn register_and_verify(browser: &mut Browser<'_>, email: &str, password: &str) {
    let csrf = browser.csrf("/dashboard/register").await;
    let response = browser
        .post(
            "/dashboard/register",
            &[
                ("csrf", &csrf),
                ("email", email),
                ("password", password),
                ("country", "ZA"),
            ],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.expect("html").contains("Check your email"));
    let path = link_path_from_outbox(&browser.app.data_dir.join("outbox"), "verify");
    let verified = browser.get(&path).await.text().await.expect("html");
    assert!(verified.contains("Email verified"), "{verified}");
}

pub async fn sign_in(browser: &mut Browser<'_>, email: &str, password: &str) -> Response {
    let csrf = browser.csrf("/dashboard/login").await;
    browser
        .post(
            "/dashboard/login",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
}

#[tokio::test]
async fn register_verify_sign_in_and_out() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    let unauthenticated = browser.get("/dashboard").await;
    assert_eq!(unauthenticated.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&unauthenticated), "/dashboard/login");

    register_and_verify(&mut browser, "finance@example.com", "correct horse battery").await;
    let signed_in = sign_in(&mut browser, "Finance@Example.com", "correct horse battery").await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let cookie = signed_in
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().expect("ascii").to_owned())
        .find(|c| c.starts_with("__Host-paygate="))
        .expect("session cookie");
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing from {cookie}");
    }
    assert!(!cookie.contains("Domain="), "a __Host- cookie has no Domain");

    let home = browser.get("/dashboard").await;
    assert_eq!(home.status(), 200);
    let csp = home.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(home.headers()["x-frame-options"], "DENY");
    let html = home.text().await.expect("html");
    assert!(html.contains("MCH-ZA-") && html.contains("finance@example.com"));
    assert!(!html.contains("<script"), "no script on dashboard pages");

    let session_cookie = browser.cookies["__Host-paygate"].clone();
    let csrf = hidden(&html, "csrf");
    let out = browser.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    assert_eq!(location(&out), "/dashboard/login");
    assert_eq!(browser.get("/dashboard").await.status(), StatusCode::SEE_OTHER);
    // The old cookie, replayed, is dead: the session ended on the server.
    browser.cookies.insert("__Host-paygate".into(), session_cookie);
    assert_eq!(browser.get("/dashboard").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_look_alike_and_failures_lock_the_account() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    register_and_verify(&mut browser, "ops@example.com", "a long enough password").await;
    let unknown = sign_in(&mut browser, "nobody@example.com", "whatever it is here")
        .await
        .text()
        .await
        .expect("html");
    let wrong = sign_in(&mut browser, "ops@example.com", "not the password at all")
        .await
        .text()
        .await
        .expect("html");
    let message = |html: &str| {
        Regex::new(r#"role="alert">([^<]+)<"#)
            .expect("re")
            .captures(html)
            .map(|c| c[1].to_owned())
    };
    assert!(message(&unknown).is_some());
    assert_eq!(message(&unknown), message(&wrong));
    for _ in 0..4 {
        sign_in(&mut browser, "ops@example.com", "still not the password").await;
    }
    let locked = sign_in(&mut browser, "ops@example.com", "a long enough password").await;
    assert_eq!(locked.status(), 200, "the right password is refused while locked");
    let db = app.raw_db().await;
    let locked_until: Option<i64> =
        sqlx::query_scalar("SELECT locked_until FROM dashboard_users WHERE email = 'ops@example.com'")
            .fetch_one(&db)
            .await
            .expect("row");
    assert!(locked_until.is_some_and(|t| t > app.running.state.now() + 800));
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    browser.get("/dashboard/login").await;
    let response = browser
        .post("/dashboard/login", &[("email", "a@example.com"), ("password", "x")])
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let forged = browser
        .post(
            "/dashboard/login",
            &[
                ("csrf", "forged-token-forged-token-forged-token"),
                ("email", "a@example.com"),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&app);
    let no_cookie = stranger
        .post(
            "/dashboard/login",
            &[("csrf", "anything"), ("email", "a@example.com"), ("password", "x")],
        )
        .await;
    assert_eq!(no_cookie.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn two_factor_enrolment_and_sign_in_with_each_code_accepted_once() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    register_and_verify(&mut browser, "cfo@example.com", "a long enough password").await;
    sign_in(&mut browser, "cfo@example.com", "a long enough password").await;
    let csrf = browser.csrf("/dashboard/security").await;
    let setup = browser
        .post("/dashboard/security/2fa/setup", &[("csrf", &csrf)])
        .await
        .text()
        .await
        .expect("html");
    assert!(setup.contains("<svg"), "a QR code is shown");
    let secret = Regex::new(r#"id="totp-secret">([A-Z2-7]+)<"#)
        .expect("re")
        .captures(&setup)
        .expect("secret")[1]
        .to_owned();
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(secret.clone()).to_bytes().expect("base32"),
    )
    .expect("totp");
    let code = totp.generate_current().expect("code");
    let confirmed = browser
        .post("/dashboard/security/2fa/confirm", &[("csrf", &csrf), ("code", &code)])
        .await
        .text()
        .await
        .expect("html");
    let codes: Vec<String> = Regex::new(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>")
        .expect("re")
        .captures_iter(&confirmed)
        .map(|c| c[1].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "recovery codes shown once: {confirmed}");

    let csrf = browser.csrf("/dashboard").await;
    browser.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    let step = sign_in(&mut browser, "cfo@example.com", "a long enough password")
        .await
        .text()
        .await
        .expect("html");
    let pending = hidden(&step, "pending");
    let csrf = hidden(&step, "csrf");
    // The code used to confirm enrolment was accepted once already.
    let reused = browser
        .post(
            "/dashboard/login/2fa",
            &[("csrf", &csrf), ("pending", &pending), ("code", &code)],
        )
        .await;
    assert_eq!(reused.status(), 200, "a used code is refused");
    let recovery = browser
        .post(
            "/dashboard/login/2fa",
            &[("csrf", &csrf), ("pending", &pending), ("code", &codes[0])],
        )
        .await;
    assert_eq!(recovery.status(), StatusCode::SEE_OTHER, "a recovery code signs in");
    assert_eq!(browser.get("/dashboard").await.status(), 200);

    let csrf = browser.csrf("/dashboard").await;
    browser.post("/dashboard/logout", &[("csrf", &csrf)]).await;
    let step = sign_in(&mut browser, "cfo@example.com", "a long enough password")
        .await
        .text()
        .await
        .expect("html");
    let again = browser
        .post(
            "/dashboard/login/2fa",
            &[
                ("csrf", &hidden(&step, "csrf")),
                ("pending", &hidden(&step, "pending")),
                ("code", &codes[0]),
            ],
        )
        .await;
    assert_eq!(again.status(), 200, "a recovery code works once");
}
