//! docs/api.md section 14, operations: suspension on every surface with webhook
//! deliveries held and resumed; lockdown ending every credential on every
//! instance at once; key age (`rotation_due`, one `key_rotation_due` alert a
//! week, the optional maximum age).

use std::time::{Duration, Instant};

use paygate_proto::{Environment, MerchantId};
use regex::Regex;
use reqwest::Method;
use serde_json::{json, Value};

use crate::auth_helpers::{create_key, exchange, problem};
use crate::checkout::{create_session, payor_call};
use crate::dashboard::{register_and_verify, sign_in, Browser};
use crate::realtime::{mint, next_event, open};
use crate::support::{paygate, spawn_app, spawn_with, TestApp};
use crate::webhooks::{create_endpoint, emit, Receiver};

/// `GET path` on `base` with `headers`; the status and problem code.
async fn call(app: &TestApp, base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = app.http().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// Runs the CLI with `--json` and returns its output, which must succeed.
/// It runs off the test's runtime, which also runs the server: a server
/// task paused inside a write transaction would hold the database.
async fn cli_json(app: &TestApp, args: &[&str]) -> Value {
    let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    all.push("--json".to_owned());
    let (data_dir, database_url) = (app.data_dir.clone(), app.database_url.clone());
    let output = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        paygate(&data_dir, &args, &[("PAYGATE_DATABASE_URL", &database_url)])
    })
    .await
    .expect("cli");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cli json")
}

/// Reads a socket up to its first `security.alert`, checks that the socket
/// closes after it, and returns the alert.
async fn alert_then_close(socket: &mut crate::realtime::Socket) -> Value {
    let alert = loop {
        let event = next_event(socket, Duration::from_secs(5)).await.expect("an alert");
        if event["type"] == "security.alert" {
            break event;
        }
    };
    assert!(
        next_event(socket, Duration::from_secs(2)).await.is_none(),
        "the socket closed"
    );
    alert
}

fn checkout_body() -> Value {
    json!({"amount": 1500, "currency": "ZAR"})
}

