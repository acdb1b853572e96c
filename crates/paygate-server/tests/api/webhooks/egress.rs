//! The egress guard: internal targets refused in every spelling, names that
//! resolve inside refused at delivery, live mode public HTTPS only.

use std::net::IpAddr;
use std::sync::Arc;

use paygate_proto::{Environment, MerchantId};
use paygate_server::keys::{issue_key, KeySpec};
use paygate_server::webhooks::egress::StaticResolver;
use serde_json::{json, Value};

use super::{create_endpoint, emit, get_json, wait_for_log, Receiver};
use crate::support::{spawn_app, spawn_with};

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
