//! Payments over the API: test cards, validation naming each field, the live
//! mode refusing card numbers, cancel, expiry and tenant isolation.

use std::sync::Arc;

use paygate_server::clock::ManualClock;
use serde_json::json;

use crate::money_support::{card_payment, generous_limits, ledger_verify, live_api, Api};
use crate::support::{spawn_with, spawn_with_clock};

#[tokio::test]
async fn test_cards_succeed_decline_or_lack_funds_and_only_success_credits() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let ok = api
        .post("/v1/payments", card_payment(1250, "USD", "4242 4242 4242 4242"))
        .await
        .ok();
    assert_eq!(ok["status"], "succeeded");
    assert_eq!(ok["card"], json!({"brand": "visa", "last4": "4242"}));
    assert!(ok["id"].as_str().unwrap().starts_with("pay_"));
    assert!(ok["confirmed_at"].is_string());
    assert!(
        !ok.to_string().contains("4242424242424242"),
        "the number is never echoed"
    );

    let declined = api
        .post("/v1/payments", card_payment(700, "USD", "4000000000000002"))
        .await
        .ok();
    assert_eq!(
        (declined["status"].as_str(), declined["failure_code"].as_str()),
        (Some("failed"), Some("card_declined"))
    );
    let poor = api
        .post("/v1/payments", card_payment(700, "USD", "4000000000009995"))
        .await
        .ok();
    assert_eq!(poor["failure_code"], "insufficient_funds");

    assert_eq!(api.balance("USD").await, (1250, 0, 0));
    let fetched = api
        .get(&format!("/v1/payments/{}", ok["id"].as_str().unwrap()))
        .await
        .ok();
    assert_eq!(fetched, ok);

    // A real card number is refused in test mode, like any unknown number.
    let real = api
        .post("/v1/payments", card_payment(100, "USD", "5555555555554444"))
        .await;
    assert_eq!((real.status, real.code()), (400, "validation_failed"));
    assert_eq!(real.body["errors"][0]["field"], "card.number");

    let events = api.get("/v1/events?limit=100").await.ok();
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| **t == "payment.created").count(), 3);
    assert_eq!(types.iter().filter(|t| **t == "payment.succeeded").count(), 1);
    assert_eq!(types.iter().filter(|t| **t == "payment.failed").count(), 2);
    assert!(ledger_verify(&app).0);
}

#[tokio::test]
async fn validation_names_every_bad_field() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let long_key = "k".repeat(41);
    let reply = api
        .post(
            "/v1/payments",
            json!({"amount": 0, "currency": "usd", "method": "cheque", "metadata": {long_key.clone(): "v"}}),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (400, "validation_failed"));
    let fields: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["amount", "currency", "method", &format!("metadata.{long_key}")]
    );

    let too_big = api
        .post(
            "/v1/payments",
            json!({"amount": 1_000_000_000_000_001i64, "currency": "USD", "method": "card"}),
        )
        .await;
    assert_eq!(too_big.body["errors"][0]["field"], "amount");
    let max = api
        .post(
            "/v1/payments",
            json!({"amount": 1_000_000_000_000_000i64, "currency": "USD", "method": "card"}),
        )
        .await;
    assert_eq!(max.status, 200, "{}", max.body);
    let many: serde_json::Map<String, serde_json::Value> = (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    let crowded = api
        .post(
            "/v1/payments",
            json!({"amount": 5, "currency": "EUR", "method": "card", "metadata": many}),
        )
        .await;
    assert_eq!(crowded.body["errors"][0]["field"], "metadata");
    let unknown = api
        .post(
            "/v1/payments",
            json!({"amount": 5, "currency": "EUR", "method": "card", "tip": 1}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body["errors"][0]["field"].as_str()),
        (400, Some("tip"))
    );
    let crypto_usd = api
        .post(
            "/v1/payments",
            json!({"amount": 5, "currency": "USD", "method": "crypto"}),
        )
        .await;
    assert_eq!(crypto_usd.body["errors"][0]["field"], "currency");
    // Nothing was created by the refused requests.
    let list = api.get("/v1/payments").await.ok();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn live_mode_never_accepts_a_card_number_and_never_mixes_with_test() {
    let app = spawn_with(generous_limits).await;
    let live = live_api(&app).await;
    let test = Api::sandbox(&app);
    let refused = live
        .post("/v1/payments", card_payment(100, "USD", "4242424242424242"))
        .await;
    assert_eq!((refused.status, refused.code()), (400, "validation_failed"));
    assert_eq!(refused.body["errors"][0]["field"], "card");
    assert!(!refused.body.to_string().contains("4242"));

    let live_payment = live
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "USD", "method": "card"}),
        )
        .await
        .ok();
    assert_eq!(
        (live_payment["status"].as_str(), live_payment["env"].as_str()),
        (Some("requires_payment"), Some("live"))
    );
    let id = live_payment["id"].as_str().unwrap();
    assert_eq!(test.get(&format!("/v1/payments/{id}")).await.status, 404);
    assert_eq!(test.post_empty(&format!("/v1/payments/{id}/cancel")).await.status, 404);
    assert_eq!(live.get(&format!("/v1/payments/{id}")).await.status, 200);
    // Live crypto needs a configured wallet: no sandbox key is made there.
    let crypto = live
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "BTC", "method": "crypto"}),
        )
        .await;
    assert_eq!(
        (crypto.status, crypto.body["errors"][0]["field"].as_str()),
        (400, Some("method"))
    );
    assert_eq!(
        live.post("/v1/test/deposits", json!({"address": "x", "amount": 1}))
            .await
            .code(),
        "test_mode_only"
    );
}

