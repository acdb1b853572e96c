//! Wallets over the API: the BIP84 vector through `wallet/config` and
//! `wallet/generate`, keys refused in the wrong environment, the sandbox
//! `vpub`, crypto payments with their own address, and test deposits.

use serde_json::json;

use crate::money_support::{generous_limits, ledger_verify, live_api, Api};
use crate::support::spawn_with;

const BIP84_ZPUB: &str =
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";

#[tokio::test]
async fn the_bip84_vector_derives_its_published_addresses_over_the_api() {
    let app = spawn_with(generous_limits).await;
    let live = live_api(&app).await;
    let wallet = live
        .post("/v1/wallet/config", json!({"network": "bitcoin", "xpub": BIP84_ZPUB}))
        .await
        .ok();
    assert_eq!(
        (wallet["sandbox"].as_bool(), wallet["next_index"].as_i64()),
        (Some(false), Some(0))
    );
    let first = live
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    let second = live
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    assert_eq!(first["address"], "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu");
    assert_eq!(first["derivation_path"], "m/0/0");
    assert!(first["id"].as_str().unwrap().starts_with("wal_"));
    assert_eq!(second["address"], "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g");
    assert_eq!(second["derivation_path"], "m/0/1");
    // A crypto payment gets the next address, never one handed out before.
    let payment = live
        .post(
            "/v1/payments",
            json!({"amount": 5000, "currency": "BTC", "method": "crypto"}),
        )
        .await
        .ok();
    assert_eq!(payment["crypto"]["network"], "bitcoin");
    let address = payment["crypto"]["address"].as_str().unwrap();
    assert!(address.starts_with("bc1q") && address != first["address"] && address != second["address"]);

    // Test mode takes no main network key; private keys are refused anywhere.
    let test = Api::sandbox(&app);
    let wrong = test
        .post("/v1/wallet/config", json!({"network": "bitcoin", "xpub": BIP84_ZPUB}))
        .await;
    assert_eq!(
        (wrong.status, wrong.body["errors"][0]["field"].as_str()),
        (400, Some("xpub"))
    );
    let xprv = "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi";
    let private = live
        .post("/v1/wallet/config", json!({"network": "bitcoin", "xpub": xprv}))
        .await;
    assert_eq!(private.status, 400);
    let network = live.post("/v1/wallet/generate", json!({"network": "litecoin"})).await;
    assert_eq!(network.body["errors"][0]["field"], "network");
    // Ethereum addresses are custodial, from the signer, and need a chain.
    let network = live.post("/v1/wallet/generate", json!({"network": "ethereum"})).await;
    assert_eq!((network.status, network.code()), (422, "network_unavailable"));
}

#[tokio::test]
async fn a_test_merchant_without_a_key_gets_a_sandbox_vpub_and_deposits_pay() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api
        .post(
            "/v1/payments",
            json!({"amount": 50_000, "currency": "BTC", "method": "crypto"}),
        )
        .await
        .ok();
    let address = payment["crypto"]["address"].as_str().unwrap().to_owned();
    assert!(address.starts_with("tb1q"), "{address}");
    assert_eq!(payment["status"], "requires_payment");
    // The wallet row holds a vpub and nothing private.
    let db = app.raw_db().await;
    let (xpub, sandbox): (String, i64) = sqlx::query_as("SELECT xpub, sandbox FROM wallets")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(xpub.starts_with("vpub") && sandbox == 1, "{xpub}");

    // A partial deposit credits the balance but does not pay the payment.
    let part = api
        .post("/v1/test/deposits", json!({"address": address, "amount": 20_000}))
        .await
        .ok();
    assert_eq!(part["payment"], payment["id"]);
    let id = payment["id"].as_str().unwrap();
    let after_part = api.get(&format!("/v1/payments/{id}")).await.ok();
    assert_eq!(
        (after_part["status"].as_str(), after_part["amount_received"].as_i64()),
        (Some("requires_payment"), Some(20_000))
    );
    api.post("/v1/test/deposits", json!({"address": address, "amount": 30_000}))
        .await
        .ok();
    let paid = api.get(&format!("/v1/payments/{id}")).await.ok();
    assert_eq!(paid["status"], "succeeded");
    assert_eq!(api.balance("BTC").await, (50_000, 0, 0));

    // A deposit to a plain generated address credits the balance directly.
    let plain = api
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    assert_ne!(plain["address"].as_str(), Some(address.as_str()));
    let deposit = api
        .post("/v1/test/deposits", json!({"address": plain["address"], "amount": 7}))
        .await
        .ok();
    assert_eq!(deposit["payment"], serde_json::Value::Null);
    assert_eq!(api.balance("BTC").await, (50_007, 0, 0));
    let unknown = api
        .post("/v1/test/deposits", json!({"address": "tb1qunknown", "amount": 7}))
        .await;
    assert_eq!(unknown.body["errors"][0]["field"], "address");

    let events = api.get("/v1/events?limit=100").await.ok();
    let count = |t: &str| {
        events["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == t)
            .count()
    };
    assert_eq!((count("wallet.deposit"), count("payment.succeeded")), (3, 1));
    assert!(ledger_verify(&app).0);
}
