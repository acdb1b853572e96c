//! Webhooks over the real API: endpoint management, the egress guard (every
//! spelling of an internal address refused; names that resolve inside
//! refused at delivery, with no connection made), and the delivery log.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use paygate_proto::webhooks::{verify_delivery, WebhookSecret};
use paygate_proto::{Environment, MerchantId};
use paygate_server::keys::{issue_key, KeySpec};
use paygate_server::outbox;
use paygate_server::webhooks::egress::StaticResolver;
use serde_json::{json, Value};

use crate::support::{spawn_app, spawn_with, TestApp};

/// What a local receiver got, and what it answers.
#[derive(Default)]
struct Inbox {
    requests: Vec<(HeaderMap, Vec<u8>)>,
    answers: Vec<(u16, String)>,
}

#[derive(Clone, Default)]
pub(crate) struct Receiver(Arc<Mutex<Inbox>>);

impl Receiver {
    /// Listens on 127.0.0.1; answers `answers` in order, the last repeating.
    pub(crate) async fn start(answers: Vec<(u16, String)>) -> (Receiver, u16) {
        let receiver = Receiver::default();
        receiver.0.lock().unwrap().answers = answers;
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, port)
    }

    pub(crate) fn count(&self) -> usize {
        self.0.lock().unwrap().requests.len()
    }

    pub(crate) fn request(&self, i: usize) -> (HeaderMap, Vec<u8>) {
        self.0.lock().unwrap().requests[i].clone()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let mut inbox = receiver.0.lock().unwrap();
    inbox.requests.push((headers, body.to_vec()));
    let index = (inbox.requests.len() - 1).min(inbox.answers.len().saturating_sub(1));
    let (status, body) = inbox.answers.get(index).cloned().unwrap_or((200, String::new()));
    (StatusCode::from_u16(status).unwrap(), body)
}

pub(crate) async fn create_endpoint(app: &TestApp, key: &str, url: &str) -> reqwest::Response {
    app.http()
        .post(app.url("/v1/webhook-endpoints"))
        .header("x-api-key", key)
        .json(&json!({"url": url, "events": ["*"]}))
        .send()
        .await
        .unwrap()
}

