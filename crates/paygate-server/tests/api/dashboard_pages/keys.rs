//! Keys and security on the pages: roll, revoke, webhook secrets shown
//! once, an IP allowlist in force on the next request, the rotation banner
//! and the lockdown button.

use regex::Regex;
use serde_json::Value;

use super::{email_me_a_code, key_from_dashboard, signed_in};
use crate::dashboard::{hidden, location};
use crate::money_support::{card_payment, generous_limits, Api};
use crate::support::spawn_with;

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
