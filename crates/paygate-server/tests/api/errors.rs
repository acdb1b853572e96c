//! docs/api.md section 2: every error is problem+json from the one catalog, and
//! none names a path, SQL, a library or a secret.

use reqwest::Response;
use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp};

/// Asserts the problem shape and returns the body.
async fn expect_problem(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {code}");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let request_id = response.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("/docs/errors#{code}"));
    assert_eq!(body["request_id"], request_id.as_str());
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_no_leaks(&body.to_string());
    body
}

fn assert_no_leaks(text: &str) {
    let lower = text.to_ascii_lowercase();
    for needle in [
        "sqlite",
        "sqlx",
        "select ",
        "insert ",
        "/tmp",
        "/root",
        ".rs",
        "panicked",
        "axum",
        "hyper",
        "rustls",
        "sk_test_",
        "sec_test_",
        "sk_live_",
    ] {
        assert!(!lower.contains(needle), "error body leaks {needle:?}: {text}");
    }
}

fn post_keys(app: &TestApp) -> reqwest::RequestBuilder {
    app.http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
}

#[tokio::test]
async fn routing_errors() {
    let app = spawn_app().await;
    expect_problem(
        app.http().get(app.url("/v1/nope")).send().await.expect("req"),
        404,
        "not_found",
    )
    .await;
    let response = app
        .http()
        .delete(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("req");
    expect_problem(response, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn credential_errors() {
    let app = spawn_app().await;
    let http = app.http();
    let url = app.url("/v1/balance");
    expect_problem(http.get(&url).send().await.expect("req"), 401, "missing_credentials").await;
    let both = http
        .get(&url)
        .header("x-api-key", &app.key)
        .bearer_auth("eyJ.x.y")
        .send()
        .await
        .expect("req");
    expect_problem(both, 400, "ambiguous_credentials").await;
    let token = http
        .get(&url)
        .bearer_auth("eyJhbGciOiJub25lIn0.e30.")
        .header("x-session-id", "x")
        .send()
        .await
        .expect("req");
    expect_problem(token, 401, "invalid_token").await;
    let garbage = http.get(&url).header("x-api-key", "hello").send().await.expect("req");
    expect_problem(garbage, 401, "invalid_api_key").await;
}

#[tokio::test]
async fn body_errors() {
    let app = spawn_app().await;
    let not_json = post_keys(&app)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .expect("req");
    expect_problem(not_json, 415, "unsupported_media_type").await;
    let no_type = post_keys(&app).body("{}").send().await.expect("req");
    expect_problem(no_type, 415, "unsupported_media_type").await;
    let broken = post_keys(&app)
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .expect("req");
    expect_problem(broken, 400, "invalid_json").await;

    let unknown = post_keys(&app)
        .json(&json!({"name": "x", "colour": "blue"}))
        .send()
        .await
        .expect("req");
    let body = expect_problem(unknown, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "colour");

    let invalid = post_keys(&app)
        .json(&json!({"name": "", "scopes": ["payments:read", "root"], "allowed_ips": ["10.0.0.0/8", "not-an-ip"]}))
        .send()
        .await
        .expect("req");
    let body = expect_problem(invalid, 400, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["name", "scopes[1]", "allowed_ips[1]"]);

    let wrong_type = post_keys(&app).json(&json!({"name": 5})).send().await.expect("req");
    let body = expect_problem(wrong_type, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "name");
}

#[tokio::test]
async fn scope_and_secret_errors() {
    let app = spawn_app().await;
    let without_secret = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect("req");
    expect_problem(without_secret, 401, "api_secret_required").await;

    let wrong_secret = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", "sec_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .send()
        .await
        .expect("req");
    expect_problem(wrong_secret, 401, "invalid_api_secret").await;

    let created: Value = post_keys(&app)
        .json(&json!({"name": "reporting", "scopes": ["audit:read"]}))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let narrow_key = created["key"].as_str().expect("key");
    let response = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", narrow_key)
        .send()
        .await
        .expect("req");
    let body = expect_problem(response, 403, "insufficient_scope").await;
    assert!(body["detail"].as_str().expect("detail").contains("payments:read"));
}

#[tokio::test]
async fn an_internal_failure_is_opaque_and_logged_under_its_request_id() {
    let app = spawn_app().await;
    // Damage the stored secret of the sandbox key, as disk corruption would.
    let db = app.raw_db().await;
    sqlx::query("UPDATE api_keys SET secret_sealed = $1")
        .bind(vec![0x5a_u8; 40])
        .execute(&db)
        .await
        .expect("update");
    let response = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .expect("req");
    let body = expect_problem(response, 500, "internal_error").await;
    assert_eq!(body["detail"], "Service temporarily unavailable. Please try again.");
}
