//! Refunds over the API: partial then full, nothing past what was paid, 50
//! concurrent partials of one payment, `insufficient_funds` that never
//! overdraws, idempotent retries, states that cannot be refunded, and
//! another merchant's payment. The ledger verifies after every test.

use paygate_proto::Environment;
use paygate_server::keys::{issue_key, KeySpec};
use serde_json::{json, Value};

use crate::money_support::{card_payment, generous_limits, ledger_verify, Api};
use crate::support::{spawn_with, TestApp};

fn refund(payment: &str, amount: Option<i64>) -> Value {
    match amount {
        Some(amount) => json!({"payment": payment, "amount": amount}),
        None => json!({"payment": payment}),
    }
}

#[track_caller]
fn assert_ledger_clean(app: &TestApp) {
    let (clean, report) = ledger_verify(app);
    assert!(clean, "ledger verify: {report}");
}

#[tokio::test]
async fn partial_then_full_refund_up_to_what_was_paid() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api.fund(10_000, "USD").await;
    let pay_id = payment["id"].as_str().unwrap();
    assert_eq!(payment["amount_refunded"], 0);

    let partial = api
        .post(
            "/v1/refunds",
            json!({"payment": pay_id, "amount": 3_000, "reason": "damaged in transit"}),
        )
        .await
        .ok();
    assert!(partial["id"].as_str().unwrap().starts_with("re_"), "{partial}");
    assert_eq!(partial["object"], "refund");
    assert_eq!(partial["status"], "succeeded");
    assert_eq!(partial["amount"], 3_000);
    assert_eq!(partial["currency"], "USD");
    assert_eq!(partial["payment"], pay_id);
    assert_eq!(partial["reason"], "damaged in transit");
    assert_eq!(api.balance("USD").await, (7_000, 0, 0));
    let paid = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(
        (paid["amount_refunded"].as_i64(), paid["status"].as_str()),
        (Some(3_000), Some("succeeded"))
    );

    // Without an amount: the rest.
    let rest = api.post("/v1/refunds", refund(pay_id, None)).await.ok();
    assert_eq!(rest["amount"], 7_000);
    assert_eq!(api.balance("USD").await, (0, 0, 0));
    for amount in [Some(1), None] {
        let more = api.post("/v1/refunds", refund(pay_id, amount)).await;
        assert_eq!(
            (more.status, more.code()),
            (422, "refund_exceeds_payment"),
            "{}",
            more.body
        );
    }
    let paid = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(paid["amount_refunded"], 10_000);

    let got = api
        .get(&format!("/v1/refunds/{}", partial["id"].as_str().unwrap()))
        .await
        .ok();
    assert_eq!(got, partial);
    let other = api.fund(500, "USD").await;
    api.post("/v1/refunds", refund(other["id"].as_str().unwrap(), Some(100)))
        .await
        .ok();
    let of_payment = api
        .get(&format!("/v1/refunds?payment={pay_id}&sortBy=amount&order=asc"))
        .await
        .ok();
    let amounts: Vec<i64> = of_payment["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3_000, 7_000]);
    let all = api.get("/v1/refunds?sortBy=amount&order=desc&limit=2").await.ok();
    assert_eq!(all["has_more"], true);
    assert_eq!(all["data"][0]["amount"], 7_000);

    let events = api.get("/v1/events?limit=100").await.ok();
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.iter().filter(|t| **t == "refund.created").count(), 3);
    assert_eq!(types.iter().filter(|t| **t == "refund.succeeded").count(), 3);
    let db = app.raw_db().await;
    let audited: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'refund.created'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(audited.0, 3);
    assert_ledger_clean(&app);
}

#[tokio::test]
async fn unpaid_failed_and_canceled_payments_cannot_be_refunded() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    api.fund(10_000, "EUR").await;
    let declined = api
        .post("/v1/payments", card_payment(1_000, "EUR", "4000000000000002"))
        .await
        .ok();
    assert_eq!(declined["status"], "failed");
    let unpaid = api
        .post(
            "/v1/payments",
            json!({"amount": 1_000, "currency": "EUR", "method": "card"}),
        )
        .await
        .ok();
    let canceled = api
        .post(
            "/v1/payments",
            json!({"amount": 1_000, "currency": "EUR", "method": "card"}),
        )
        .await
        .ok();
    let canceled_id = canceled["id"].as_str().unwrap();
    api.post_empty(&format!("/v1/payments/{canceled_id}/cancel")).await.ok();
    for payment in [&declined, &unpaid, &canceled] {
        let refused = api
            .post("/v1/refunds", refund(payment["id"].as_str().unwrap(), None))
            .await;
        assert_eq!(
            (refused.status, refused.code()),
            (409, "invalid_state"),
            "{}",
            refused.body
        );
    }
    let missing = api
        .post("/v1/refunds", refund("pay_000000000000000000000000", None))
        .await;
    assert_eq!((missing.status, missing.code()), (404, "not_found"));
    let bad = api.post("/v1/refunds", json!({"payment": "wd_1", "amount": 0})).await;
    assert_eq!((bad.status, bad.code()), (400, "validation_failed"));
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 2, "{}", bad.body);
    assert_eq!(api.get("/v1/refunds/re_missing").await.status, 404);
    assert_eq!(api.balance("EUR").await, (10_000, 0, 0));
    assert_ledger_clean(&app);
}

