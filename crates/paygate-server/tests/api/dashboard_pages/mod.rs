//! docs/api.md section 11, the dashboard's pages: keys made here work against the
//! API, payouts approved with a one-time code write the API's audit events
//! with the dashboard user as the actor, codes are single-use, purpose-bound
//! and limited, a password change or reset ends every session, lists follow
//! section 7, and the test/live switch changes what is shown.
//! This module holds the helpers the page tests share.

mod keys;
mod passwords;
mod payouts;

use regex::Regex;
use reqwest::StatusCode;
use serde_json::Value;

use crate::dashboard::{hidden, location, newest_mail, register_and_verify, sign_in, Browser};
use crate::money_support::{card_payment, generous_limits, Api};
use crate::support::{spawn_with, TestApp};

const PASSWORD: &str = "a long enough password";

pub(crate) async fn signed_in<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    register_and_verify(&mut browser, email, PASSWORD).await;
    let response = sign_in(&mut browser, email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    browser
}

/// Creates a key on the API keys page; returns the page and the API client.
pub(crate) async fn key_from_dashboard(browser: &mut Browser<'_>, name: &str) -> (String, Api) {
    let csrf = browser.csrf("/dashboard/api-keys").await;
    let html = browser
        .post("/dashboard/api-keys", &[("csrf", &csrf), ("name", name)])
        .await
        .text()
        .await
        .expect("html");
    let shown = |id: &str| {
        Regex::new(&format!(r#"id="{id}">([^<]+)<"#))
            .expect("re")
            .captures(&html)
            .unwrap_or_else(|| panic!("{id} shown in {html}"))[1]
            .to_owned()
    };
    let api = Api {
        http: browser.app.http(),
        base_url: browser.app.base_url.clone(),
        key: shown("issued-key"),
        secret: Some(shown("issued-secret")),
    };
    (html, api)
}

/// The 6-digit code in the newest mail.
fn code_from_outbox(app: &TestApp) -> String {
    let mail = newest_mail(&app.data_dir.join("outbox"));
    Regex::new(r"(?m)^\s+(\d{6})\s*$")
        .expect("re")
        .captures(&mail)
        .unwrap_or_else(|| panic!("a code in {mail}"))[1]
        .to_owned()
}

async fn email_me_a_code(browser: &mut Browser<'_>, purpose: &str, back: &str) -> String {
    let csrf = browser.csrf(back).await;
    let sent = browser
        .post(
            "/dashboard/codes",
            &[("csrf", &csrf), ("purpose", purpose), ("back", back)],
        )
        .await;
    assert_eq!(location(&sent), format!("{back}?done=code_sent"));
    code_from_outbox(browser.app)
}

async fn decide(browser: &mut Browser<'_>, id: &str, decision: &str, code: &str) -> reqwest::Response {
    let csrf = browser.csrf("/dashboard/withdrawals").await;
    browser
        .post(
            &format!("/dashboard/withdrawals/{id}/decide"),
            &[("csrf", &csrf), ("decision", decision), ("code", code)],
        )
        .await
}

#[tokio::test]
async fn a_key_made_in_the_dashboard_works_and_payouts_need_a_single_use_code_for_that_purpose() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "finance@example.com").await;
    let (issued_page, api) = key_from_dashboard(&mut browser, "payouts").await;
    assert!(issued_page.contains("shown only this once"));
    assert_eq!(api.get("/v1/balance").await.status, 200, "the new key works");
    // Listed afterwards masked: the secret never again.
    let keys = browser.get("/dashboard/api-keys").await.text().await.expect("html");
    assert!(keys.contains("payouts") && !keys.contains(api.secret.as_deref().expect("secret")));
    assert!(!keys.contains(&api.key), "the key is listed masked");

    api.fund(10_000, "EUR").await;
    let first = api.withdraw(4_000, "EUR", "wd-a").await.ok();
    let second = api.withdraw(3_000, "EUR", "wd-b").await.ok();
    let (first, second) = (first["id"].as_str().expect("id"), second["id"].as_str().expect("id"));
    let page = browser.get("/dashboard/withdrawals").await.text().await.expect("html");
    assert!(page.contains(first) && page.contains("40.00 EUR") && page.contains("GB ···· 5432"));

    let wrong = decide(&mut browser, first, "approve", "000000").await;
    assert_eq!(wrong.status(), 200);
    assert!(wrong.text().await.expect("html").contains("That code is not valid"));
    assert_eq!(
        api.get(&format!("/v1/withdrawal-requests/{first}")).await.ok()["status"],
        "pending_approval"
    );

    let code = email_me_a_code(&mut browser, "payout_approval", "/dashboard/withdrawals").await;
    let approved = decide(&mut browser, first, "approve", &code).await;
    assert_eq!(location(&approved), "/dashboard/withdrawals?done=approved");
    assert_eq!(
        api.get(&format!("/v1/withdrawal-requests/{first}")).await.ok()["status"],
        "paid"
    );
    let reused = decide(&mut browser, second, "reject", &code).await;
    assert_eq!(reused.status(), 200, "a code works once");

    // A code made for a password change does not approve payouts.
    let other_purpose = email_me_a_code(&mut browser, "password_change", "/dashboard/security").await;
    assert_eq!(
        decide(&mut browser, second, "reject", &other_purpose).await.status(),
        200
    );
    let code = email_me_a_code(&mut browser, "payout_approval", "/dashboard/withdrawals").await;
    let rejected = decide(&mut browser, second, "reject", &code).await;
    assert_eq!(location(&rejected), "/dashboard/withdrawals?done=rejected");
    assert_eq!(api.balance("EUR").await, (6_000, 0, 0));

    // The same audit events as the API, with the dashboard user as the actor.
    let audit = api.get("/v1/audit-events?limit=100").await.ok();
    let rows = audit["data"].as_array().expect("rows");
    let by = |action: &str| {
        rows.iter()
            .find(|r| r["action"] == action)
            .cloned()
            .unwrap_or(Value::Null)
    };
    for action in ["api_key.created", "payout.approved", "payout.rejected"] {
        assert_eq!(by(action)["actor"], "finance@example.com", "{action}: {audit}");
    }
    assert_eq!(by("payout.approved")["details"]["withdrawal_id"], first);
    let page = browser.get("/dashboard/audit").await.text().await.expect("html");
    for action in [
        "payout.approved",
        "payout.rejected",
        "api_key.created",
        "dashboard.login",
    ] {
        assert!(page.contains(action), "{action} on the audit page");
    }
}

