//! Idempotency (section 6): replays, reuse with another path or body, keys
//! in flight, 20 identical requests at once, retention and the key route.

use std::sync::Arc;

use paygate_server::clock::ManualClock;
use serde_json::json;

use crate::money_support::{card_payment, generous_limits, Api};
use crate::support::{spawn_with, spawn_with_clock};

#[tokio::test]
async fn a_repeat_replays_and_a_changed_request_is_refused() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let body = card_payment(990, "KES", "4242424242424242");
    let first = api.post_idem("/v1/payments", body.clone(), "order-1").await;
    assert_eq!((first.status, first.replayed), (200, false));
    let again = api.post_idem("/v1/payments", body.clone(), "order-1").await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.body, first.body);
    assert_eq!(api.balance("KES").await, (990, 0, 0), "charged once");

    let other_body = api
        .post_idem("/v1/payments", card_payment(991, "KES", "4242424242424242"), "order-1")
        .await;
    assert_eq!((other_body.status, other_body.code()), (422, "idempotency_key_reused"));
    let other_path = api
        .post_idem("/v1/wallet/generate", json!({"network": "bitcoin"}), "order-1")
        .await;
    assert_eq!(other_path.code(), "idempotency_key_reused");
    // Another merchant environment's key space is separate.
    let live = crate::money_support::live_api(&app).await;
    let live_reply = live
        .post_idem(
            "/v1/payments",
            json!({"amount": 1, "currency": "USD", "method": "card"}),
            "order-1",
        )
        .await;
    assert_eq!((live_reply.status, live_reply.replayed), (200, false));

    // A refused request stores nothing: the same key then works.
    let invalid = api
        .post_idem(
            "/v1/payments",
            json!({"amount": -1, "currency": "KES", "method": "card"}),
            "order-2",
        )
        .await;
    assert_eq!(invalid.status, 400);
    let valid = api
        .post_idem(
            "/v1/payments",
            json!({"amount": 1, "currency": "KES", "method": "card"}),
            "order-2",
        )
        .await;
    assert_eq!((valid.status, valid.replayed), (200, false));
    let bad_key = api
        .post_idem(
            "/v1/payments",
            json!({"amount": 1, "currency": "KES", "method": "card"}),
            &"k".repeat(256),
        )
        .await;
    assert_eq!(bad_key.status, 400);

    // Key creation is idempotent too, and its replay is the same key once more
    // (the stored response is sealed, never plaintext in the database).
    let created = api.post_idem("/v1/api-keys", json!({"name": "ci"}), "key-1").await.ok();
    let replayed = api.post_idem("/v1/api-keys", json!({"name": "ci"}), "key-1").await;
    assert!(replayed.replayed);
    assert_eq!(replayed.body, created);
    let db = app.raw_db().await;
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT body_sealed FROM idempotency_keys")
        .fetch_all(&db)
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap();
    for (sealed,) in rows {
        assert!(!String::from_utf8_lossy(&sealed).contains(secret));
    }
    let (keys,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_keys WHERE name = 'ci'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(keys, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_identical_posts_at_once_create_one_payment() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let body = card_payment(4321, "USD", "4242424242424242");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (api, body) = (api.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            api.post_idem("/v1/payments", body, "same-key").await
        }));
    }
    let mut ids = Vec::new();
    let mut in_progress = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status, reply.code()) {
            (200, _) => ids.push(reply.id()),
            (409, "idempotency_in_progress") => in_progress += 1,
            other => panic!("unexpected {other:?}: {}", reply.body),
        }
    }
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(ids.len() + in_progress, 20);
    let list = api.get("/v1/payments").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(api.balance("USD").await, (4321, 0, 0));
}

#[tokio::test]
async fn records_expire_after_the_retention_and_are_purged() {
    let clock = ManualClock::at(1_800_000_000);
    let app = spawn_with_clock(Arc::new(clock.clone()), generous_limits).await;
    let api = Api::sandbox(&app);
    let body = json!({"amount": 10, "currency": "USD", "method": "card"});
    let first = api.post_idem("/v1/payments", body.clone(), "daily").await.ok();
    clock.advance(86_399);
    let replay = api.post_idem("/v1/payments", body.clone(), "daily").await;
    assert!(replay.replayed);
    clock.advance(1);
    let fresh = api.post_idem("/v1/payments", body.clone(), "daily").await;
    assert!(!fresh.replayed);
    assert_ne!(fresh.id(), first["id"].as_str().unwrap());

    api.post_idem("/v1/payments", body.clone(), "other").await.ok();
    clock.advance(86_400);
    paygate_server::maintenance::sweep(&app.running.state).await;
    let db = app.raw_db().await;
    let (left,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM idempotency_keys")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}
