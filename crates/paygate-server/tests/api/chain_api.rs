//! The stablecoin API against a real anvil and a real `paygate-signer`:
//! USDC/USDT payments and `ethereum` wallets with custodial addresses from
//! the signer, `422 network_unavailable`, bad input, the start checks
//! (live https only, chain id, token decimals). The canary isolation test
//! is in chain_isolation.rs.

use paygate_server::chain::config::Token;
use paygate_server::clock::SystemClock;
use paygate_server::config::Config;
use paygate_server::serve::{self, ServeOptions};
use serde_json::{json, Value};

use crate::chain_api_support::{Anvil, ChainApp, DEV_ACCOUNTS};
use crate::money_support::{generous_limits, live_api, Api};
use crate::support::spawn_with;

pub fn crypto(amount: Value, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency, "method": "crypto"})
}

#[tokio::test]
async fn stablecoin_payments_and_wallets_get_fresh_custodial_addresses_from_the_signer() {
    let Some(chain) = ChainApp::start(&[Token::Usdc, Token::Usdt], 3).await else {
        return;
    };
    let (anvil, app) = (&chain.anvil, &chain.app);
    let api = Api::sandbox(app);

    let usdc = api
        .post_idem("/v1/payments", crypto(json!(2_500_000), "USDC"), "usdc-1")
        .await
        .ok();
    assert_eq!(usdc["status"], "requires_payment");
    assert_eq!(
        usdc["crypto"],
        json!({"network": "ethereum", "address": DEV_ACCOUNTS[0], "token_contract": anvil.usdc, "confirmations_required": 3}),
        "deposit index 0 of the signer's seed, the configured contract and confirmations"
    );
    // A replay answers the same address and takes no new index.
    let again = api
        .post_idem("/v1/payments", crypto(json!(2_500_000), "USDC"), "usdc-1")
        .await;
    assert!(again.replayed);
    assert_eq!(again.body["crypto"]["address"], DEV_ACCOUNTS[0]);

    let usdt = api.post("/v1/payments", crypto(json!(10), "USDT")).await.ok();
    assert_eq!(usdt["crypto"]["address"], DEV_ACCOUNTS[1]);
    assert_eq!(usdt["crypto"]["token_contract"], json!(anvil.usdt));
    let wallet = api
        .post("/v1/wallet/generate", json!({"network": "ethereum"}))
        .await
        .ok();
    assert_eq!(
        (
            wallet["network"].as_str(),
            wallet["address"].as_str(),
            wallet["payment"].as_str()
        ),
        (Some("ethereum"), Some(DEV_ACCOUNTS[2]), None)
    );
    assert_eq!(wallet["derivation_path"], "m/44'/60'/0'/0/2");

    // The address the API shows is the one a read shows, and BTC answers keep their shape.
    let read = api
        .get(&format!("/v1/payments/{}", usdc["id"].as_str().unwrap()))
        .await
        .ok();
    assert_eq!(read["crypto"], usdc["crypto"]);
    let btc = api.post("/v1/payments", crypto(json!(5000), "BTC")).await.ok();
    assert_eq!(btc["crypto"]["network"], "bitcoin");
    assert!(btc["crypto"].get("token_contract").is_none(), "{btc}");

    // The watcher's rows: one per index, globally unique, tied to their payment.
    let db = app.raw_db().await;
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT derivation_index, address, payment_id FROM wallet_addresses WHERE network = 'ethereum' ORDER BY derivation_index",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let expected: Vec<(i64, String, Option<String>)> = vec![
        (0, DEV_ACCOUNTS[0].to_owned(), usdc["id"].as_str().map(str::to_owned)),
        (1, DEV_ACCOUNTS[1].to_owned(), usdt["id"].as_str().map(str::to_owned)),
        (2, DEV_ACCOUNTS[2].to_owned(), None),
    ];
    assert_eq!(rows, expected);
    let duplicate = sqlx::query(
        "INSERT INTO wallet_addresses (id, merchant_id, env, network, address, derivation_index, payment_id, created_at) \
         VALUES ('wal_dup', $1, 'live', 'ethereum', '0x0000000000000000000000000000000000000001', 1, NULL, 0)",
    )
    .bind(&app.merchant_id)
    .execute(&db)
    .await;
    assert!(
        duplicate.is_err(),
        "an index is never handed out twice, whatever the environment"
    );

    // Live mode has no chain here.
    let live = live_api(app).await;
    let refused = live.post("/v1/payments", crypto(json!(1_000_000), "USDC")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (422, "network_unavailable"),
        "{:?}",
        refused.body
    );
    let refused = live.post("/v1/wallet/generate", json!({"network": "ethereum"})).await;
    assert_eq!((refused.status, refused.code()), (422, "network_unavailable"));
}

