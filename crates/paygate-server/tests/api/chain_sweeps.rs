//! Sweeps on a real chain: confirmed deposits move to the hot wallet, gas
//! topped up from it first, each exactly once.

use alloy_primitives::Address;

use crate::chain_support::{
    available_becomes, chain_cli, deposit_address, eventually, reconcile, spawn_on_chain, Chain,
};
use crate::money_support::{ledger_verify, Api};

async fn sweep_states(app: &crate::support::TestApp) -> Vec<String> {
    use sqlx::Row as _;
    let db = app.raw_db().await;
    let rows = sqlx::query("SELECT state FROM chain_sweeps ORDER BY created_at, id")
        .fetch_all(&db)
        .await
        .unwrap();
    db.close().await;
    rows.iter().map(|r| r.get::<String, _>("state")).collect()
}

#[tokio::test]
async fn confirmed_deposits_are_swept_to_the_hot_wallet_with_a_gas_top_up_first() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 1).await;
    let api = Api::sandbox(&app);
    let signer = app.running.state.signer().expect("a signer").clone();
    let hot: Address = signer.hot_wallet().await.unwrap().parse().unwrap();
    chain.set_eth(hot, 10u128.pow(18)).await;
    let deposit = deposit_address(&app).await;
    assert_eq!(chain.eth_balance(deposit).await, 0, "no gas of its own");
    chain.mint(chain.usdc, deposit, 3_000_000).await;
    available_becomes(&api, "USDC", 3_000_000).await;
    eventually(30, "the sweep", || async {
        (chain.balance_of(chain.usdc, hot).await == 3_000_000).then_some(())
    })
    .await;
    assert_eq!(chain.balance_of(chain.usdc, deposit).await, 0);
    assert!(chain.eth_balance(deposit).await > 0, "topped up, then paid gas");
    eventually(10, "the sweep done", || async {
        (sweep_states(&app).await == ["done"]).then_some(())
    })
    .await;

    // A later deposit to the same address gets a sweep of its own.
    chain.pay(chain.usdt, deposit, 500_000).await;
    chain.mint(chain.usdc, deposit, 1_000_000).await;
    eventually(30, "the second sweeps", || async {
        let hot_usdc = chain.balance_of(chain.usdc, hot).await;
        let hot_usdt = chain.balance_of(chain.usdt, hot).await;
        (hot_usdc == 4_000_000 && hot_usdt == 500_000).then_some(())
    })
    .await;
    eventually(10, "every sweep done", || async {
        (sweep_states(&app).await == ["done", "done", "done"]).then_some(())
    })
    .await;
    assert_eq!(
        api.balance("USDC").await.0,
        4_000_000,
        "a sweep moves custody, not the balance"
    );
    assert!(ledger_verify(&app).0);

    let out = chain_cli(&app, &chain, &["chain", "status", "--env", "test", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["hot_wallet"].as_str().unwrap().parse::<Address>().unwrap(), hot);
    assert_eq!(status["balances"]["USDC"], 4_000_000);
    assert_eq!(status["balances"]["USDT"], 500_000);
    assert!(status["balances"]["ETH"].as_str().is_some());
    assert_eq!(status["pending_sweeps"], 0);
    assert_eq!(status["block"], chain.block_number().await);
    assert!(status["lag_blocks"].as_u64().unwrap() <= 2, "{status}");

    let (clean, report, stderr) = reconcile(&app, &chain);
    assert!(clean, "{report} {stderr}");

    // Tokens leave the hot wallet behind Paygate's back: reconcile names it.
    chain.steal(chain.usdc, hot, 250_000).await;
    let (clean, report, stderr) = reconcile(&app, &chain);
    assert!(!clean);
    let usdc = report["custody"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == "USDC")
        .unwrap()
        .clone();
    assert_eq!(usdc["difference"], -250_000, "{report}");
    assert!(stderr.contains("USDC (-250000)"), "{stderr}");
}
