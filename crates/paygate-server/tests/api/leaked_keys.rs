//! docs/api.md section 14: a reported key stops working on the next request; a
//! made-up key changes nothing and gets the same answer.

use paygate_proto::{ApiKey, Environment, ErrorCode};
use serde_json::{json, Value};

use crate::support::spawn_app;

async fn report(app: &crate::support::TestApp, key: &str) -> (u16, String) {
    let response = app
        .http()
        .post(app.url("/v1/leaked-keys"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .expect("req");
    (response.status().as_u16(), response.text().await.expect("body"))
}

#[tokio::test]
async fn a_reported_key_is_revoked_and_the_merchant_alerted_while_any_other_report_looks_the_same() {
    let app = spawn_app().await;
    let sdk = app.sdk();
    sdk.balance().await.expect("works before");

    let made_up = ApiKey::generate(Environment::Live, &mut rand::rngs::OsRng);
    let answers = [
        report(&app, made_up.expose()).await,
        report(&app, "sk_test_not-even-a-key").await,
        report(&app, &app.key).await,
    ];
    for (status, body) in &answers {
        assert_eq!(*status, 202);
        assert_eq!(body, &answers[0].1, "every report gets the same answer");
    }

    let err = sdk.balance().await.expect_err("the reported key is revoked");
    assert_eq!(err.code(), Some(ErrorCode::InvalidApiKey));

    let db = app.raw_db().await;
    let alerts: Vec<String> = sqlx::query_scalar("SELECT payload FROM events WHERE type = 'security.alert'")
        .fetch_all(&db)
        .await
        .expect("events");
    assert_eq!(alerts.len(), 1, "one alert, for the real key only");
    let alert: Value = serde_json::from_str(&alerts[0]).expect("json");
    assert_eq!(alert["data"]["object"]["type"], "leaked_key_reported");
    assert!(!alerts[0].contains(&app.key), "the alert never carries the key");
    let audited: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events WHERE action = 'api_key.leak_reported'")
        .fetch_one(&db)
        .await
        .expect("audit");
    assert_eq!(audited, 1);

    // Reporting it again changes nothing and still answers the same.
    assert_eq!(report(&app, &app.key).await, answers[0]);
    let alerts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE type = 'security.alert'")
        .fetch_one(&db)
        .await
        .expect("events");
    assert_eq!(alerts, 1);
}
