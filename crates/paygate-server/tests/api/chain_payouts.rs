//! Payouts on a real chain: the real server, its sandbox signer and anvil,
//! with the public node and the relay as recording JSON-RPC proxies in
//! front of anvil. Routes `private`, `public_fallback` (timeout, refused,
//! unreachable) and `public`; a relay's word settles nothing; a signer
//! refusal and a reverted transfer fail the withdrawal and release its
//! funds; a USDT-like token pays; a stuck transaction is replaced.

use alloy_primitives::Address;
use serde_json::{json, Value};

use crate::chain_support::{events_of, eventually, reconcile, word, Chain};
use crate::money_support::{ledger_verify, Api};
use crate::payout_support::{approve, fresh_address, mined_tx, pause, settled, transfers_to, withdraw_to, withdrawal};
use crate::rpc_proxy::{unreachable_url, RelayMode, RpcProxy};

const CONFIRMATIONS: u64 = 2;

/// How the server reaches the chain in one test.
struct Setup {
    relay: Option<String>,
    timeout_blocks: u64,
    payout_cap: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            relay: None,
            timeout_blocks: 3,
            payout_cap: 10_000_000_000,
        }
    }
}

/// The server on `chain` through the public proxy `public`.
async fn server(chain: &Chain, public: &RpcProxy, setup: Setup) -> crate::support::TestApp {
    crate::chain_support::use_built_signer();
    let mut config = crate::chain_support::test_chain_config(chain, CONFIRMATIONS);
    config.rpc_url = public.url();
    config.private_rpc_url = setup.relay;
    config.private_timeout_blocks = setup.timeout_blocks;
    crate::support::spawn_with(move |c| {
        crate::money_support::generous_limits(c);
        c.chains.test = Some(config);
        c.signer.payout_cap = setup.payout_cap;
        c.signer.daily_cap = setup.payout_cap.max(50_000_000_000);
    })
    .await
}

async fn hot_wallet(app: &crate::support::TestApp) -> Address {
    let signer = app.running.state.signer().expect("a signer").clone();
    signer.hot_wallet().await.unwrap().parse().unwrap()
}

/// Credits the merchant `amount` of `token` by a real deposit and waits
/// until it is swept to the hot wallet (which gets ether for gas first).
async fn fund(api: &Api, chain: &Chain, token: Address, currency: &str, hot: Address, amount: u64) {
    chain.set_eth(hot, 100 * 10u128.pow(18)).await;
    let before = chain.balance_of(token, hot).await;
    let address = api
        .post("/v1/wallet/generate", json!({"network": "ethereum"}))
        .await
        .ok();
    let deposit: Address = address["address"].as_str().unwrap().parse().unwrap();
    chain.mint(token, deposit, amount).await;
    eventually(60, "the deposit credited and swept", || async {
        chain.mine(1).await;
        let swept = chain.balance_of(token, hot).await == before + amount;
        (swept && api.balance(currency).await.0 >= i64::try_from(amount).unwrap()).then_some(())
    })
    .await;
}

/// A withdrawal of `amount` USDC to a fresh address, approved.
async fn approved_payout(api: &Api, amount: u64, key: &str) -> (String, Address) {
    let to = fresh_address();
    let id = withdraw_to(api, amount, to, key).await;
    let approved = approve(api, &id).await;
    assert_eq!(approved["status"], "processing", "{approved}");
    (id, to)
}

/// Waits until the withdrawal shows a sent transaction; returns it.
async fn shown_on_chain(api: &Api, id: &str) -> Value {
    eventually(30, "the payout's transaction", || async {
        let w = withdrawal(api, id).await;
        (!w["chain"].is_null()).then_some(w)
    })
    .await
}

/// Checks a paid withdrawal: its chain object, the one transfer that paid
/// it (from the hot wallet, to the token), the ledger and the events.
async fn assert_paid_once(api: &Api, chain: &Chain, paid: &Value, token: Address, to: Address, amount: u64) {
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["confirmed_at"].is_string());
    let tx = paid["chain"]["tx_hash"].as_str().unwrap();
    assert!(paid["chain"]["block"].as_u64().is_some(), "{paid}");
    assert!(
        paid["chain"]["confirmations"].as_u64().unwrap() >= CONFIRMATIONS,
        "{paid}"
    );
    assert_eq!(
        transfers_to(chain, token, to).await,
        [tx.to_owned()],
        "paid exactly once, by that transaction"
    );
    assert_eq!(chain.balance_of(token, to).await, amount);
    let (_, _, to_contract) = mined_tx(chain, tx).await;
    assert_eq!(to_contract, token);
    let events = events_of(api, "withdrawal.paid").await;
    assert!(events
        .iter()
        .any(|e| e["id"] == paid["id"] && e["chain"]["tx_hash"] == tx));
}