#[tokio::test]
async fn a_suspended_merchant_is_refused_on_every_surface_and_its_webhooks_wait_until_it_is_restored() {
    let app = spawn_with(|config| config.webhooks.allow_private_targets = true).await;
    let base = app.base_url.clone();
    let (receiver, port) = Receiver::start(vec![(200, "ok".to_owned())]).await;
    let endpoint = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook")).await;
    assert_eq!(endpoint.status(), 200);
    // Every kind of credential, made (and used once, so cached) beforehand.
    let client = app.http();
    let (token, session) = exchange(&app, &client, &base, &app.key).await;
    let bearer = format!("Bearer {token}");
    let token_headers = [("authorization", bearer.as_str()), ("x-session-id", session.as_str())];
    assert_eq!(call(&app, &base, "/v1/balance", &token_headers).await.0, 200);
    assert_eq!(
        call(&app, &base, "/v1/balance", &[("x-api-key", &app.key)]).await.0,
        200
    );
    let (_, payor) = create_session(&app, checkout_body()).await;
    let ws_token = mint(&app, &app.key, json!({})).await;
    let mut socket = open(&app, &mint(&app, &app.key, json!({})).await).await;

    let suspended = cli_json(
        &app,
        &["merchant", "suspend", &app.merchant_id, "--reason", "chargeback fraud"],
    )
    .await;
    assert_eq!(suspended["suspended"], true);
    assert_eq!(suspended["changed"], true);

    let key_headers = [("x-api-key", app.key.as_str())];
    assert_eq!(
        call(&app, &base, "/v1/balance", &key_headers).await,
        (403, "account_suspended".to_owned())
    );
    assert_eq!(
        call(&app, &base, "/v1/balance", &token_headers).await,
        (403, "account_suspended".to_owned())
    );
    let exchanged = client
        .post(format!("{base}/v1/auth/token"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", &app.merchant_id)
        .send()
        .await
        .expect("token request");
    assert_eq!(problem(exchanged).await.1, "account_suspended");
    let paying = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::GET,
        "/v1/payor/session",
        None,
    )
    .await;
    assert_eq!(problem(paying).await.1, "account_suspended");
    let socket_path = format!("/v1/realtime?ws_token={ws_token}");
    assert_eq!(
        call(&app, &base, &socket_path, &[]).await,
        (403, "account_suspended".to_owned())
    );

    // An open socket hears the suspension's alert, then closes.
    let alert = alert_then_close(&mut socket).await;
    assert_eq!(alert["data"]["object"]["type"], "account_suspended");

    // An event made while suspended waits.
    let event_id = emit(&app, Environment::Test).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.count(), 0, "no delivery while suspended");

    let restored = cli_json(&app, &["merchant", "unsuspend", &app.merchant_id]).await;
    assert_eq!(restored["suspended"], false);
    assert_eq!(call(&app, &base, "/v1/balance", &key_headers).await.0, 200);
    assert_eq!(call(&app, &base, "/v1/balance", &token_headers).await.0, 200);
    // The held event arrives, and so does the suspension's own alert.
    let deadline = Instant::now() + Duration::from_secs(15);
    let delivered = loop {
        let ids: Vec<String> = (0..receiver.count())
            .map(|i| receiver.request(i).0["webhook-id"].to_str().expect("ascii").to_owned())
            .collect();
        if ids.contains(&event_id) {
            break ids;
        }
        assert!(Instant::now() < deadline, "the held delivery never arrived: {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        delivered.len(),
        delivered.iter().collect::<std::collections::HashSet<_>>().len()
    );
    let alert_ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM events WHERE type = 'security.alert' AND env = 'test' ORDER BY seq")
            .fetch_all(&app.raw_db().await)
            .await
            .expect("alerts");
    assert_eq!(alert_ids.len(), 2, "account_suspended and account_restored");
    assert!(
        delivered.contains(&alert_ids[0]),
        "the suspension alert was delivered too: {delivered:?}"
    );

    // Both changes are in the audit log, with the reason.
    let db = app.raw_db().await;
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE action IN ('merchant.suspended', 'merchant.unsuspended') ORDER BY seq",
    )
    .fetch_all(&db)
    .await
    .expect("audit rows");
    assert_eq!(reasons, ["chargeback fraud", "suspension lifted"]);
}

#[tokio::test]
async fn a_suspended_merchants_dashboard_shows_a_page_saying_so() {
    let app = spawn_app().await;
    let mut browser = Browser::new(&app);
    register_and_verify(&mut browser, "ops@example.com", "correct horse battery").await;
    sign_in(&mut browser, "ops@example.com", "correct horse battery").await;
    let home = browser.get("/dashboard").await;
    assert_eq!(home.status(), 200);
    let html = home.text().await.expect("html");
    let merchant = Regex::new(r"MCH-[A-Z]{2}-[0-9A-Z]{6}")
        .expect("regex")
        .find(&html)
        .expect("merchant id on the page")
        .as_str()
        .to_owned();

    cli_json(&app, &["merchant", "suspend", &merchant, "--reason", "review"]).await;
    let refused = browser.get("/dashboard").await;
    assert_eq!(refused.status(), 403);
    let page = refused.text().await.expect("html");
    assert!(
        page.contains("Account suspended") && page.contains("account_suspended"),
        "{page}"
    );
    assert!(!page.contains(&merchant), "the page shows nothing of the account");

    cli_json(&app, &["merchant", "unsuspend", &merchant]).await;
    assert_eq!(browser.get("/dashboard").await.status(), 200);
}

