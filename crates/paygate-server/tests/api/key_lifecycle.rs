//! docs/api.md section 3: keys listed masked, rolled with an overlap, revoked with
//! their sessions; scopes on every route; the API secret where required;
//! and every change and decision in the audit log, readable over the API.

use serde_json::{json, Value};

use crate::auth_helpers::{create_key, exchange, problem};
use crate::support::spawn_app;

#[tokio::test]
async fn keys_are_listed_masked_with_list_rules() {
    let app = spawn_app().await;
    for i in 0..3 {
        create_key(&app, json!({"name": format!("k{i}"), "scopes": ["payments:read"]})).await;
    }
    let list = |query: &str| {
        app.http()
            .get(app.url(&format!("/v1/api-keys{query}")))
            .header("x-api-key", &app.key)
            .send()
    };
    let page: Value = list("?limit=2").await.unwrap().json().await.unwrap();
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let text = page.to_string();
    assert!(!text.contains(&app.key) && !text.contains("sec_test_"));
    let first = &page["data"][0];
    assert!(first["prefix"].as_str().unwrap().contains('…'));
    for field in [
        "id",
        "name",
        "scopes",
        "allowed_ips",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
    ] {
        assert!(first.get(field).is_some(), "{field} is listed");
    }
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = list(&format!("?limit=2&cursor={cursor}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["data"].as_array().unwrap().len(), 2, "3 created + the sandbox key");
    assert_eq!(rest["has_more"], false);
    let all: Vec<Value> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["data"].as_array().unwrap())
        .cloned()
        .collect();
    let sandbox = all.iter().find(|k| k["name"] == "sandbox").expect("sandbox key listed");
    assert!(sandbox["last_used_at"].is_string(), "last use is recorded: {sandbox}");
    assert_eq!(sandbox["last_used_ip"], "127.0.0.1");

    // A key without `keys:manage` cannot list or create.
    let reader = create_key(&app, json!({"name": "reader", "scopes": ["payments:read"]})).await;
    let response = app
        .http()
        .get(app.url("/v1/api-keys"))
        .header("x-api-key", reader["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(response).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_scope"));
}

#[tokio::test]
async fn a_rolled_key_works_until_its_expiry_and_not_after() {
    let app = spawn_app().await;
    let old = create_key(
        &app,
        json!({"name": "rolling", "scopes": ["payments:read"], "allowed_ips": ["127.0.0.0/8"]}),
    )
    .await;
    let old_key = old["key"].as_str().unwrap();
    let id = old["id"].as_str().unwrap();
    let roll = |body: Value| {
        app.http()
            .post(app.url(&format!("/v1/api-keys/{id}/roll")))
            .header("x-api-key", &app.key)
            .header("x-api-secret", &app.secret)
            .json(&body)
            .send()
    };
    let (_, code, _) = problem(roll(json!({"expire_old_in": 604_801})).await.unwrap()).await;
    assert_eq!(code, "validation_failed");
    let without_secret = app
        .http()
        .post(app.url(&format!("/v1/api-keys/{id}/roll")))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(without_secret).await.1, "api_secret_required");

    let rolled: Value = roll(json!({"expire_old_in": 2})).await.unwrap().json().await.unwrap();
    let new_key = rolled["key"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(rolled["scopes"], json!(["payments:read"]));
    assert_eq!(rolled["allowed_ips"], json!(["127.0.0.0/8"]));
    assert_eq!(
        app.sdk_for(old_key).balance().await.map(|_| ()).ok(),
        Some(()),
        "old key in its overlap"
    );
    assert_eq!(app.sdk_for(new_key).balance().await.map(|_| ()).ok(), Some(()));
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let err = app.sdk_for(old_key).balance().await.expect_err("expired");
    assert_eq!(err.code(), Some(paygate_proto::ErrorCode::InvalidApiKey));
    assert_eq!(app.sdk_for(new_key).balance().await.map(|_| ()).ok(), Some(()));
}

#[tokio::test]
async fn revoking_a_key_ends_it_and_its_sessions_on_the_next_request() {
    let app = spawn_app().await;
    let victim = create_key(&app, json!({"name": "victim"})).await;
    let key = victim["key"].as_str().unwrap();
    let (token, session) = exchange(&app, &app.http(), &app.base_url, key).await;
    let revoke = app
        .http()
        .delete(app.url(&format!("/v1/api-keys/{}", victim["id"].as_str().unwrap())))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let err = app.sdk_for(key).balance().await.expect_err("revoked");
    assert_eq!(err.code(), Some(paygate_proto::ErrorCode::InvalidApiKey));
    let response = app
        .http()
        .get(app.url("/v1/balance"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(problem(response).await.1, "session_revoked");
    let again = app
        .http()
        .delete(app.url(&format!("/v1/api-keys/{}", victim["id"].as_str().unwrap())))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let db = app.raw_db().await;
    let events: Vec<String> = sqlx::query_scalar("SELECT type FROM events ORDER BY seq")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(events.contains(&"api_key.revoked".to_owned()), "{events:?}");
}

#[tokio::test]
async fn authentication_decisions_are_audited_and_listed_without_credentials() {
    let app = spawn_app().await;
    let unknown = paygate_proto::ApiKey::generate(paygate_proto::Environment::Test, &mut rand::rngs::OsRng);
    let wrong_secret = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", "sec_test_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    app.sdk_for(unknown.expose()).balance().await.expect_err("unknown");
    app.sdk().balance().await.expect("ok");

    let reader = create_key(&app, json!({"name": "no audit", "scopes": ["payments:read"]})).await;
    let refused = app
        .http()
        .get(app.url("/v1/audit-events"))
        .header("x-api-key", reader["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(problem(refused).await.1, "insufficient_scope");

    let page: Value = app
        .http()
        .get(app.url("/v1/audit-events?limit=100"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = page["data"].as_array().unwrap();
    let failure = rows
        .iter()
        .find(|r| r["action"] == "authentication" && r["reason"] == "invalid_api_secret")
        .expect("the failed secret is audited");
    assert_eq!(failure["outcome"], "failure");
    assert_eq!(failure["ip"], "127.0.0.1");
    assert!(failure["actor"].as_str().unwrap().contains('…'), "masked key prefix");
    assert!(rows
        .iter()
        .any(|r| r["action"] == "authentication" && r["outcome"] == "success"));
    assert!(rows.iter().any(|r| r["action"] == "api_key.created"));
    let text = page.to_string();
    assert!(!text.contains(&app.key) && !text.contains(&app.secret) && !text.contains(unknown.expose()));
    // Newest first by default.
    assert_eq!(rows[0]["action"], "authentication");

    // The unknown key's failure has no merchant, so it is not listed here,
    // but it is in the log with its reason.
    app.running.state.auth().decisions().flush().await;
    let db = app.raw_db().await;
    let (reason, details): (String, String) = sqlx::query_as(
        "SELECT reason, details FROM audit_events WHERE merchant_id IS NULL AND action = 'authentication'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(reason, "invalid_api_key");
    assert!(details.contains("unknown key"), "{details}");
}
