//! Withdrawals over the API: reservation at creation, approval and rejection
//! with secret and scope, every other transition refused, destinations
//! validated, audit rows, and 200 concurrent requests against 50's funds.

use serde_json::json;

use crate::money_support::{generous_limits, iban_destination, ledger_verify, live_api, Api};
use crate::support::spawn_with;

#[tokio::test]
async fn reserve_then_approve_pays_and_reject_releases() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    api.fund(10_000, "EUR").await;
    let no_key = api
        .post(
            "/v1/withdrawal-requests",
            json!({"amount": 100, "currency": "EUR", "destination": iban_destination()}),
        )
        .await;
    assert_eq!((no_key.status, no_key.code()), (400, "idempotency_key_required"));

    let first = api.withdraw(4_000, "EUR", "wd-1").await.ok();
    assert_eq!(first["status"], "pending_approval");
    assert!(first["id"].as_str().unwrap().starts_with("wd_"));
    assert_eq!(api.balance("EUR").await, (6_000, 0, 4_000));
    let second = api.withdraw(3_000, "EUR", "wd-2").await.ok();
    assert_eq!(api.balance("EUR").await, (3_000, 0, 7_000));
    let too_much = api.withdraw(3_001, "EUR", "wd-3").await;
    assert_eq!((too_much.status, too_much.code()), (422, "insufficient_funds"));

    let approve = |id: &str| format!("/v1/withdrawal-requests/{id}/approve");
    let reject = |id: &str| format!("/v1/withdrawal-requests/{id}/reject");
    let first_id = first["id"].as_str().unwrap();
    let second_id = second["id"].as_str().unwrap();
    // The secret is required, and the scope.
    let no_secret = api.without_secret().post_empty(&approve(first_id)).await;
    assert_eq!((no_secret.status, no_secret.code()), (401, "api_secret_required"));
    let limited = api
        .post(
            "/v1/api-keys",
            json!({"name": "payouts", "scopes": ["payouts:write", "payments:read"]}),
        )
        .await
        .ok();
    let limited = Api {
        key: limited["key"].as_str().unwrap().to_owned(),
        secret: Some(limited["secret"].as_str().unwrap().to_owned()),
        ..api.clone()
    };
    assert_eq!(
        limited.post_empty(&approve(first_id)).await.code(),
        "insufficient_scope"
    );

    let paid = api.post_empty(&approve(first_id)).await.ok();
    assert_eq!(paid["status"], "paid");
    assert_eq!(api.balance("EUR").await, (3_000, 0, 3_000));
    for path in [approve(first_id), reject(first_id)] {
        let again = api.post_empty(&path).await;
        assert_eq!((again.status, again.code()), (409, "invalid_state"));
    }
    let rejected = api.post_empty(&reject(second_id)).await.ok();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(api.balance("EUR").await, (6_000, 0, 0));
    assert_eq!(api.post_empty(&approve(second_id)).await.code(), "invalid_state");
    assert_eq!(api.post_empty(&approve("wd_missing")).await.status, 404);

    let events = api.get("/v1/events?limit=100").await.ok();
    let types: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    for t in [
        "withdrawal.created",
        "withdrawal.approved",
        "withdrawal.paid",
        "withdrawal.rejected",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    let db = app.raw_db().await;
    let actions: Vec<(String,)> =
        sqlx::query_as("SELECT action FROM audit_events WHERE action LIKE 'payout.%' ORDER BY seq")
            .fetch_all(&db)
            .await
            .unwrap();
    let actions: Vec<&str> = actions.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(actions, ["payout.approved", "payout.rejected"]);
    let listed = api.get("/v1/withdrawal-requests?sortBy=amount&order=asc").await.ok();
    let amounts: Vec<i64> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [3_000, 4_000]);
    assert!(ledger_verify(&app).0);
}

#[tokio::test]
async fn destinations_are_validated_for_the_environment() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    api.fund(10_000, "USD").await;
    let cases = [
        (
            json!({"type": "bank", "iban": "GB83WEST12345698765432", "name": "Ada"}),
            "USD",
        ),
        (
            json!({"type": "bank", "iban": "GB82WEST12345698765432", "name": "Ada"}),
            "BTC",
        ),
        (
            json!({"type": "bitcoin", "address": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"}),
            "BTC",
        ),
        (json!({"type": "bitcoin", "address": "not-an-address"}), "BTC"),
    ];
    for (i, (destination, currency)) in cases.into_iter().enumerate() {
        let reply = api
            .post_idem(
                "/v1/withdrawal-requests",
                json!({"amount": 1, "currency": currency, "destination": destination}),
                &format!("bad-{i}"),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_destination"),
            "case {i}: {}",
            reply.body
        );
    }
    let unknown_type = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "USD", "destination": {"type": "paypal"}}),
            "bad-x",
        )
        .await;
    assert_eq!((unknown_type.status, unknown_type.code()), (400, "validation_failed"));
    // A test network address is fine in test mode (funds permitting).
    let testnet = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "BTC", "destination": {"type": "bitcoin", "address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}}),
            "btc",
        )
        .await;
    assert_eq!((testnet.status, testnet.code()), (422, "insufficient_funds"));
    // And a main network address is fine in live mode.
    let live = live_api(&app).await;
    let live_reply = live
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "BTC", "destination": {"type": "bitcoin", "address": "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"}}),
            "btc",
        )
        .await;
    assert_eq!(live_reply.code(), "insufficient_funds");
    assert_eq!(api.balance("USD").await, (10_000, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_withdrawals_against_funds_for_fifty() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    api.fund(50 * 100, "ZAR").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.withdraw(100, "ZAR", &format!("race-{i}")).await
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status, reply.code()) {
            (200, _) => accepted += 1,
            (422, "insufficient_funds") => refused += 1,
            other => panic!("unexpected answer {other:?}: {}", reply.body),
        }
    }
    assert_eq!((accepted, refused), (50, 150));
    assert_eq!(api.balance("ZAR").await, (0, 0, 5_000));
    let (clean, report) = ledger_verify(&app);
    assert!(clean, "{report}");
}

#[tokio::test]
async fn live_approval_waits_in_processing_with_the_funds_still_reserved() {
    let app = spawn_with(generous_limits).await;
    let live = live_api(&app).await;
    // Live money cannot come from a test card: post it through the ledger.
    let merchant = paygate_proto::MerchantId::parse(&app.merchant_id).unwrap();
    app.running
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                paygate_server::ledger::transfer(
                    conn,
                    &merchant,
                    paygate_proto::Environment::Live,
                    paygate_proto::money::Currency::GBP,
                    900,
                    paygate_server::ledger::Account::ExternalCard,
                    paygate_server::ledger::Account::Available,
                    0,
                )
                .await
            })
        })
        .await
        .unwrap();
    let created = live.withdraw(600, "GBP", "live-1").await.ok();
    assert_eq!(created["env"], "live");
    let id = created["id"].as_str().unwrap();
    let approved = live
        .post_empty(&format!("/v1/withdrawal-requests/{id}/approve"))
        .await
        .ok();
    assert_eq!(approved["status"], "processing");
    assert_eq!(live.balance("GBP").await, (300, 0, 600));
    let again = live.post_empty(&format!("/v1/withdrawal-requests/{id}/reject")).await;
    assert_eq!((again.status, again.code()), (409, "invalid_state"));
    // The test environment sees none of it.
    assert_eq!(
        Api::sandbox(&app)
            .get(&format!("/v1/withdrawal-requests/{id}"))
            .await
            .status,
        404
    );
    assert!(ledger_verify(&app).0);
}
