//! docs/api.md section 1: TLS only, https_required, headers, body rules.

use std::io::{Read as _, Write as _};

use crate::support::{spawn_app, spawn_with};
use paygate_server::config::TlsMode;
use serde_json::Value;

fn problem(body: &[u8]) -> Value {
    serde_json::from_slice(body).expect("problem json")
}

#[tokio::test]
async fn plain_http_to_the_tls_port_is_answered_with_https_required() {
    let app = spawn_app().await;
    let port = app.running.local_addr.port();
    let raw = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .write_all(b"GET /v1/balance HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("write");
        let mut out = Vec::new();
        stream.read_to_end(&mut out).expect("read");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("join");
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{raw}"
    );
    assert!(raw.to_ascii_lowercase().contains("x-request-id: req_"), "{raw}");
    let body = raw.split("\r\n\r\n").nth(1).expect("body");
    let parsed = problem(body.as_bytes());
    assert_eq!(parsed["code"], "https_required");
    assert_eq!(parsed["status"], 400);

    // And through an ordinary HTTP client.
    let response = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .expect("http");
    assert_eq!(response.status(), 400);
    assert_eq!(
        problem(&response.bytes().await.expect("body"))["code"],
        "https_required"
    );
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_both_served() {
    let app = spawn_app().await;
    for version in [reqwest::tls::Version::TLS_1_2, reqwest::tls::Version::TLS_1_3] {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .min_tls_version(version)
            .max_tls_version(version);
        for cert in reqwest::Certificate::from_pem_bundle(&app.ca_pem).expect("pem") {
            builder = builder.add_root_certificate(cert);
        }
        let response = builder
            .build()
            .expect("client")
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("tls");
        assert_eq!(response.status(), 200, "{version:?}");
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/v1/balance", "/nope"] {
        let response = app.http().get(app.url(path)).send().await.expect("request");
        let headers = response.headers();
        let request_id = headers["x-request-id"].to_str().expect("ascii");
        assert!(request_id.starts_with("req_") && request_id.len() == 28, "{request_id}");
        assert!(request_id[4..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(headers["strict-transport-security"]
            .to_str()
            .expect("ascii")
            .contains("max-age="));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let app = spawn_app().await;
    let name = "a".repeat(1024 * 1024 + 10);
    let body = serde_json::json!({ "name": name }).to_string();
    let response = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(
        problem(&response.bytes().await.expect("body"))["code"],
        "payload_too_large"
    );
}

#[tokio::test]
async fn health_needs_no_credentials() {
    let app = spawn_app().await;
    for (path, status) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = app.http().get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], status);
    }
}

#[tokio::test]
async fn behind_a_proxy_only_trusted_https_forwards_are_served() {
    let app = spawn_with(|config| {
        config.tls.mode = TlsMode::Off;
        config.tls.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let client = reqwest::Client::new();
    let url = app.url("/v1/balance");
    let refused = client
        .get(&url)
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 400);
    assert_eq!(problem(&refused.bytes().await.expect("body"))["code"], "https_required");
    let served = client
        .get(&url)
        .header("x-api-key", &app.key)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .expect("request");
    assert_eq!(served.status(), 200);

    let untrusted = spawn_with(|config| {
        config.tls.mode = TlsMode::Off;
        config.tls.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    let refused = client
        .get(untrusted.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("request");
    assert_eq!(
        refused.status(),
        400,
        "a peer that is not a trusted proxy cannot claim https"
    );
}

#[tokio::test]
async fn forwarded_for_decides_the_client_ip_only_from_a_trusted_proxy() {
    let app = spawn_with(|config| {
        config.tls.mode = TlsMode::Off;
        config.tls.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let client = reqwest::Client::new();
    let create = client
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .header("x-forwarded-proto", "https")
        .json(&serde_json::json!({"name": "office", "allowed_ips": ["203.0.113.0/24"]}))
        .send()
        .await
        .expect("create");
    assert_eq!(create.status(), 200);
    let key = create.json::<Value>().await.expect("json")["key"]
        .as_str()
        .expect("key")
        .to_owned();
    for (forwarded, status) in [("203.0.113.5", 200), ("198.51.100.1", 403)] {
        let response = client
            .get(app.url("/v1/balance"))
            .header("x-api-key", &key)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-for", forwarded)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), status, "{forwarded}");
    }
}

#[tokio::test]
async fn the_error_catalog_and_openapi_document_are_served() {
    let app = spawn_app().await;
    let html = app
        .http()
        .get(app.url("/docs/errors"))
        .send()
        .await
        .expect("docs")
        .text()
        .await
        .expect("text");
    for code in paygate_proto::ErrorCode::ALL {
        assert!(
            html.contains(&format!("id=\"{}\"", code.as_str())),
            "{} missing from the catalog",
            code.as_str()
        );
    }
    let json: Value = app
        .http()
        .get(app.url("/docs/errors"))
        .header("accept", "application/json")
        .send()
        .await
        .expect("docs")
        .json()
        .await
        .expect("json");
    let entries = json["errors"].as_array().expect("errors");
    assert_eq!(entries.len(), paygate_proto::ErrorCode::ALL.len());
    assert!(entries
        .iter()
        .all(|e| !e["cause"].as_str().unwrap_or_default().is_empty()
            && !e["fix"].as_str().unwrap_or_default().is_empty()));

    let doc: Value = app
        .http()
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    assert!(doc["paths"]["/v1/balance"]["get"].is_object());
    assert!(doc["paths"]["/v1/api-keys"]["post"].is_object());
    // Every list documents the parameters of section 7.
    for list in [
        "/v1/api-keys",
        "/v1/audit-events",
        "/v1/payments",
        "/v1/withdrawal-requests",
        "/v1/events",
        "/v1/webhook-endpoints",
    ] {
        let names: Vec<&str> = doc["paths"][list]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{list} documents no parameters"))
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for expected in ["limit", "cursor", "sortBy", "order"] {
            assert!(names.contains(&expected), "{list} lacks {expected}: {names:?}");
        }
    }
}