#[tokio::test]
async fn without_a_chain_or_a_token_contract_the_network_is_unavailable() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    for currency in ["USDC", "USDT"] {
        let reply = api.post("/v1/payments", crypto(json!(1_000_000), currency)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "network_unavailable"),
            "{:?}",
            reply.body
        );
    }
    let reply = api.post("/v1/wallet/generate", json!({"network": "ethereum"})).await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    let address = DEV_ACCOUNTS[1];
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1_000_000, "currency": "USDC", "destination": {"type": "ethereum", "address": address}}),
            "wd-eth-1",
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    // Bitcoin is untouched.
    let btc = api
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    assert_eq!(btc["network"], "bitcoin");

    // A chain with only USDC configured: USDT is named as the missing token.
    let Some(chain) = ChainApp::start(&[Token::Usdc], 12).await else {
        return;
    };
    let api = Api::sandbox(&chain.app);
    let reply = api.post("/v1/payments", crypto(json!(1_000_000), "USDT")).await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    assert!(
        reply.body["detail"].as_str().unwrap().contains("USDT"),
        "{}",
        reply.body
    );
    let ok = api.post("/v1/payments", crypto(json!(1_000_000), "USDC")).await.ok();
    assert_eq!(ok["crypto"]["confirmations_required"], 12);
}

#[tokio::test]
async fn bad_stablecoin_input_gets_clear_errors() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    // An unknown network.
    let reply = api.post("/v1/wallet/generate", json!({"network": "solana"})).await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "validation_failed"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "network");
    assert_eq!(reply.body["errors"][0]["message"], "must be bitcoin or ethereum");
    // A fractional amount: USDC has 6 decimals and amounts are whole minor units.
    let reply = api.post("/v1/payments", crypto(json!(1.5), "USDC")).await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "validation_failed"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "amount");
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{}",
        reply.body
    );
    // Stablecoins are not card currencies, and crypto is not fiat.
    let reply = api
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "USDC", "method": "card"}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["field"], "currency");
    let reply = api.post("/v1/payments", crypto(json!(100), "EUR")).await;
    assert_eq!(
        reply.body["errors"][0]["message"],
        "crypto payments take BTC, USDC or USDT"
    );

    // Withdrawal destinations: checksum, currency, format.
    let withdraw = |currency: &str, address: &str, key: &str| {
        let body =
            json!({"amount": 1_000_000, "currency": currency, "destination": {"type": "ethereum", "address": address}});
        let (api, key) = (api.clone(), key.to_owned());
        async move { api.post_idem("/v1/withdrawal-requests", body, &key).await }
    };
    let flipped = "0x70997970C51812dc3A010C7d01b50e0d17dc79c8"; // last letter's case changed
    for (currency, address, key) in [
        ("USDC", flipped, "wd-1"),
        ("USDC", "0x7099", "wd-2"),
        ("BTC", DEV_ACCOUNTS[1], "wd-3"),
    ] {
        let reply = withdraw(currency, address, key).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_destination"),
            "{address}: {:?}",
            reply.body
        );
    }
    let reply = withdraw("USDC", flipped, "wd-4").await;
    assert!(
        reply.body["detail"].as_str().unwrap().contains("EIP-55"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn withdrawals_to_ethereum_are_checked_and_never_paid_by_pretence() {
    let Some(chain) = ChainApp::start(&[Token::Usdc], 12).await else {
        return;
    };
    let api = Api::sandbox(&chain.app);
    // A lower-case address carries no checksum and is accepted; there is no
    // USDC balance until the watcher credits a deposit.
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "USDC", "destination": {"type": "ethereum", "address": DEV_ACCOUNTS[1].to_lowercase()}}),
            "wd-lower",
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "insufficient_funds"),
        "{:?}",
        reply.body
    );
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "USDT", "destination": {"type": "ethereum", "address": DEV_ACCOUNTS[1]}}),
            "wd-usdt",
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "network_unavailable"),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn a_live_chain_takes_https_only_and_a_chain_id_must_match_the_node() {
    let Some(anvil) = Anvil::start().await else { return };
    // Live mode: a plain-http RPC URL is a configuration error naming its key.
    let mut config = Config::default();
    let mut live = anvil.chain(&[Token::Usdc], 12);
    live.chain_id = 1;
    config.chains.live = Some(live);
    config.signer.socket = Some("/run/paygate-signer/signer.sock".into());
    let err = config.validate().unwrap_err();
    assert_eq!(err.key, "chains.live.ethereum.rpc_url");
    // The same through `paygate serve`'s environment: it exits naming the key.
    let data = tempfile::tempdir().unwrap();
    let out = crate::support::paygate(
        data.path(),
        &["serve"],
        &[
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__RPC_URL", &anvil.url),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__CHAIN_ID", "1"),
            ("PAYGATE_SIGNER__SOCKET", "/run/paygate-signer/signer.sock"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chains.live.ethereum.rpc_url") && stderr.contains("https"),
        "{stderr}"
    );

    // A chain id the node does not have: the server refuses to start.
    let start = |chain| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.chains.test = Some(chain);
        config.signer.socket = Some(dir.path().join("no-signer.sock"));
        let options = ServeOptions {
            config,
            clock: std::sync::Arc::new(SystemClock),
            master_key: None,
            create_sandbox: true,
        };
        serve::start(options)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    };
    let mut wrong = anvil.chain(&[Token::Usdc], 12);
    wrong.chain_id = 5;
    let err = start(wrong).await;
    assert!(
        err.contains("chains.test.ethereum.chain_id is 5") && err.contains("31337"),
        "{err}"
    );
    // A token contract that is not a 6-decimal token on this chain.
    let mut not_token = anvil.chain(&[Token::Usdc], 12);
    not_token.tokens.insert(Token::Usdc, DEV_ACCOUNTS[1].to_owned());
    let err = start(not_token).await;
    assert!(err.contains("chains.test.ethereum.tokens.USDC"), "{err}");
    // With the right chain, the next thing missing is the signer itself.
    let err = start(anvil.chain(&[Token::Usdc, Token::Usdt], 12)).await;
    assert!(err.contains("signer.socket"), "{err}");
}