#[tokio::test]
async fn without_a_relay_a_payout_goes_public_and_settles_from_its_receipt() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let app = server(&chain, &public, Setup::default()).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    let (id, to) = approved_payout(&api, 2_000_000, "wd-public").await;
    assert_eq!(
        api.balance("USDC").await,
        (3_000_000, 0, 2_000_000),
        "reserved while processing"
    );
    let shown = shown_on_chain(&api, &id).await;
    assert_eq!(shown["chain"]["route"], "public", "{shown}");
    assert!(shown["chain"].get("fallback_reason").is_none());
    let paid = settled(&api, &chain, &id, 60).await;
    assert_paid_once(&api, &chain, &paid, chain.usdc, to, 2_000_000).await;
    let (from, _, _) = mined_tx(&chain, paid["chain"]["tx_hash"].as_str().unwrap()).await;
    assert_eq!(from, hot, "paid from the hot wallet");
    assert!(public
        .tx_hashes()
        .contains(&paid["chain"]["tx_hash"].as_str().unwrap().to_owned()));
    assert_eq!(api.balance("USDC").await, (3_000_000, 0, 0));
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = reconcile(&app, &chain);
    assert!(clean, "{report} {stderr}");
    let metrics = reqwest::get(format!("http://{}/metrics", app.running.admin_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"paygate_payouts_total{env="test",route="public",outcome="paid"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_relay_that_gets_it_mined_keeps_it_off_the_public_node() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let setup = Setup {
        relay: Some(relay.url()),
        ..Setup::default()
    };
    let app = server(&chain, &public, setup).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    let (id, to) = approved_payout(&api, 1_500_000, "wd-private").await;
    let paid = settled(&api, &chain, &id, 60).await;
    assert_eq!(paid["chain"]["route"], "private", "{paid}");
    assert_paid_once(&api, &chain, &paid, chain.usdc, to, 1_500_000).await;
    let tx = paid["chain"]["tx_hash"].as_str().unwrap().to_owned();
    assert_eq!(relay.tx_hashes(), std::slice::from_ref(&tx), "the relay got it once");
    assert!(!public.tx_hashes().contains(&tx), "the public node never saw it");
}

#[tokio::test]
async fn a_relay_that_swallows_it_is_left_after_the_timeout_for_the_same_transaction() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Swallow).await;
    let setup = Setup {
        relay: Some(relay.url()),
        timeout_blocks: 3,
        ..Setup::default()
    };
    let app = server(&chain, &public, setup).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    let (id, to) = approved_payout(&api, 1_000_000, "wd-swallow").await;
    let shown = shown_on_chain(&api, &id).await;
    assert_eq!(shown["chain"]["route"], "private");
    let swallowed = eventually(20, "the relay's copy", || async { relay.tx_hashes().first().cloned() }).await;
    assert!(!public.tx_hashes().contains(&swallowed));
    let paid = settled(&api, &chain, &id, 60).await;
    assert_eq!(paid["chain"]["route"], "public_fallback", "{paid}");
    assert_eq!(paid["chain"]["fallback_reason"], "timeout");
    assert_eq!(
        paid["chain"]["tx_hash"],
        swallowed.as_str(),
        "the identical transaction"
    );
    assert!(
        public.tx_hashes().contains(&swallowed),
        "the public node got the same hash"
    );
    assert_eq!(
        crate::rpc_proxy::tx_hash(
            &public.raw_transactions()[public.tx_hashes().iter().position(|h| *h == swallowed).unwrap()]
        ),
        swallowed
    );
    assert_paid_once(&api, &chain, &paid, chain.usdc, to, 1_000_000).await;
}

