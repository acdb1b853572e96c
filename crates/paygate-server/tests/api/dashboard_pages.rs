//! docs/api.md section 11, the dashboard's pages: keys made here work against the
//! API, payouts approved with a one-time code write the API's audit events
//! with the dashboard user as the actor, codes are single-use, purpose-bound
//! and limited, a password change or reset ends every session, lists follow
//! section 7, and the test/live switch changes what is shown.

use regex::Regex;
use reqwest::StatusCode;
use serde_json::Value;

use crate::dashboard::{hidden, link_path_from_outbox, location, newest_mail, register_and_verify, sign_in, Browser};
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

async fn change_password(browser: &mut Browser<'_>, current: &str, code: &str) -> String {
    let csrf = browser.csrf("/dashboard/security").await;
    browser
        .post(
            "/dashboard/security/password",
            &[
                ("csrf", &csrf),
                ("current_password", current),
                ("new_password", "an entirely new password"),
                ("code", code),
            ],
        )
        .await
        .text()
        .await
        .expect("html")
}

#[tokio::test]
async fn a_password_change_needs_the_current_password_and_a_code_and_ends_every_session() {
    let app = spawn_with(generous_limits).await;
    let mut first = signed_in(&app, "cfo@example.com").await;
    let mut second = Browser::new(&app);
    sign_in(&mut second, "cfo@example.com", PASSWORD).await;
    assert_eq!(second.get("/dashboard").await.status(), 200);

    let code = email_me_a_code(&mut first, "password_change", "/dashboard/security").await;
    let refused = change_password(&mut first, "not my password at all", &code).await;
    assert!(refused.contains("current password is not that"));
    let no_code = change_password(&mut first, PASSWORD, "123").await;
    assert!(no_code.contains("code is not valid"));
    let changed = change_password(&mut first, PASSWORD, &code).await;
    assert!(changed.contains("Password changed"), "{changed}");
    assert_eq!(first.get("/dashboard").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        second.get("/dashboard").await.status(),
        StatusCode::SEE_OTHER,
        "the other session ended too"
    );
    assert_eq!(
        sign_in(&mut second, "cfo@example.com", PASSWORD).await.status(),
        200,
        "the old password is refused"
    );
    assert_eq!(
        sign_in(&mut second, "cfo@example.com", "an entirely new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn a_password_reset_link_is_mailed_only_to_accounts_works_once_and_ends_sessions() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "owner@example.com").await;
    let mut stranger = Browser::new(&app);
    let csrf = stranger.csrf("/dashboard/password/forgot").await;
    let unknown = stranger
        .post(
            "/dashboard/password/forgot",
            &[("csrf", &csrf), ("email", "nobody@example.com")],
        )
        .await
        .text()
        .await
        .expect("html");
    let known = stranger
        .post(
            "/dashboard/password/forgot",
            &[("csrf", &csrf), ("email", "owner@example.com")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert_eq!(unknown, known, "the same answer for any address");
    // The mail goes out after the answer.
    let outbox = app.data_dir.join("outbox");
    let mut path = String::new();
    for _ in 0..50 {
        if newest_mail(&outbox).contains("Reset your Paygate password") {
            path = link_path_from_outbox(&outbox, "password/reset");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!path.is_empty(), "a reset link was mailed");
    let token = path.split_once("token=").expect("token").1.to_owned();
    let form = stranger.get(&path).await.text().await.expect("html");
    let csrf = hidden(&form, "csrf");
    let short = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "short")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(short.contains("12 to 128 characters"));
    let done = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "a brand new password")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(done.contains("Password changed"), "{done}");
    assert_eq!(
        browser.get("/dashboard").await.status(),
        StatusCode::SEE_OTHER,
        "sessions ended"
    );
    let again = stranger
        .post(
            "/dashboard/password/reset",
            &[("csrf", &csrf), ("token", &token), ("password", "yet another password")],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(again.contains("Link expired"), "a link works once");
    assert_eq!(
        sign_in(&mut browser, "owner@example.com", "a brand new password")
            .await
            .status(),
        StatusCode::SEE_OTHER
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

#[tokio::test]
async fn keys_roll_and_revoke_and_webhook_secrets_show_once() {
    let app = spawn_with(|config| {
        generous_limits(config);
        config.webhooks.allow_private_targets = true;
    })
    .await;
    let mut browser = signed_in(&app, "dev@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "rolling").await;
    let keys = browser.get("/dashboard/api-keys").await.text().await.expect("html");
    let key_id = Regex::new(r#"/dashboard/api-keys/([a-z]+_[A-Za-z0-9]+)/roll"#)
        .expect("re")
        .captures(&keys)
        .expect("roll form")[1]
        .to_owned();
    let csrf = hidden(&keys, "csrf");
    let rolled = browser
        .post(&format!("/dashboard/api-keys/{key_id}/roll"), &[("csrf", &csrf)])
        .await
        .text()
        .await
        .expect("html");
    assert!(rolled.contains("Key rolled") && rolled.contains("issued-secret"));
    let keys = browser.get("/dashboard/api-keys").await.text().await.expect("html");
    let ids: Vec<String> = Regex::new(r#"/dashboard/api-keys/([a-z]+_[A-Za-z0-9]+)/revoke"#)
        .expect("re")
        .captures_iter(&keys)
        .map(|c| c[1].to_owned())
        .collect();
    assert_eq!(ids.len(), 2, "the old key works for the grace period");
    let revoked = browser
        .post(&format!("/dashboard/api-keys/{key_id}/revoke"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&revoked), "/dashboard/api-keys?done=revoked");
    assert_eq!(
        api.get("/v1/balance").await.status,
        401,
        "the revoked key stops at once"
    );

    let created = browser
        .post(
            "/dashboard/webhooks",
            &[
                ("csrf", &csrf),
                ("url", "https://127.0.0.1:9/hooks"),
                ("events", "payment.succeeded, withdrawal.paid"),
            ],
        )
        .await
        .text()
        .await
        .expect("html");
    let secret = Regex::new(r#"id="endpoint-secret">(whsec_[^<]+)<"#)
        .expect("re")
        .captures(&created)
        .unwrap_or_else(|| panic!("the secret shown once: {created}"))[1]
        .to_owned();
    let list = browser.get("/dashboard/webhooks").await.text().await.expect("html");
    assert!(list.contains("https://127.0.0.1:9/hooks") && !list.contains(&secret));
    let endpoint = Regex::new(r#"/dashboard/webhooks/(we_[A-Za-z0-9]+)""#)
        .expect("re")
        .captures(&list)
        .expect("endpoint link")[1]
        .to_owned();
    let rotated = browser
        .post(&format!("/dashboard/webhooks/{endpoint}/rotate"), &[("csrf", &csrf)])
        .await
        .text()
        .await
        .expect("html");
    let new_secret = Regex::new(r#"id="endpoint-secret">(whsec_[^<]+)<"#)
        .expect("re")
        .captures(&rotated)
        .expect("new secret")[1]
        .to_owned();
    assert_ne!(new_secret, secret);
    let audit = browser.get("/dashboard/audit").await.text().await.expect("html");
    for action in [
        "api_key.rolled",
        "api_key.revoked",
        "webhook_endpoint.created",
        "webhook_endpoint.secret_rotated",
    ] {
        assert!(audit.contains(action), "{action} audited");
    }
    let bad = browser
        .post(
            "/dashboard/webhooks",
            &[
                ("csrf", &csrf),
                ("url", "https://127.0.0.1:9/x"),
                ("events", "no.such_event"),
            ],
        )
        .await
        .text()
        .await
        .expect("html");
    assert!(
        bad.contains("not a known event type"),
        "a refusal is explained on the page"
    );

    let (_, fresh) = key_from_dashboard(&mut browser, "policy").await;
    fresh
        .post("/v1/payments", card_payment(1_500, "USD", "4242424242424242"))
        .await
        .ok();
    // The worker also polls; waking it keeps the test short.
    app.running.state.webhooks().wake();
    let path = format!("/dashboard/webhooks/{endpoint}");
    let mut page = String::new();
    for _ in 0..50 {
        page = browser.get(&path).await.text().await.expect("html");
        if page.contains(r#"name="event""#) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let event = Regex::new(r#"name="event" value="(evt_[A-Za-z0-9]+)""#)
        .expect("re")
        .captures(&page)
        .unwrap_or_else(|| panic!("a delivery with a redeliver form: {page}"))[1]
        .to_owned();
    let redelivered = browser
        .post(&format!("{path}/redeliver"), &[("csrf", &csrf), ("event", &event)])
        .await;
    assert_eq!(location(&redelivered), format!("{path}?done=redelivered"));
    let page = browser.get(&path).await.text().await.expect("html");
    assert_eq!(
        page.matches(&format!(r#"value="{event}""#)).count(),
        2,
        "a second delivery planned"
    );
    let saved = browser
        .post(
            "/dashboard/security/policy",
            &[("csrf", &csrf), ("require_signature", "on")],
        )
        .await;
    assert_eq!(location(&saved), "/dashboard/security?done=policy");
    let page = browser.get("/dashboard/security").await.text().await.expect("html");
    assert!(page.contains(r#"name="require_signature" value="on" checked"#));
    let unsigned = fresh.get("/v1/balance").await;
    assert_eq!(
        unsigned.status, 401,
        "the policy is in force for the API: {:?}",
        unsigned.body
    );
    let audit = browser.get("/dashboard/audit").await.text().await.expect("html");
    assert!(audit.contains("security_policy.updated"));
}

#[tokio::test]
async fn an_ip_allowlist_saved_on_the_security_page_applies_to_the_next_request() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "sec@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "locked down").await;
    assert_eq!(api.get("/v1/balance").await.status, 200);
    let page = browser.get("/dashboard/security").await.text().await.expect("html");
    let key_id = Regex::new(r#"/dashboard/security/allowlists/([a-z]+_[A-Za-z0-9]+)""#)
        .expect("re")
        .captures(&page)
        .expect("an allowlist form")[1]
        .to_owned();
    let csrf = hidden(&page, "csrf");
    let path = format!("/dashboard/security/allowlists/{key_id}");
    let saved = browser
        .post(&path, &[("csrf", &csrf), ("allowed_ips", "10.1.2.3/8\n192.0.2.1")])
        .await;
    assert_eq!(location(&saved), "/dashboard/security?done=allowlist");
    let elsewhere = api.get("/v1/balance").await;
    assert_eq!(
        elsewhere.status, 403,
        "127.0.0.1 is not allowed now: {:?}",
        elsewhere.body
    );
    let page = browser.get("/dashboard/security").await.text().await.expect("html");
    assert!(
        page.contains("10.0.0.0/8") && page.contains("192.0.2.1/32"),
        "stored as networks"
    );

    let refused = browser
        .post(&path, &[("csrf", &csrf), ("allowed_ips", "not-an-address")])
        .await
        .text()
        .await
        .expect("html");
    assert!(refused.contains("is not an IP address or CIDR"), "{refused}");
    let cleared = browser.post(&path, &[("csrf", &csrf), ("allowed_ips", "")]).await;
    assert_eq!(location(&cleared), "/dashboard/security?done=allowlist");
    assert_eq!(api.get("/v1/balance").await.status, 200, "empty: any address again");
    let audit = api.get("/v1/audit-events?limit=100").await.ok();
    let updates: Vec<&Value> = audit["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["action"] == "api_key.allowlist_updated")
        .collect();
    assert_eq!(updates.len(), 2, "{audit}");
    assert_eq!(
        updates[1]["details"]["after"],
        serde_json::json!(["10.0.0.0/8", "192.0.2.1/32"])
    );
    assert_eq!(updates[1]["actor"], "sec@example.com");
}

#[tokio::test]
async fn old_keys_raise_a_banner_and_the_lockdown_button_needs_a_code_then_leaves_one_new_key() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "ops@example.com").await;
    let (_, old) = key_from_dashboard(&mut browser, "old").await;
    assert_eq!(old.get("/v1/balance").await.status, 200);
    let home = browser.get("/dashboard").await.text().await.expect("html");
    assert!(!home.contains("rotation-due"), "no banner for a new key: {home}");

    // The dashboard merchant's key, backdated past 90 days, is due.
    let db = app.raw_db().await;
    sqlx::query("UPDATE api_keys SET created_at = $1 WHERE merchant_id <> $2")
        .bind(crate::auth_helpers::unix_now() - 91 * 86_400)
        .bind(&app.merchant_id)
        .execute(&db)
        .await
        .expect("backdate");
    let home = browser.get("/dashboard").await.text().await.expect("html");
    assert!(
        home.contains(r#"id="rotation-due""#) && home.contains("One API key in this mode is due for rotation"),
        "{home}"
    );

    // A wrong code changes nothing.
    let csrf = browser.csrf("/dashboard/security").await;
    let refused = browser
        .post("/dashboard/security/lockdown", &[("csrf", &csrf), ("code", "000000")])
        .await
        .text()
        .await
        .expect("html");
    assert!(refused.contains("That code is not valid"), "{refused}");
    assert_eq!(old.get("/v1/balance").await.status, 200);

    // With an emailed lockdown code: the old key stops, one new key is shown once and works.
    let code = email_me_a_code(&mut browser, "lockdown", "/dashboard/security").await;
    let csrf = browser.csrf("/dashboard/security").await;
    let html = browser
        .post("/dashboard/security/lockdown", &[("csrf", &csrf), ("code", &code)])
        .await
        .text()
        .await
        .expect("html");
    assert!(html.contains(r#"id="locked-down""#), "{html}");
    let new_key = Regex::new(r#"id="issued-key">([^<]+)<"#)
        .expect("re")
        .captures(&html)
        .expect("new key")[1]
        .to_owned();
    let fresh = Api {
        key: new_key,
        secret: None,
        ..old.clone()
    };
    assert_eq!(old.get("/v1/balance").await.status, 401);
    assert_eq!(fresh.get("/v1/balance").await.status, 200);
    let home = browser.get("/dashboard").await.text().await.expect("html");
    assert!(
        !home.contains("rotation-due"),
        "the revoked key is no longer due: {home}"
    );

    // The code was single-use, and the lockdown is audited with the person as the actor.
    let again = browser
        .post("/dashboard/security/lockdown", &[("csrf", &csrf), ("code", &code)])
        .await
        .text()
        .await
        .expect("html");
    assert!(again.contains("That code is not valid"), "{again}");
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM audit_events WHERE action = 'security.lockdown'")
        .fetch_all(&db)
        .await
        .expect("audit");
    assert_eq!(actors, vec!["ops@example.com".to_owned()]);
}