#[tokio::test]
async fn wrong_codes_are_limited_and_lock_the_account() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "ops@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "ops").await;
    api.fund(1_000, "EUR").await;
    let id = api.withdraw(500, "EUR", "wd-x").await.ok()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let code = email_me_a_code(&mut browser, "payout_approval", "/dashboard/withdrawals").await;
    let wrong = if code == "111111" { "222222" } else { "111111" };
    for _ in 0..5 {
        assert_eq!(decide(&mut browser, &id, "approve", wrong).await.status(), 200);
    }
    let late = decide(&mut browser, &id, "approve", &code).await;
    assert_eq!(
        late.status(),
        200,
        "after five wrong tries the right code is refused too"
    );
    assert_eq!(
        api.get(&format!("/v1/withdrawal-requests/{id}")).await.ok()["status"],
        "pending_approval"
    );
    let db = app.raw_db().await;
    let (attempts, locked): (i64, Option<i64>) = sqlx::query_as(
        "SELECT c.attempts, u.locked_until FROM one_time_codes c JOIN dashboard_users u ON u.id = c.user_id \
         WHERE u.email = 'ops@example.com'",
    )
    .fetch_one(&db)
    .await
    .expect("row");
    assert_eq!(attempts, 5);
    assert!(locked.is_some(), "wrong codes count towards the lockout");
    let stored: Vec<String> = sqlx::query_scalar("SELECT code_hash FROM one_time_codes")
        .fetch_all(&db)
        .await
        .expect("rows");
    assert!(
        stored.iter().all(|h| h.len() == 64 && !h.contains(&code)),
        "codes are stored hashed"
    );
}

#[tokio::test]
async fn pages_list_with_the_api_rules_and_the_mode_switch_changes_what_is_shown() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "eng@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "eng").await;
    for amount in [1_000, 2_000, 3_000] {
        api.post("/v1/payments", card_payment(amount, "USD", "4242424242424242"))
            .await
            .ok();
    }
    let first = browser
        .get("/dashboard/payments?limit=2&sortBy=amount&order=asc")
        .await
        .text()
        .await
        .expect("html");
    assert!(first.contains("10.00 USD") && first.contains("20.00 USD") && !first.contains("30.00 USD"));
    let next = Regex::new(r#"href="([^"]+)" rel="next""#)
        .expect("re")
        .captures(&first)
        .expect("a next link")[1]
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let second = browser.get(&next).await.text().await.expect("html");
    assert!(
        second.contains("30.00 USD") && !second.contains("10.00 USD"),
        "{second}"
    );
    assert!(!second.contains(r#"rel="next""#));
    let id = Regex::new(r#"/dashboard/payments/(pay_[A-Za-z0-9]+)"#)
        .expect("re")
        .captures(&second)
        .expect("a payment link")[1]
        .to_owned();
    let detail = browser
        .get(&format!("/dashboard/payments/{id}"))
        .await
        .text()
        .await
        .expect("html");
    assert!(detail.contains("30.00 USD") && detail.contains("4242"));
    let balances = browser.get("/dashboard").await.text().await.expect("html");
    assert!(balances.contains("60.00") && balances.contains("Test mode"));

    let csrf = hidden(&balances, "csrf");
    let switched = browser
        .post(
            "/dashboard/mode",
            &[("csrf", &csrf), ("env", "live"), ("back", "/dashboard/payments")],
        )
        .await;
    assert_eq!(location(&switched), "/dashboard/payments");
    let live = browser.get("/dashboard/payments").await.text().await.expect("html");
    assert!(live.contains("No payments here yet") && !live.contains("30.00 USD"));
    let elsewhere = browser
        .post(
            "/dashboard/mode",
            &[("csrf", &csrf), ("env", "live"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&elsewhere), "/dashboard", "no open redirect");
    let other = browser.get(&format!("/dashboard/payments/{id}")).await;
    assert_eq!(other.status(), 404, "a test payment is not found in live mode");
}
