//! docs/api.md section 12: the hash-chained audit log and `paygate audit verify`;
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
    // Authentication decisions are audited in batches: let them land first.
    app.running.state.auth().decisions().flush().await;
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
        sqlx::query_as("SELECT action, actor, details FROM audit_events WHERE action = 'api_key.created'")
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
    // Four key creations, and the four authentication decisions before them.
    assert_eq!(report["rows"], 8);

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

#[tokio::test(flavor = "multi_thread")]
async fn pruning_keeps_verification_passing_and_later_edits_are_still_found() {
    let app = spawn_app().await;
    create_keys(&app, 4).await;
    // Everything so far (keys and the audited authentication decisions) is
    // older than one second from now.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let db = app.raw_db().await;
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&db)
        .await
        .expect("count");
    assert!(before >= 4);
    let cutoff = app.running.state.now().to_string();
    let pruned = tokio::task::block_in_place(|| app.cli(&["--json", "audit", "prune", "--before", &cutoff]));
    assert!(pruned.status.success(), "{}", String::from_utf8_lossy(&pruned.stderr));
    let report: Value = serde_json::from_slice(&pruned.stdout).expect("json");
    assert_eq!(report["pruned"], before);

    create_keys(&app, 2).await;
    let (ok, report) = verify(&app).await;
    assert!(ok, "verification passes over what remains: {report}");

    let first: i64 = sqlx::query_scalar("SELECT MIN(seq) FROM audit_events")
        .fetch_one(&db)
        .await
        .expect("min");
    assert_eq!(first, before + 1, "the pruned rows are gone");
    let action: String = sqlx::query_scalar("SELECT action FROM audit_events WHERE seq = $1")
        .bind(first)
        .fetch_one(&db)
        .await
        .expect("row");
    assert_eq!(action, "audit.pruned");
    sqlx::query("UPDATE audit_events SET actor = 'someone else' WHERE seq = $1")
        .bind(first + 1)
        .execute(&db)
        .await
        .expect("edit");
    let (ok, report) = verify(&app).await;
    assert!(!ok);
    assert_eq!(report["seq"], first + 1, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_json_lines_for_a_siem() {
    let app = spawn_app().await;
    create_keys(&app, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let db = app.raw_db().await;
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&db)
        .await
        .expect("count");
    let output = tokio::task::block_in_place(|| app.cli(&["audit", "export", "--since", "1970-01-01T00:00:00Z"]));
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("utf8");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len() as i64, stored);
    assert_eq!(rows[0]["seq"], 1);
    assert_eq!(rows.iter().filter(|r| r["action"] == "api_key.created").count(), 3);
    assert!(rows[1]["hash"].as_str().is_some_and(|h| h.len() == 64));
    assert_eq!(rows[1]["prev_hash"], rows[0]["hash"]);
    assert!(!text.contains(&app.key) && !text.contains(&app.secret));
    let future = tokio::task::block_in_place(|| app.cli(&["audit", "export", "--since", "2999-01-01T00:00:00Z"]));
    assert!(future.status.success() && future.stdout.is_empty());
}
