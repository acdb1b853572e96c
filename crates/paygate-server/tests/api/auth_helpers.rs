//! Helpers for the authentication tests: token exchange, signed requests,
//! and reading problem codes.

use std::time::{SystemTime, UNIX_EPOCH};

use paygate_proto::signing::sign_request;
use serde_json::Value;

use crate::support::TestApp;

pub fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).expect("time").as_secs()).expect("i64")
}

/// The `code` of a problem response, with its status.
pub async fn problem(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("problem json");
    (status, body["code"].as_str().unwrap_or_default().to_owned(), body)
}

/// A token and session made from `key` with the plain HTTPS client.
pub async fn exchange(app: &TestApp, client: &reqwest::Client, base: &str, key: &str) -> (String, String) {
    exchange_at(client, base, key, &app.merchant_id).await
}

/// A token and session made from `key` of `merchant` at `base`.
pub async fn exchange_at(client: &reqwest::Client, base: &str, key: &str, merchant: &str) -> (String, String) {
    let response = client
        .post(format!("{base}/v1/auth/token"))
        .header("x-api-key", key)
        .header("x-merchant-id", merchant)
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "token exchange");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "Bearer");
    (
        body["access_token"].as_str().expect("token").to_owned(),
        body["session_id"].as_str().expect("session").to_owned(),
    )
}

/// Adds `x-timestamp` and `x-signature` for `method target body` to a request.
pub fn signed(
    builder: reqwest::RequestBuilder,
    secret: &str,
    method: &str,
    target: &str,
    body: &[u8],
    timestamp: &str,
) -> reqwest::RequestBuilder {
    builder
        .header("x-timestamp", timestamp)
        .header("x-signature", sign_request(secret, method, target, body, timestamp))
}

/// Creates a key through the API and returns the whole answer.
pub async fn create_key(app: &TestApp, body: Value) -> Value {
    let response = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .json(&body)
        .send()
        .await
        .expect("create key");
    assert_eq!(response.status(), 200, "create key");
    response.json().await.expect("json")
}

/// The in-process limiter always; Redis too when the environment names one.
pub fn backends() -> Vec<Option<String>> {
    let mut backends = vec![None];
    backends.extend(crate::support::test_redis().map(|(url, _)| Some(url)));
    backends
}

/// The backend asked for: in process (`None`, even when the environment
/// names a Redis) or that Redis under a fresh key prefix, so tests sharing a
/// Redis never share a counter.
pub fn use_backend(config: &mut paygate_server::config::Config, redis: &Option<String>) {
    match redis {
        Some(url) => {
            config.redis_url.clone_from(url);
            config.redis_key_prefix = format!("paygate-test:{}:", uuid::Uuid::new_v4());
        }
        None => config.redis_url.clear(),
    }
}
