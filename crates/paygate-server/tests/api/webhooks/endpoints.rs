//! Endpoint management: the secret shown once and kept sealed, masked
//! reads, rotation, deletion.

use paygate_proto::webhooks::WebhookSecret;
use serde_json::{json, Value};

use super::{create_endpoint, get_json};
use crate::support::spawn_app;

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