#[tokio::test]
async fn a_lockdown_ends_every_credential_on_every_instance_and_only_the_new_key_works() {
    let app = spawn_app().await;
    let second = app.second_instance().await;
    let bases = [app.base_url.clone(), second.base_url.clone()];
    let client = app.http();
    let other = create_key(&app, json!({"name": "backend"})).await;
    let other_key = other["key"].as_str().expect("key").to_owned();
    let (token, session) = exchange(&app, &client, &bases[1], &app.key).await;
    let bearer = format!("Bearer {token}");
    let token_headers = [("authorization", bearer.as_str()), ("x-session-id", session.as_str())];
    let old_key_headers = [("x-api-key", app.key.as_str())];
    let other_key_headers = [("x-api-key", other_key.as_str())];
    // Each instance has each credential cached.
    for base in &bases {
        for headers in [&old_key_headers[..], &other_key_headers[..], &token_headers[..]] {
            assert_eq!(call(&app, base, "/v1/balance", headers).await.0, 200);
        }
    }
    let (_, payor) = create_session(&app, checkout_body()).await;
    let unused_ws_token = mint(&app, &app.key, json!({})).await;
    let mut socket = open(&app, &mint(&app, &app.key, json!({})).await).await;

    let without_secret = client
        .post(format!("{}/v1/security/lockdown", bases[1]))
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("lockdown");
    assert_eq!(problem(without_secret).await.1, "api_secret_required");
    let response = client
        .post(format!("{}/v1/security/lockdown", bases[1]))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .expect("lockdown");
    assert_eq!(response.status(), 200);
    let lockdown: Value = response.json().await.expect("json");
    assert_eq!(lockdown["object"], "lockdown");
    assert_eq!(lockdown["revoked_keys"], 2);
    assert_eq!(lockdown["ended_sessions"], 1);
    assert_eq!(lockdown["spent_ws_tokens"], 1);
    assert_eq!(lockdown["expired_checkout_sessions"], 1);
    let new_key = lockdown["new_key"]["key"].as_str().expect("new key").to_owned();
    assert!(lockdown["new_key"]["secret"]
        .as_str()
        .expect("secret")
        .starts_with("sec_test_"));

    for base in &bases {
        assert_eq!(
            call(&app, base, "/v1/balance", &old_key_headers).await,
            (401, "invalid_api_key".to_owned())
        );
        assert_eq!(
            call(&app, base, "/v1/balance", &other_key_headers).await,
            (401, "invalid_api_key".to_owned())
        );
        assert_eq!(
            call(&app, base, "/v1/balance", &token_headers).await,
            (401, "session_revoked".to_owned())
        );
        assert_eq!(call(&app, base, "/v1/balance", &[("x-api-key", &new_key)]).await.0, 200);
    }
    let socket_path = format!("/v1/realtime?ws_token={unused_ws_token}");
    assert_eq!(call(&app, &bases[0], &socket_path, &[]).await.0, 401);
    let paying = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::GET,
        "/v1/payor/session",
        None,
    )
    .await;
    assert_eq!(problem(paying).await.1, "invalid_session_token");
    // An open socket hears the lockdown's alert, then closes.
    let alert = alert_then_close(&mut socket).await;
    assert_eq!(alert["data"]["object"]["type"], "lockdown");
    assert_eq!(alert["data"]["object"]["revoked_keys"], 2);

    let db = app.raw_db().await;
    let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM audit_events WHERE action = 'security.lockdown'")
        .fetch_all(&db)
        .await
        .expect("audit");
    assert_eq!(actors.len(), 1);
    assert!(
        actors[0].starts_with("sk_test_"),
        "the masked key that asked: {actors:?}"
    );
    second.running.shutdown().await;
}