#[tokio::test]
async fn fifty_concurrent_partial_refunds_never_refund_more_than_was_paid() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api.fund(10_000, "GBP").await;
    api.fund(100_000, "GBP").await;
    let pay_id = payment["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (api, pay_id) = (api.clone(), pay_id.clone());
        tasks.push(tokio::spawn(async move {
            api.post_idem("/v1/refunds", refund(&pay_id, Some(300)), &format!("re-{i}"))
                .await
        }));
    }
    let (mut refunded, mut refused) = (0, 0);
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status, reply.code()) {
            (200, _) => refunded += 1,
            (422, "refund_exceeds_payment") => refused += 1,
            other => panic!("unexpected {other:?}: {}", reply.body),
        }
    }
    // 33 x 300 = 9,900 fits in 10,000; a 34th would not.
    assert_eq!((refunded, refused), (33, 17));
    let paid = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(paid["amount_refunded"], 9_900);
    assert_eq!(api.balance("GBP").await, (110_000 - 9_900, 0, 0));
    assert_ledger_clean(&app);
}

#[tokio::test]
async fn concurrent_refunds_past_available_fail_with_insufficient_funds_and_never_overdraw() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api.fund(10_000, "ZAR").await;
    // 8,000 reserved by a withdrawal: 2,000 left to refund from.
    api.withdraw(8_000, "ZAR", "wd-reserve").await.ok();
    let pay_id = payment["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (api, pay_id) = (api.clone(), pay_id.clone());
        tasks.push(tokio::spawn(async move {
            api.post("/v1/refunds", refund(&pay_id, Some(100))).await
        }));
    }
    let (mut refunded, mut refused) = (0, 0);
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status, reply.code()) {
            (200, _) => refunded += 1,
            (422, "insufficient_funds") => refused += 1,
            other => panic!("unexpected {other:?}: {}", reply.body),
        }
    }
    assert_eq!((refunded, refused), (20, 30));
    assert_eq!(api.balance("ZAR").await, (0, 0, 8_000));
    let paid = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(paid["amount_refunded"], 2_000);
    assert_ledger_clean(&app);
}

#[tokio::test]
async fn an_idempotent_retry_returns_the_first_refund() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api.fund(5_000, "KES").await;
    let pay_id = payment["id"].as_str().unwrap();
    let first = api
        .post_idem("/v1/refunds", refund(pay_id, Some(1_000)), "refund-once")
        .await;
    assert_eq!((first.status, first.replayed), (200, false));
    let again = api
        .post_idem("/v1/refunds", refund(pay_id, Some(1_000)), "refund-once")
        .await;
    assert_eq!((again.status, again.replayed), (200, true));
    assert_eq!(again.body, first.body);
    let reused = api
        .post_idem("/v1/refunds", refund(pay_id, Some(2_000)), "refund-once")
        .await;
    assert_eq!((reused.status, reused.code()), (422, "idempotency_key_reused"));
    let paid = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(paid["amount_refunded"], 1_000);
    let listed = api.get("/v1/refunds").await.ok();
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(api.balance("KES").await, (4_000, 0, 0));
    assert_ledger_clean(&app);
}

#[tokio::test]
async fn another_merchants_payment_and_refunds_are_not_found() {
    let app = spawn_with(generous_limits).await;
    let state = &app.running.state;
    let other = paygate_server::merchants::create_merchant(state.store(), "ZA", "other@example.com", state.now())
        .await
        .expect("merchant");
    let issued = issue_key(
        state.store(),
        state.master_key(),
        &other,
        Environment::Test,
        &KeySpec::named("o"),
        state.now(),
    )
    .await
    .expect("key");
    let theirs = Api {
        key: issued.key.expose().to_owned(),
        secret: Some(issued.secret.expose().to_owned()),
        ..Api::sandbox(&app)
    };
    let ours = Api::sandbox(&app);
    ours.fund(9_000, "USD").await;
    let their_payment = theirs.fund(4_000, "USD").await;
    let their_id = their_payment["id"].as_str().unwrap();
    let their_refund = theirs.post("/v1/refunds", refund(their_id, Some(1_000))).await.ok();

    let stolen = ours.post("/v1/refunds", refund(their_id, None)).await;
    assert_eq!((stolen.status, stolen.code()), (404, "not_found"));
    let peek = ours
        .get(&format!("/v1/refunds/{}", their_refund["id"].as_str().unwrap()))
        .await;
    assert_eq!(peek.status, 404);
    let listed = ours.get(&format!("/v1/refunds?payment={their_id}")).await.ok();
    assert_eq!(listed["data"], json!([]));
    assert_eq!(ours.balance("USD").await, (9_000, 0, 0));
    assert_eq!(theirs.balance("USD").await, (3_000, 0, 0));
    // The live environment of the same merchant does not see test payments.
    let live = crate::money_support::live_api(&app).await;
    let across = live.post("/v1/refunds", refund(their_id, None)).await;
    assert_eq!(across.status, 404);
    assert_ledger_clean(&app);
}