/// Writes an event into the outbox, as a resource would, and wakes the worker.
pub(crate) async fn emit(app: &TestApp, env: Environment) -> String {
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).unwrap();
    let mut tx = state.store().begin_write().await.unwrap();
    let id = outbox::record_event(
        tx.conn(),
        &merchant,
        env,
        "payment.created",
        json!({"id": "pay_test", "amount": 100}),
        state.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    state.webhooks().wake();
    id
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let response = app
        .http()
        .get(app.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls an endpoint's delivery log until `done` holds for it.
async fn wait_for_log(app: &TestApp, endpoint: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, log) = get_json(app, &app.key, &format!("/v1/webhook-endpoints/{endpoint}/deliveries")).await;
        assert_eq!(status, 200, "{log}");
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "the delivery log never got there: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// URLs that must never become webhook targets, in test mode (where http
/// is allowed, so only the host can be the reason).
const INTERNAL_TARGETS: &[&str] = &[
    "http://127.0.0.1/",
    "http://127.0.0.1:8443/v1/balance",
    "http://127.1/",
    "http://127.0.1/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://017700000001/",
    "http://0x7f.0.0.0x1/",
    "http://[::1]/",
    "http://[0:0:0:0:0:0:0:1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b:1::a00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[::]/",
    "http://[::127.0.0.1]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.254/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://0xa9fea9fe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://[fd00:ec2::254]/",
    "http://[fc00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://198.18.0.1/",
    "http://[ff02::1]/",
    "http://metadata.google.internal/",
    "http://metadata.google.internal./computeMetadata/v1/",
    "http://metadata/",
    "http://instance-data.ec2.internal/",
    "http://localhost/",
    "http://LOCALHOST:8080/",
    "http://localhost./",
    "http://foo.localhost/",
    "http://a.b.localhost/",
    "http://%6c%6fcalhost/",
    "http://printer.local/",
    "http://intranet/",
    "http://user:pw@example.com/",
    "http://user@example.com/",
    "https://:pw@example.com/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://example.com/",
    "not a url",
];

#[tokio::test]
async fn internal_targets_are_refused_in_every_spelling() {
    let app = spawn_app().await;
    assert!(INTERNAL_TARGETS.len() >= 40);
    for url in INTERNAL_TARGETS {
        let response = create_endpoint(&app, &app.key, url).await;
        assert_eq!(response.status(), 422, "{url} was accepted");
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "url_not_allowed", "{url}: {problem}");
    }
    // Nothing was stored for any of them.
    let (_, list) = get_json(&app, &app.key, "/v1/webhook-endpoints").await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn names_that_resolve_inside_are_refused_at_delivery_without_a_connection() {
    let app = spawn_app().await;
    let (receiver, port) = Receiver::start(vec![(200, "ok".to_owned())]).await;
    let inside: IpAddr = "10.0.0.1".parse().unwrap();
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    app.running.state.webhooks().set_resolver(Arc::new(
        StaticResolver::default()
            .with("rebind.example.com", &[inside])
            .with("sneaky.example.com", &[loopback]),
    ));
    let mut endpoints = Vec::new();
    for url in [
        "http://rebind.example.com/hook".to_owned(),
        format!("http://sneaky.example.com:{port}/hook"),
    ] {
        // The URL itself shows nothing internal, so it is accepted...
        let response = create_endpoint(&app, &app.key, &url).await;
        assert_eq!(response.status(), 200, "{url}");
        let body: Value = response.json().await.unwrap();
        endpoints.push(body["id"].as_str().unwrap().to_owned());
    }
    emit(&app, Environment::Test).await;
    // ...and each delivery is refused once the name resolves inside.
    for endpoint in &endpoints {
        let log = wait_for_log(&app, endpoint, |log| log["data"][0]["attempts"][0]["error"].is_string()).await;
        let attempt = &log["data"][0]["attempts"][0];
        assert_eq!(attempt["error"], "url_not_allowed", "{log}");
        assert_eq!(attempt["response_status"], Value::Null);
        assert_eq!(
            log["data"][0]["status"], "pending",
            "retried on the schedule in case DNS changes"
        );
        assert!(!log.to_string().contains("10.0.0.1"), "the log never names the address");
    }
    assert_eq!(receiver.count(), 0, "no connection reached the receiver");
}

#[tokio::test]
async fn live_mode_takes_public_https_urls_only_and_never_private_targets() {
    let app = spawn_with(|config| config.webhooks.allow_private_targets = true).await;
    let state = &app.running.state;
    state.webhooks().set_resolver(Arc::new(
        StaticResolver::default().with("example.com", &["93.184.215.14".parse().unwrap()]),
    ));
    let merchant = MerchantId::parse(&app.merchant_id).unwrap();
    let live = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Live,
        &KeySpec::named("live"),
        state.now(),
    )
    .await
    .unwrap();
    let live_key = live.key.expose().to_owned();

    let accepted = create_endpoint(&app, &live_key, "https://example.com/hook").await;
    assert_eq!(accepted.status(), 200);
    for url in [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://[::1]/",
        "https://localhost/",
    ] {
        let refused = create_endpoint(&app, &live_key, url).await;
        assert_eq!(refused.status(), 422, "{url} accepted in live mode");
    }
    // The same switch lets test mode reach a local receiver.
    let local = create_endpoint(&app, &app.key, "http://127.0.0.1:9/hook").await;
    assert_eq!(local.status(), 200);
    // Metadata services stay out of reach even then.
    let metadata = create_endpoint(&app, &app.key, "http://169.254.169.254/").await;
    assert_eq!(metadata.status(), 422);
    // Each environment sees only its own endpoints.
    let (_, test_list) = get_json(&app, &app.key, "/v1/webhook-endpoints").await;
    let (_, live_list) = get_json(&app, &live_key, "/v1/webhook-endpoints").await;
    assert_eq!(test_list["data"].as_array().unwrap().len(), 1);
    assert_eq!(live_list["data"][0]["url"], "https://example.com/hook");
    let live_id = live_list["data"][0]["id"].as_str().unwrap();
    let (status, _) = get_json(&app, &app.key, &format!("/v1/webhook-endpoints/{live_id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn endpoints_show_the_secret_once_and_keep_it_sealed() {
    let app = spawn_app().await;
    let response = create_endpoint(&app, &app.key, "https://hooks.example.com/paygate").await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("we_"));
    let secret = created["secret"].as_str().unwrap();
    assert!(WebhookSecret::parse(secret).is_ok());
    assert_eq!(created["status"], "enabled");
    assert_eq!(created["events"], json!(["*"]));

    let masked = format!("whsec_****{}", &secret[secret.len() - 4..]);
    let (status, got) = get_json(&app, &app.key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["secret"], masked);
    let (_, list) = get_json(&app, &app.key, "/v1/webhook-endpoints").await;
    assert_eq!(list["data"][0]["secret"], masked);
    assert_eq!(list["has_more"], false);

    // At rest the secret is sealed: neither it nor its key bytes are stored.
    let db = app.raw_db().await;
    let rows: Vec<(Vec<u8>, String)> = sqlx::query_as("SELECT secret_sealed, url FROM webhook_endpoints")
        .fetch_all(&db)
        .await
        .unwrap();
    let key_part = secret.trim_start_matches("whsec_").as_bytes();
    assert!(rows
        .iter()
        .all(|(sealed, _)| !sealed.windows(key_part.len()).any(|w| w == key_part)));

    // Validation names every bad field; unknown fields are refused.
    let bad = app
        .http()
        .post(app.url("/v1/webhook-endpoints"))
        .header("x-api-key", &app.key)
        .json(&json!({"url": "https://hooks.example.com/x", "events": ["payment.created", "nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let problem: Value = bad.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "events[1]");
    let unknown = app
        .http()
        .post(app.url("/v1/webhook-endpoints"))
        .header("x-api-key", &app.key)
        .json(&json!({"url": "https://hooks.example.com/x", "events": ["*"], "secret": "whsec_mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    // A key without webhooks:manage can do none of it.
    let narrow = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .json(&json!({"name": "reader", "scopes": ["payments:read"]}))
        .send()
        .await
        .unwrap();
    let narrow: Value = narrow.json().await.unwrap();
    let narrow_key = narrow["key"].as_str().unwrap();
    let (status, problem) = get_json(&app, narrow_key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("insufficient_scope")));
    let denied = create_endpoint(&app, narrow_key, "https://hooks.example.com/other").await;
    assert_eq!(denied.status(), 403);

    // Rotation needs the API secret, then shows the new secret once.
    let rotate = app.url(&format!("/v1/webhook-endpoints/{id}/secret/rotate"));
    let refused = app
        .http()
        .post(&rotate)
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let rotated: Value = app
        .http()
        .post(&rotate)
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let (_, got) = get_json(&app, &app.key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(
        got["secret"],
        format!("whsec_****{}", &new_secret[new_secret.len() - 4..])
    );

    // Delete, then it is gone.
    let deleted: Value = app
        .http()
        .delete(app.url(&format!("/v1/webhook-endpoints/{id}")))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "webhook_endpoint", "deleted": true})
    );
    let (status, _) = get_json(&app, &app.key, &format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(status, 404);

    // The audit log recorded create, rotate and delete, without the secret.
    let actions: Vec<(String, String)> =
        sqlx::query_as("SELECT action, details FROM audit_events WHERE action LIKE 'webhook_endpoint.%' ORDER BY seq")
            .fetch_all(&db)
            .await
            .unwrap();
    let names: Vec<&str> = actions.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        names,
        [
            "webhook_endpoint.created",
            "webhook_endpoint.secret_rotated",
            "webhook_endpoint.deleted"
        ]
    );
    assert!(actions.iter().all(|(_, d)| !d.contains("whsec_")));
}

#[tokio::test]
async fn the_delivery_log_keeps_each_attempt_and_redelivery_sends_again() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.retry_schedule_secs = vec![600];
    })
    .await;
    let long_answer = "x".repeat(3000);
    let (receiver, port) = Receiver::start(vec![(500, long_answer), (200, "thanks".to_owned())]).await;
    let response = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook")).await;
    let endpoint: Value = response.json().await.unwrap();
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let secret = WebhookSecret::parse(endpoint["secret"].as_str().unwrap()).unwrap();

    let event_id = emit(&app, Environment::Test).await;
    let log = wait_for_log(&app, endpoint_id, |log| log["data"][0]["attempts"][0].is_object()).await;
    let delivery = &log["data"][0];
    assert!(delivery["id"].as_str().unwrap().starts_with("dlv_"));
    assert_eq!(delivery["event"], event_id.as_str());
    assert_eq!(delivery["event_type"], "payment.created");
    assert_eq!(delivery["status"], "pending");
    assert!(delivery["next_attempt_at"].is_string(), "a retry is scheduled");
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["response_status"], 500);
    assert_eq!(
        attempt["response_body"].as_str().unwrap().len(),
        1024,
        "the first 1 KiB is kept"
    );
    assert!(attempt["duration_ms"].is_u64());
    let metrics = reqwest::get(format!("http://{}/metrics", app.running.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"paygate_webhook_attempts_total{outcome="failed",delivery_status="pending"} 1"#),
        "the failed attempt is counted by outcome:\n{metrics}"
    );

    // What the receiver got verifies with the endpoint's secret.
    let (headers, body) = receiver.request(0);
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("webhook-id"), event_id);
    assert_eq!(header("content-type"), "application/json");
    verify_delivery(
        &secret,
        &event_id,
        &header("webhook-timestamp"),
        &header("webhook-signature"),
        &body,
        app.running.state.now(),
        300,
    )
    .unwrap();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["data"]["object"]["id"], "pay_test");

    // Redelivery plans a new delivery at once, beside the waiting retry.
    let redelivered = app
        .http()
        .post(app.url(&format!("/v1/events/{event_id}/redeliver")))
        .header("x-api-key", &app.key)
        .json(&json!({"endpoint": endpoint_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 200);
    let planned: Value = redelivered.json().await.unwrap();
    let new_id = planned["data"][0]["id"].as_str().unwrap().to_owned();
    let log = wait_for_log(&app, endpoint_id, |log| {
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == new_id.as_str() && d["status"] == "succeeded")
    })
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);
    assert_eq!(receiver.count(), 2);
    let (headers, _) = receiver.request(1);
    assert_eq!(
        headers["webhook-id"].to_str().unwrap(),
        event_id,
        "receivers dedupe on webhook-id"
    );

    // Pagination over the log.
    let (_, first) = get_json(
        &app,
        &app.key,
        &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?limit=1"),
    )
    .await;
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get_json(
        &app,
        &app.key,
        &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["has_more"], false);
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);

    // Unknown events and other tenants' events are 404.
    let missing = app
        .http()
        .post(app.url("/v1/events/evt_doesnotexist/redeliver"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn redirects_are_not_followed_and_slow_receivers_time_out() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.timeout_secs = 1;
        config.webhooks.retry_schedule_secs = vec![600];
    })
    .await;
    // Where a redirect would lead: it must never be reached.
    let (elsewhere, elsewhere_port) = Receiver::start(vec![(200, String::new())]).await;
    let location = format!("http://127.0.0.1:{elsewhere_port}/hook");
    let redirecting = Router::new().route(
        "/hook",
        post(move || {
            let location = location.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        }),
    );
    let slow = Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late"
        }),
    );
    let mut endpoints = Vec::new();
    for router in [redirecting, slow] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let created: Value = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook"))
            .await
            .json()
            .await
            .unwrap();
        endpoints.push(created["id"].as_str().unwrap().to_owned());
    }
    emit(&app, Environment::Test).await;

    let log = wait_for_log(&app, &endpoints[0], |log| log["data"][0]["attempts"][0].is_object()).await;
    assert_eq!(log["data"][0]["attempts"][0]["response_status"], 307);
    assert_eq!(
        log["data"][0]["status"], "pending",
        "a redirect is a failure, retried on the schedule"
    );

    let started = Instant::now();
    let log = wait_for_log(&app, &endpoints[1], |log| log["data"][0]["attempts"][0].is_object()).await;
    let attempt = &log["data"][0]["attempts"][0];
    assert_eq!(attempt["error"], "timeout", "{log}");
    assert_eq!(attempt["response_status"], Value::Null);
    assert!(attempt["duration_ms"].as_u64().unwrap() < 2_500, "{attempt}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(elsewhere.count(), 0, "the redirect was not followed");
}