#[tokio::test]
async fn a_relay_that_refuses_or_cannot_be_reached_sends_it_public_at_once() {
    for (relay, reason) in [(None, "relay_unreachable"), (Some(RelayMode::Refuse), "relay_refused")] {
        let chain = Chain::start().await;
        let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
        let proxy = match relay {
            Some(mode) => Some(RpcProxy::start(&chain.url, mode).await),
            None => None,
        };
        let setup = Setup {
            relay: Some(proxy.as_ref().map_or_else(unreachable_url, RpcProxy::url)),
            timeout_blocks: 1000,
            ..Setup::default()
        };
        let app = server(&chain, &public, setup).await;
        let api = Api::sandbox(&app);
        let hot = hot_wallet(&app).await;
        fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
        let (id, to) = approved_payout(&api, 700_000, "wd-fallback").await;
        // No block passes (the test mines none, the timeout is 1000 blocks):
        // the public node gets it at once.
        let block = chain.block_number().await;
        let shown = eventually(30, "the public fallback", || async {
            let w = withdrawal(&api, &id).await;
            (w["chain"]["route"] == "public_fallback").then_some(w)
        })
        .await;
        assert!(
            chain.block_number().await <= block + 1,
            "mined at once, not after a timeout"
        );
        assert_eq!(shown["chain"]["fallback_reason"], reason);
        let paid = settled(&api, &chain, &id, 60).await;
        assert_paid_once(&api, &chain, &paid, chain.usdc, to, 700_000).await;
        assert!(public
            .tx_hashes()
            .contains(&paid["chain"]["tx_hash"].as_str().unwrap().to_owned()));
    }
}

#[tokio::test]
async fn a_relay_claiming_success_without_a_receipt_settles_nothing() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Swallow).await;
    let setup = Setup {
        relay: Some(relay.url()),
        timeout_blocks: 1000,
        ..Setup::default()
    };
    let app = server(&chain, &public, setup).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    let (id, to) = approved_payout(&api, 1_000_000, "wd-liar").await;
    shown_on_chain(&api, &id).await;
    for _ in 0..10 {
        chain.mine(1).await;
        pause(200).await;
    }
    let w = withdrawal(&api, &id).await;
    assert_eq!(w["status"], "processing", "{w}");
    assert_eq!(w["chain"]["route"], "private");
    assert!(w["chain"]["block"].is_null());
    assert_eq!(w["chain"]["confirmations"], 0);
    assert_eq!(relay.tx_hashes().len(), 1);
    assert!(public.tx_hashes().is_empty() || !public.tx_hashes().contains(&relay.tx_hashes()[0]));
    assert_eq!(chain.balance_of(chain.usdc, to).await, 0);
    assert_eq!(api.balance("USDC").await, (4_000_000, 0, 1_000_000), "still reserved");
    assert!(events_of(&api, "withdrawal.paid").await.is_empty());
}

#[tokio::test]
async fn a_payout_over_the_cap_is_refused_released_and_leaves_no_nonce_gap() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let setup = Setup {
        payout_cap: 1_000_000,
        ..Setup::default()
    };
    let app = server(&chain, &public, setup).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    let nonce_before = crate::payout_support::nonce_of(&chain, hot).await;
    let (big, big_to) = approved_payout(&api, 2_000_000, "wd-big").await;
    let failed = settled(&api, &chain, &big, 30).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "signer_refused");
    assert!(failed["chain"].is_null(), "nothing was signed");
    assert_eq!(api.balance("USDC").await, (5_000_000, 0, 0), "released");
    assert_eq!(chain.balance_of(chain.usdc, big_to).await, 0);
    let events = events_of(&api, "withdrawal.failed").await;
    assert!(events
        .iter()
        .any(|e| e["id"] == big.as_str() && e["failure_code"] == "signer_refused"));
    // The refusal left no gap: the next payout takes the same nonce and is mined.
    let (small, small_to) = approved_payout(&api, 600_000, "wd-small").await;
    let paid = settled(&api, &chain, &small, 60).await;
    assert_paid_once(&api, &chain, &paid, chain.usdc, small_to, 600_000).await;
    let (_, nonce, _) = mined_tx(&chain, paid["chain"]["tx_hash"].as_str().unwrap()).await;
    assert_eq!(nonce, nonce_before, "the refused payout's nonce went to the next one");
    let (clean, report) = ledger_verify(&app);
    assert!(clean, "{report}");
}