#[tokio::test]
async fn cancel_only_from_requires_payment_and_unpaid_payments_expire() {
    let clock = ManualClock::at(1_800_000_000);
    let app = spawn_with_clock(Arc::new(clock.clone()), generous_limits).await;
    let api = Api::sandbox(&app);
    let open = api
        .post(
            "/v1/payments",
            json!({"amount": 300, "currency": "GBP", "method": "card"}),
        )
        .await
        .ok();
    assert_eq!(open["status"], "requires_payment");
    let id = open["id"].as_str().unwrap().to_owned();
    let canceled = api.post_empty(&format!("/v1/payments/{id}/cancel")).await.ok();
    assert_eq!(canceled["status"], "canceled");
    let again = api.post_empty(&format!("/v1/payments/{id}/cancel")).await;
    assert_eq!((again.status, again.code()), (409, "invalid_state"));
    let paid = api.fund(100, "GBP").await;
    let paid_cancel = api
        .post_empty(&format!("/v1/payments/{}/cancel", paid["id"].as_str().unwrap()))
        .await;
    assert_eq!(paid_cancel.code(), "invalid_state");

    let later = api
        .post(
            "/v1/payments",
            json!({"amount": 300, "currency": "GBP", "method": "card"}),
        )
        .await
        .ok();
    let later_id = later["id"].as_str().unwrap().to_owned();
    clock.advance(24 * 3600 - 1);
    assert_eq!(
        api.get(&format!("/v1/payments/{later_id}")).await.ok()["status"],
        "requires_payment"
    );
    clock.advance(1);
    assert_eq!(
        api.get(&format!("/v1/payments/{later_id}")).await.ok()["status"],
        "expired"
    );
    let too_late = api.post_empty(&format!("/v1/payments/{later_id}/cancel")).await;
    assert_eq!(too_late.code(), "invalid_state");
    let events = api.get("/v1/events?limit=100").await.ok();
    let expired: Vec<_> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "payment.expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["object"]["id"], later_id.as_str());
    let canceled_events = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "payment.canceled")
        .count();
    assert_eq!(canceled_events, 1);
}

#[tokio::test]
async fn a_key_without_payments_write_cannot_create() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let issued = api
        .post("/v1/api-keys", json!({"name": "reader", "scopes": ["payments:read"]}))
        .await
        .ok();
    let reader = Api {
        key: issued["key"].as_str().unwrap().to_owned(),
        secret: None,
        ..api.clone()
    };
    let refused = reader
        .post("/v1/payments", card_payment(100, "USD", "4242424242424242"))
        .await;
    assert_eq!((refused.status, refused.code()), (403, "insufficient_scope"));
    assert_eq!(reader.get("/v1/payments").await.status, 200);
}
