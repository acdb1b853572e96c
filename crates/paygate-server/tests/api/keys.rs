//! Issuing keys over the API: shown once, working at once.

use serde_json::{json, Value};

use crate::support::spawn_app;

#[tokio::test]
async fn a_key_created_over_the_api_works_with_its_secret() {
    let app = spawn_app().await;
    let response = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .json(&json!({"name": "backend", "scopes": ["payments:read", "keys:manage"]}))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.expect("json");
    let key = created["key"].as_str().expect("key");
    let secret = created["secret"].as_str().expect("secret");
    assert_eq!(key.len(), 44);
    assert!(created["id"].as_str().expect("id").starts_with("key_"));
    assert_eq!(created["scopes"], json!(["payments:read", "keys:manage"]));
    let prefix = created["prefix"].as_str().expect("prefix");
    assert!(prefix.starts_with(&key[..12]) && prefix.ends_with(&key[40..]) && !prefix.contains(&key[12..40]));

    let ok = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", key)
        .header("x-api-secret", secret)
        .send()
        .await
        .expect("req");
    assert_eq!(ok.status(), 200);
    // The secret belongs to its own key only.
    let crossed = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", secret)
        .send()
        .await
        .expect("req");
    assert_eq!(crossed.status(), 401);
}
