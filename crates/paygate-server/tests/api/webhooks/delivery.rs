//! Deliveries: the log keeps each attempt, redelivery sends again,
//! redirects are not followed, slow receivers time out.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use paygate_proto::webhooks::{verify_delivery, WebhookSecret};
use paygate_proto::Environment;
use serde_json::{json, Value};

use super::{create_endpoint, emit, get_json, wait_for_log, Receiver};
use crate::support::spawn_with;

#[tokio::test]
async fn the_delivery_log_keeps_each_attempt_and_redelivery_sends_again() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.retry_schedule_secs = vec![600];
    })
    .await;
    let long_answer = "x".repeat(3000);
    let (receiver, port) = Receiver::start(vec![(500, long_answer), (200, "thanks".to_owned())]).await;
    let response = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook")).await;
    let endpoint: Value = response.json().await.unwrap();
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let secret = WebhookSecret::parse(endpoint["secret"].as_str().unwrap()).unwrap();

    let event_id = emit(&app, Environment::Test).await;
    let log = wait_for_log(&app, endpoint_id, |log| log["data"][0]["attempts"][0].is_object()).await;
    let delivery = &log["data"][0];
    assert!(delivery["id"].as_str().unwrap().starts_with("dlv_"));
    assert_eq!(delivery["event"], event_id.as_str());
    assert_eq!(delivery["event_type"], "payment.created");
    assert_eq!(delivery["status"], "pending");
    assert!(delivery["next_attempt_at"].is_string(), "a retry is scheduled");
    let attempt = &delivery["attempts"][0];
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["response_status"], 500);
    assert_eq!(
        attempt["response_body"].as_str().unwrap().len(),
        1024,
        "the first 1 KiB is kept"
    );
    assert!(attempt["duration_ms"].is_u64());
    let metrics = reqwest::get(format!("http://{}/metrics", app.running.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"paygate_webhook_attempts_total{outcome="failed",delivery_status="pending"} 1"#),
        "the failed attempt is counted by outcome:\n{metrics}"
    );

    // What the receiver got verifies with the endpoint's secret.
    let (headers, body) = receiver.request(0);
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(header("webhook-id"), event_id);
    assert_eq!(header("content-type"), "application/json");
    verify_delivery(
        &secret,
        &event_id,
        &header("webhook-timestamp"),
        &header("webhook-signature"),
        &body,
        app.running.state.now(),
        300,
    )
    .unwrap();
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["data"]["object"]["id"], "pay_test");

    // Redelivery plans a new delivery at once, beside the waiting retry.
    let redelivered = app
        .http()
        .post(app.url(&format!("/v1/events/{event_id}/redeliver")))
        .header("x-api-key", &app.key)
        .json(&json!({"endpoint": endpoint_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 200);
    let planned: Value = redelivered.json().await.unwrap();
    let new_id = planned["data"][0]["id"].as_str().unwrap().to_owned();
    let log = wait_for_log(&app, endpoint_id, |log| {
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == new_id.as_str() && d["status"] == "succeeded")
    })
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);
    assert_eq!(receiver.count(), 2);
    let (headers, _) = receiver.request(1);
    assert_eq!(
        headers["webhook-id"].to_str().unwrap(),
        event_id,
        "receivers dedupe on webhook-id"
    );

    // Pagination over the log.
    let (_, first) = get_json(
        &app,
        &app.key,
        &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?limit=1"),
    )
    .await;
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get_json(
        &app,
        &app.key,
        &format!("/v1/webhook-endpoints/{endpoint_id}/deliveries?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["has_more"], false);
    assert_ne!(first["data"][0]["id"], second["data"][0]["id"]);

    // Unknown events and other tenants' events are 404.
    let missing = app
        .http()
        .post(app.url("/v1/events/evt_doesnotexist/redeliver"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn redirects_are_not_followed_and_slow_receivers_time_out() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.timeout_secs = 1;
        config.webhooks.retry_schedule_secs = vec![600];
    })
    .await;
    // Where a redirect would lead: it must never be reached.
    let (elsewhere, elsewhere_port) = Receiver::start(vec![(200, String::new())]).await;
    let location = format!("http://127.0.0.1:{elsewhere_port}/hook");
    let redirecting = Router::new().route(
        "/hook",
        post(move || {
            let location = location.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, location)],
                )
            }
        }),
    );
    let slow = Router::new().route(
        "/hook",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            "late"
        }),
    );
    let mut endpoints = Vec::new();
    for router in [redirecting, slow] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let created: Value = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook"))
            .await
            .json()
            .await
            .unwrap();
        endpoints.push(created["id"].as_str().unwrap().to_owned());
    }
    emit(&app, Environment::Test).await;

    let log = wait_for_log(&app, &endpoints[0], |log| log["data"][0]["attempts"][0].is_object()).await;
    assert_eq!(log["data"][0]["attempts"][0]["response_status"], 307);
    assert_eq!(
        log["data"][0]["status"], "pending",
        "a redirect is a failure, retried on the schedule"
    );

    let started = Instant::now();
    let log = wait_for_log(&app, &endpoints[1], |log| log["data"][0]["attempts"][0].is_object()).await;
    let attempt = &log["data"][0]["attempts"][0];
    assert_eq!(attempt["error"], "timeout", "{log}");
    assert_eq!(attempt["response_status"], Value::Null);
    assert!(attempt["duration_ms"].as_u64().unwrap() < 2_500, "{attempt}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(elsewhere.count(), 0, "the redirect was not followed");
}

#[tokio::test]
async fn a_receiver_answering_gone_disables_its_endpoint_and_cancels_what_waits() {
    let app = spawn_with(|config| {
        config.webhooks.allow_private_targets = true;
        config.webhooks.max_concurrency_per_endpoint = 1;
    })
    .await;
    let (receiver, port) = Receiver::start(vec![(410, String::new())]).await;
    let endpoint: Value = create_endpoint(&app, &app.key, &format!("http://127.0.0.1:{port}/hook"))
        .await
        .json()
        .await
        .unwrap();
    let endpoint_id = endpoint["id"].as_str().unwrap();
    // Two events planned in one turn: one is sent (one at a time for this
    // endpoint), the other waits behind it.
    let state = &app.running.state;
    let merchant = paygate_proto::MerchantId::parse(&app.merchant_id).unwrap();
    let mut tx = state.store().begin_write().await.unwrap();
    for id in ["pay_a", "pay_b"] {
        paygate_server::outbox::record_event(
            tx.conn(),
            &merchant,
            Environment::Test,
            "payment.created",
            json!({"id": id, "amount": 100}),
            state.now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    state.webhooks().wake();
    let log = wait_for_log(&app, endpoint_id, |log| {
        log["data"]
            .as_array()
            .is_some_and(|d| d.len() == 2 && d.iter().all(|x| x["status"] != "pending"))
    })
    .await;
    let mut statuses: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["canceled", "failed"], "{log}");
    assert_eq!(receiver.count(), 1, "the waiting delivery was never sent");
    let (status, endpoint) = get_json(&app, &app.key, &format!("/v1/webhook-endpoints/{endpoint_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
}