#[tokio::test]
async fn the_operator_locks_a_merchant_down_from_the_cli() {
    let app = spawn_app().await;
    let locked = cli_json(&app, &["merchant", "lockdown", &app.merchant_id, "--env", "test"]).await;
    assert_eq!(locked["revoked_keys"], 1);
    let new_key = locked["new_key"]["key"].as_str().expect("key");
    assert!(locked["new_key"]["secret"]
        .as_str()
        .expect("secret")
        .starts_with("sec_test_"));
    let base = &app.base_url;
    assert_eq!(
        call(&app, base, "/v1/balance", &[("x-api-key", &app.key)]).await,
        (401, "invalid_api_key".to_owned())
    );
    assert_eq!(call(&app, base, "/v1/balance", &[("x-api-key", new_key)]).await.0, 200);
    // The live environment was not touched.
    let again = cli_json(&app, &["merchant", "lockdown", &app.merchant_id, "--env", "live"]).await;
    assert_eq!(again["revoked_keys"], 0);
    assert_eq!(call(&app, base, "/v1/balance", &[("x-api-key", new_key)]).await.0, 200);
}

async fn backdate(db: &sqlx::AnyPool, key_id: &str, days: i64) {
    let now = crate::auth_helpers::unix_now();
    sqlx::query("UPDATE api_keys SET created_at = $1 WHERE id = $2")
        .bind(now - days * 86_400)
        .bind(key_id)
        .execute(db)
        .await
        .expect("backdate");
}

async fn rotation_alerts(db: &sqlx::AnyPool, key_id: &str) -> usize {
    let payloads: Vec<String> = sqlx::query_scalar("SELECT payload FROM events WHERE type = 'security.alert'")
        .fetch_all(db)
        .await
        .expect("events");
    payloads
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).expect("json"))
        .filter(|p| p["data"]["object"]["type"] == "key_rotation_due" && p["data"]["object"]["key_id"] == key_id)
        .count()
}

#[tokio::test]
async fn an_old_key_is_flagged_alerted_once_a_week_and_past_the_maximum_age_stops_working() {
    let app = spawn_with(|config| config.auth.key_max_age_days = Some(120)).await;
    let state = &app.running.state;
    let db = app.raw_db().await;
    let old = create_key(&app, json!({"name": "old"})).await;
    let old_id = old["id"].as_str().expect("id").to_owned();
    let ancient = create_key(&app, json!({"name": "ancient"})).await;
    backdate(&db, &old_id, 91).await;
    backdate(&db, ancient["id"].as_str().expect("id"), 121).await;

    let list: Value = app
        .http()
        .get(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let keys = list["data"].as_array().expect("keys");
    let due = |name: &str| {
        keys.iter()
            .find(|k| k["name"] == name)
            .map(|k| k["rotation_due"].clone())
    };
    assert_eq!(due("old"), Some(json!(true)));
    assert_eq!(due("sandbox"), Some(json!(false)), "{list}");
    assert_eq!(due("ancient"), None, "a key past the maximum age is not listed");

    // The sweep may run by itself too; however often it runs, one alert.
    let now = state.now();
    paygate_server::key_age::alert_due(state.store(), &state.config().auth, now)
        .await
        .expect("sweep");
    paygate_server::key_age::alert_due(state.store(), &state.config().auth, now)
        .await
        .expect("sweep");
    assert_eq!(rotation_alerts(&db, &old_id).await, 1);
    // More than a week later it is told again.
    paygate_server::key_age::alert_due(state.store(), &state.config().auth, now + 8 * 86_400)
        .await
        .expect("sweep");
    assert_eq!(rotation_alerts(&db, &old_id).await, 2);

    let merchant = MerchantId::parse(&app.merchant_id).expect("merchant");
    let banner =
        paygate_server::key_age::keys_due(state.store(), &state.config().auth, &merchant, Environment::Test, now)
            .await
            .expect("keys due");
    assert_eq!(banner, vec![old_id.clone()]);

    let old_key = old["key"].as_str().expect("key");
    let ancient_key = ancient["key"].as_str().expect("key");
    let base = &app.base_url;
    assert_eq!(call(&app, base, "/v1/balance", &[("x-api-key", old_key)]).await.0, 200);
    assert_eq!(
        call(&app, base, "/v1/balance", &[("x-api-key", ancient_key)]).await,
        (401, "invalid_api_key".to_owned())
    );
}
