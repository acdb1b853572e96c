//! API.md section 12: the hash-chained audit log and `paygate audit verify`;
//! section 10: a change and its outbox event commit together.

use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp};

async fn create_keys(app: &TestApp, n: usize) {
    for i in 0..n {
        let response = app
            .http()
            .post(app.url("/v1/api-keys"))
            .header("x-api-key", &app.key)
            .header("x-api-secret", &app.secret)
            .json(&json!({"name": format!("key {i}")}))
            .send()
            .await
            .expect("req");
        assert_eq!(response.status(), 200);
    }
}

async fn verify(app: &TestApp) -> (bool, Value) {
    let output = tokio::task::block_in_place(|| app.cli(&["--json", "audit", "verify"]));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json report");
    (output.status.success(), report)
}

#[tokio::test]
async fn key_creation_is_audited_and_emits_its_event() {
    let app = spawn_app().await;
    create_keys(&app, 1).await;
    let db = app.raw_db().await;
    let (action, actor, details): (String, String, String) =
        sqlx::query_as("SELECT action, actor, details FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .expect("audit row");
    assert_eq!(action, "api_key.created");
    assert!(
        actor.starts_with("sk_test_") && actor.contains('…'),
        "the actor is the masked key: {actor}"
    );
    assert!(!details.contains(&app.key) && !details.contains(&app.secret));
    let (event_type, payload): (String, String) =
        sqlx::query_as("SELECT type, payload FROM events ORDER BY seq DESC LIMIT 1")
            .fetch_one(&db)
            .await
            .expect("event");
    assert_eq!(event_type, "api_key.created");
    let payload: Value = serde_json::from_str(&payload).expect("json");
    assert!(payload["id"].as_str().expect("id").starts_with("evt_"));
    assert_eq!(payload["data"]["object"]["object"], "api_key");
    assert!(
        !payload.to_string().contains("sec_test_"),
        "the event never carries the secret"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_passes_on_a_clean_chain_and_names_an_edited_row() {
    let app = spawn_app().await;
    create_keys(&app, 4).await;
    let (ok, report) = verify(&app).await;
    assert!(ok, "{report}");
    assert_eq!(report["rows"], 4);

    let db = app.raw_db().await;
    sqlx::query("UPDATE audit_events SET ip = '203.0.113.66' WHERE seq = 3")
        .execute(&db)
        .await
        .expect("edit");
    let (ok, report) = verify(&app).await;
    assert!(!ok);
    assert_eq!(report["seq"], 3, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_finds_removed_and_reordered_rows() {
    let app = spawn_app().await;
    create_keys(&app, 5).await;
    let db = app.raw_db().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 2")
        .execute(&db)
        .await
        .expect("delete");
    let (ok, report) = verify(&app).await;
    assert!(!ok);
    assert_eq!(report["seq"], 2, "{report}");

    let app = spawn_app().await;
    create_keys(&app, 3).await;
    let db = app.raw_db().await;
    // Swap the content of two rows, keeping their sequence numbers.
    sqlx::query("UPDATE audit_events SET seq = -1 WHERE seq = 1")
        .execute(&db)
        .await
        .expect("swap");
    sqlx::query("UPDATE audit_events SET seq = 1 WHERE seq = 2")
        .execute(&db)
        .await
        .expect("swap");
    sqlx::query("UPDATE audit_events SET seq = 2 WHERE seq = -1")
        .execute(&db)
        .await
        .expect("swap");
    let (ok, report) = verify(&app).await;
    assert!(!ok);
    assert_eq!(report["seq"], 1, "{report}");

    let app = spawn_app().await;
    create_keys(&app, 3).await;
    let db = app.raw_db().await;
    sqlx::query("DELETE FROM audit_events WHERE seq = 3")
        .execute(&db)
        .await
        .expect("truncate");
    let (ok, report) = verify(&app).await;
    assert!(!ok, "removing the newest row is found too: {report}");
}