#[tokio::test]
async fn a_reverted_transfer_fails_the_withdrawal_and_releases_its_funds() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let app = server(&chain, &public, Setup::default()).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 3_000_000).await;
    // The hot wallet loses its tokens: the token's transfer reverts on chain.
    chain.steal(chain.usdc, hot, 3_000_000).await;
    let (id, to) = approved_payout(&api, 2_000_000, "wd-revert").await;
    let failed = settled(&api, &chain, &id, 60).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "reverted");
    let tx = failed["chain"]["tx_hash"].as_str().unwrap();
    let receipt = chain.rpc("eth_getTransactionReceipt", json!([tx])).await;
    assert_eq!(receipt["status"], "0x0", "the chain reverted it");
    assert!(failed["chain"]["block"].as_u64().is_some());
    assert_eq!(chain.balance_of(chain.usdc, to).await, 0);
    assert_eq!(api.balance("USDC").await, (3_000_000, 0, 0), "released");
    assert!(events_of(&api, "withdrawal.failed")
        .await
        .iter()
        .any(|e| e["id"] == id.as_str() && e["failure_code"] == "reverted"));
    assert!(ledger_verify(&app).0);
}

#[tokio::test]
async fn a_usdt_like_token_whose_transfer_returns_nothing_pays_out() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let app = server(&chain, &public, Setup::default()).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdt, "USDT", hot, 4_000_000).await;
    let to = fresh_address();
    let created = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 2_500_000, "currency": "USDT", "destination": {"type": "ethereum", "address": word(to)}}),
            "wd-usdt",
        )
        .await
        .ok();
    let id = created["id"].as_str().unwrap().to_owned();
    approve(&api, &id).await;
    let paid = settled(&api, &chain, &id, 60).await;
    assert_paid_once(&api, &chain, &paid, chain.usdt, to, 2_500_000).await;
    assert_eq!(api.balance("USDT").await, (1_500_000, 0, 0));
}

#[tokio::test]
async fn a_transaction_stuck_below_the_market_is_replaced_and_paid() {
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let app = server(&chain, &public, Setup::default()).await;
    let api = Api::sandbox(&app);
    let hot = hot_wallet(&app).await;
    fund(&api, &chain, chain.usdc, "USDC", hot, 5_000_000).await;
    // Blocks only when the test mines them, and the market jumps above
    // whatever the payout is signed with.
    chain.rpc("evm_setAutomine", json!([false])).await;
    let (id, to) = approved_payout(&api, 1_000_000, "wd-stuck").await;
    let first = shown_on_chain(&api, &id).await["chain"]["tx_hash"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(20, "the first version sent", || async {
        public.tx_hashes().contains(&first).then_some(())
    })
    .await;
    let (first_max_fee, _) = max_fees(&chain, &first).await;
    let market = first_max_fee * 20;
    chain
        .rpc("anvil_setNextBlockBaseFeePerGas", json!([format!("{market:#x}")]))
        .await;
    let paid = eventually(90, "the replacement paid", || async {
        chain.mine(1).await;
        pause(250).await;
        let w = withdrawal(&api, &id).await;
        (w["status"] == "paid").then_some(w)
    })
    .await;
    let last = paid["chain"]["tx_hash"].as_str().unwrap().to_owned();
    assert_ne!(last, first, "a new version with a higher fee");
    let (max_fee, _) = max_fees(&chain, &last).await;
    assert!(max_fee > first_max_fee, "{max_fee} > {first_max_fee}");
    assert!(max_fee <= 500_000_000_000, "never above the ceiling");
    let (_, nonce_last, _) = mined_tx(&chain, &last).await;
    let first_tx = chain.rpc("eth_getTransactionByHash", json!([first])).await;
    assert!(
        first_tx.is_null() || first_tx["blockNumber"].is_null(),
        "the first version was never mined"
    );
    assert_eq!(transfers_to(&chain, chain.usdc, to).await, std::slice::from_ref(&last));
    assert_eq!(
        nonce_last + 1,
        crate::payout_support::nonce_of(&chain, hot).await,
        "the same nonce, used once"
    );
    chain.rpc("evm_setAutomine", json!([true])).await;
    assert_eq!(api.balance("USDC").await, (4_000_000, 0, 0));
}

/// A transaction's `maxFeePerGas` and `maxPriorityFeePerGas`, in wei.
async fn max_fees(chain: &Chain, hash: &str) -> (u128, u128) {
    let tx = chain.rpc("eth_getTransactionByHash", json!([hash])).await;
    let wei = |v: &Value| u128::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    (wei(&tx["maxFeePerGas"]), wei(&tx["maxPriorityFeePerGas"]))
}
