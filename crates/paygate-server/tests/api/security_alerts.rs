//! docs/api.md section 12: `security.alert` events for a burst of authentication
//! failures (one key, one address), the first request of a key from a new
//! address, and a burst of `429`s; each one visible in `GET /v1/events` and
//! the audit log, once per burst, never with a secret.

use std::sync::Arc;

use paygate_server::clock::ManualClock;
use paygate_server::config::{Config, Limit};
use serde_json::Value;

use crate::support::{spawn_with, spawn_with_clock, TestApp};

fn client_from(app: &TestApp, local: &str) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .local_address(local.parse::<std::net::IpAddr>().unwrap());
    for cert in reqwest::Certificate::from_pem_bundle(&app.ca_pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

fn url(app: &TestApp, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", app.running.local_addr.port())
}

/// Thresholds no test reaches unless it lowers them.
fn quiet(config: &mut Config) {
    config.alerts.key_auth_failures = Limit::new(1_000, 60);
    config.alerts.ip_auth_failures = Limit::new(1_000, 60);
    config.alerts.rate_limited = Limit::new(1_000, 60);
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app
        .http()
        .get(app.url(path))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

/// The `security.alert` objects of the merchant's events, oldest first, and
/// the raw text they came in (to look for secrets).
async fn alerts(app: &TestApp) -> (Vec<Value>, String) {
    let events = get(app, "/v1/events?limit=100").await;
    let mut found: Vec<Value> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "security.alert")
        .map(|e| e["data"]["object"].clone())
        .collect();
    found.reverse();
    (found, events.to_string())
}

/// The reasons of the merchant's `security.alert` audit rows.
async fn audited(app: &TestApp) -> Vec<String> {
    let rows = get(app, "/v1/audit-events?limit=100").await;
    rows["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == "security.alert")
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect()
}

async fn with_wrong_secret(app: &TestApp, client: &reqwest::Client) -> u16 {
    client
        .get(url(app, "/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", "sec_test_not_the_secret")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The key as alerts name it: its public prefix and last four characters.
fn masked(key: &str) -> String {
    format!("{}…{}", &key[.."sk_test_".len() + 4], &key[key.len() - 4..])
}

fn assert_no_secret(app: &TestApp, text: &str) {
    assert!(!text.contains(&app.key), "the key never appears in an alert");
    assert!(!text.contains(&app.secret), "the secret never appears in an alert");
    assert!(
        !text.contains("sec_test_not_the_secret"),
        "nor what was presented as one"
    );
}

#[tokio::test]
async fn a_burst_of_failures_with_one_key_alerts_once_per_cool_down() {
    let app = spawn_with(|c| {
        quiet(c);
        c.alerts.key_auth_failures = Limit::new(3, 60);
    })
    .await;
    let client = client_from(&app, "127.0.0.1");
    for _ in 0..2 {
        assert_eq!(with_wrong_secret(&app, &client).await, 401);
    }
    assert!(alerts(&app).await.0.is_empty(), "two failures are not a burst");
    assert_eq!(with_wrong_secret(&app, &client).await, 401);
    let (found, text) = alerts(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let alert = &found[0];
    assert_eq!(alert["type"], "auth_failure_burst");
    assert_eq!(alert["subject"], "api_key");
    assert_eq!(alert["failures"], 3);
    assert_eq!(alert["last_code"], "invalid_api_secret");
    assert_eq!(alert["ip"], "127.0.0.1");
    assert_eq!(alert["key_prefix"], masked(&app.key));
    assert_no_secret(&app, &text);

    // The same burst going on does not alert again.
    for _ in 0..6 {
        assert_eq!(with_wrong_secret(&app, &client).await, 401);
    }
    assert_eq!(alerts(&app).await.0.len(), 1);
    assert_eq!(audited(&app).await, ["auth_failure_burst"]);
}

#[tokio::test]
async fn a_burst_of_failures_from_one_address_alerts_the_merchant_or_the_operator() {
    let app = spawn_with(|c| {
        quiet(c);
        c.alerts.ip_auth_failures = Limit::new(3, 60);
    })
    .await;
    // With the merchant's key: the merchant is told.
    let two = client_from(&app, "127.0.0.2");
    for _ in 0..3 {
        assert_eq!(with_wrong_secret(&app, &two).await, 401);
    }
    let (found, text) = alerts(&app).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["type"], "auth_failure_burst");
    assert_eq!(found[0]["subject"], "ip");
    assert_eq!(found[0]["ip"], "127.0.0.2");
    assert_no_secret(&app, &text);
    assert_eq!(audited(&app).await, ["auth_failure_burst"]);

    // With keys nobody owns: the operator's audit log has it, no merchant does.
    let three = client_from(&app, "127.0.0.3");
    for _ in 0..3 {
        let status = three
            .get(url(&app, "/v1/balance"))
            .header("x-api-key", "sk_test_guessing")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401);
    }
    let db = app.raw_db().await;
    let rows: Vec<(Option<String>, String, String)> = sqlx::query_as(
        "SELECT merchant_id, ip, details FROM audit_events WHERE action = 'security.alert' ORDER BY seq",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (merchant, ip, details) = &rows[1];
    assert_eq!((merchant.as_deref(), ip.as_str()), (None, "127.0.0.3"));
    let details: Value = serde_json::from_str(details).unwrap();
    assert_eq!(
        (details["subject"].as_str(), details["failures"].as_u64()),
        (Some("ip"), Some(3))
    );
    assert!(!rows[1].2.contains("sk_test_guessing"), "not even a wrong key is kept");
    assert_eq!(
        alerts(&app).await.0.len(),
        1,
        "the merchant gets no alert for others' keys"
    );
}

#[tokio::test]
async fn the_first_request_of_a_key_from_a_new_address_alerts_once() {
    let app = spawn_with(|c| {
        quiet(c);
        c.tls.trusted_proxies = vec!["127.0.0.4/32".parse().unwrap()];
    })
    .await;
    let proxy = client_from(&app, "127.0.0.4");
    let from = |forwarded: &'static str| {
        proxy
            .get(url(&app, "/v1/balance"))
            .header("x-api-key", &app.key)
            .header("x-forwarded-for", forwarded)
            .send()
    };
    // The key's first address is only recorded.
    assert_eq!(get(&app, "/v1/balance").await["object"], "balance");
    assert!(alerts(&app).await.0.is_empty());

    assert_eq!(from("203.0.113.7").await.unwrap().status(), 200);
    assert_eq!(from("203.0.113.7").await.unwrap().status(), 200);
    // Addresses in one IPv6 /64 are one client.
    assert_eq!(from("2001:db8::1").await.unwrap().status(), 200);
    assert_eq!(from("2001:db8::2").await.unwrap().status(), 200);
    let (found, text) = alerts(&app).await;
    let mut seen: Vec<(&str, &str)> = found
        .iter()
        .map(|a| (a["type"].as_str().unwrap(), a["ip"].as_str().unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, [("new_ip", "2001:db8::/64"), ("new_ip", "203.0.113.7")]);
    assert_eq!(found[0]["key_prefix"], masked(&app.key));
    assert_no_secret(&app, &text);
    assert_eq!(audited(&app).await, ["new_ip", "new_ip"]);

    // A failed request from a new address is not a use of the key.
    let status = proxy
        .get(url(&app, "/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", "sec_test_not_the_secret")
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    assert_eq!(alerts(&app).await.0.len(), 2);
}

#[tokio::test]
async fn a_burst_of_429s_for_a_merchant_alerts_once() {
    let clock = ManualClock::at(time::OffsetDateTime::now_utc().unix_timestamp());
    let app = spawn_with_clock(Arc::new(clock.clone()), |c| {
        quiet(c);
        // The in-process limiter: it reads the server's (manual) clock, so
        // the test can step past the window; Redis keeps its own time.
        c.redis_url = String::new();
        c.rate_limits.merchant = Limit::new(2, 60);
        c.alerts.rate_limited = Limit::new(3, 60);
    })
    .await;
    let client = client_from(&app, "127.0.0.1");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = client
            .get(url(&app, "/v1/balance"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429, 429, 429, 429]);
    // Past the window, the merchant can read its events again.
    clock.advance(61);
    let (found, text) = alerts(&app).await;
    assert_eq!(found.len(), 1, "one alert for the burst: {found:?}");
    assert_eq!(found[0]["type"], "rate_limit_burst");
    assert_eq!(found[0]["refusals"], 3);
    assert_eq!(found[0]["window_secs"], 60);
    assert_no_secret(&app, &text);
    clock.advance(61);
    assert_eq!(audited(&app).await, ["rate_limit_burst"]);
}