#[tokio::test]
async fn a_stablecoin_checkout_session_is_refused_at_creation_where_the_chain_cannot_take_it() {
    use crate::checkout::{create_session, payor_call};
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    // No chain in test mode: the session is refused at once, not when the payor pays.
    for currency in ["USDC", "USDT"] {
        let body = json!({"amount": 1_000_000, "currency": currency});
        let reply = api.post("/v1/checkout/sessions", body.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "network_unavailable"),
            "{:?}",
            reply.body
        );
        assert!(
            reply.body["detail"].as_str().unwrap().contains("chain"),
            "{}",
            reply.body
        );
        // Bad input is still named first.
        let bad = api
            .post(
                "/v1/checkout/sessions",
                json!({"amount": 1_000_000, "currency": currency, "expires_in": 1}),
            )
            .await;
        assert_eq!((bad.status, bad.code()), (400, "validation_failed"), "{:?}", bad.body);
    }
    // Other currencies are untouched.
    let (btc, _) = create_session(&app, json!({"amount": 5000, "currency": "BTC"})).await;
    assert_eq!(btc["methods"], json!(["crypto"]));

    // A chain with only USDC: a USDT session is refused naming USDT; a USDC
    // one is created and its payor gets a deposit address when paying.
    let Some(chain) = ChainApp::start(&[Token::Usdc], 12).await else {
        return;
    };
    let api = Api::sandbox(&chain.app);
    let reply = api
        .post(
            "/v1/checkout/sessions",
            json!({"amount": 1_000_000, "currency": "USDT"}),
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    assert!(
        reply.body["detail"].as_str().unwrap().contains("USDT"),
        "{}",
        reply.body
    );
    let (session, payor) = create_session(&chain.app, json!({"amount": 1_000_000, "currency": "USDC"})).await;
    assert_eq!(session["methods"], json!(["crypto"]));
    let paid = payor_call(
        &chain.app,
        &payor.token,
        &payor.secret,
        reqwest::Method::POST,
        "/v1/payor/session/pay",
        Some(&json!({"method": "crypto"})),
    )
    .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.unwrap();
    let crypto = &paid["payment"]["crypto"];
    assert_eq!(crypto["network"], "ethereum", "{paid}");
    assert!(crypto["address"].as_str().unwrap().starts_with("0x"), "{paid}");
}
