//! Stablecoin deposits detected on a real chain (anvil, started by the
//! test): the chain client, then the watcher crediting through the server.

use std::time::Duration;

use alloy_primitives::{Address, U256};
use paygate_server::chain::rpc::ChainRpc;

use crate::chain_support::Chain;

#[tokio::test]
async fn the_chain_client_reads_blocks_transfers_and_balances_from_a_real_node() {
    let chain = Chain::start().await;
    let rpc = ChainRpc::new(&chain.url, Duration::from_secs(5)).unwrap();
    assert_eq!(rpc.chain_id().await.unwrap(), 31337);
    assert_eq!(rpc.decimals(chain.usdc).await.unwrap(), 6);
    assert_eq!(rpc.decimals(chain.usdt).await.unwrap(), 6);

    let alice: Address = "0x00000000000000000000000000000000000a11ce".parse().unwrap();
    let bob: Address = "0x0000000000000000000000000000000000000b0b".parse().unwrap();
    let look_alike = chain.deploy_look_alike().await;
    let from = chain.block_number().await + 1;
    chain.mint(chain.usdc, alice, 1_500_000).await;
    chain.pay(chain.usdt, bob, 700_000).await;
    chain.pay_many(chain.usdc, &[(alice, 1), (bob, 2)]).await;
    chain.mint(look_alike, alice, 9_999).await;
    let head = rpc.block_number().await.unwrap();
    assert_eq!(head, chain.block_number().await);

    let logs = rpc.transfers(&[chain.usdc, chain.usdt], from, head).await.unwrap();
    let seen: Vec<(Address, Address, u64)> = logs
        .iter()
        .map(|l| (l.token, l.to, l.amount.to::<u64>()))
        .filter(|(_, to, _)| *to == alice || *to == bob)
        .collect();
    assert_eq!(
        seen,
        [
            (chain.usdc, alice, 1_500_000),
            (chain.usdt, bob, 700_000),
            (chain.usdc, alice, 1),
            (chain.usdc, bob, 2)
        ],
        "the look-alike's transfer is not returned"
    );
    let many: Vec<_> = logs
        .iter()
        .filter(|l| l.amount == U256::from(1) || l.amount == U256::from(2))
        .collect();
    assert_eq!(many[0].tx_hash, many[1].tx_hash, "two transfers of one transaction");
    assert_ne!(many[0].log_index, many[1].log_index);

    let block = rpc.block(head).await.unwrap().unwrap();
    let parent = rpc.block(head - 1).await.unwrap().unwrap();
    assert_eq!(block.parent, parent.hash);
    for log in &logs {
        assert_eq!(rpc.block(log.block_number).await.unwrap().unwrap().hash, log.block_hash);
    }
    assert!(rpc.block(head + 10).await.unwrap().is_none());

    assert_eq!(
        rpc.token_balance(chain.usdc, alice).await.unwrap(),
        U256::from(1_500_001)
    );
    assert_eq!(rpc.token_balance(chain.usdt, bob).await.unwrap(), U256::from(700_000));
    chain.set_eth(alice, 12345).await;
    assert_eq!(rpc.eth_balance(alice).await.unwrap(), U256::from(12345));
    assert_eq!(rpc.nonce(alice).await.unwrap(), 0);
    let fees = rpc.fees().await.unwrap();
    assert!(fees.max_fee_per_gas >= fees.max_priority_fee_per_gas);

    // A reorganisation replaces the newest blocks: same height, other hashes.
    chain.reorg(2).await;
    let after = rpc.block(head).await.unwrap().unwrap();
    assert_eq!(after.number, head);
    assert_ne!(after.hash, block.hash);
    let gone = rpc.transfers(&[chain.usdc], head - 1, head).await.unwrap();
    assert!(gone.is_empty(), "the reorganised transfers are gone: {gone:?}");

    let err = rpc.send_raw(&[0xde, 0xad]).await.unwrap_err();
    assert!(
        matches!(err, paygate_server::chain::rpc::RpcError::Refused(_)),
        "{err:?}"
    );
    assert!(rpc.receipt(block.hash).await.unwrap().is_none());
}

/// Waits until the balance's `available` is `amount`.
async fn available_becomes(api: &crate::money_support::Api, currency: &str, amount: i64) {
    crate::chain_support::eventually(20, "the credit", || async {
        (api.balance(currency).await.0 == amount).then_some(())
    })
    .await;
}

async fn events(api: &crate::money_support::Api, kind: &str) -> Vec<serde_json::Value> {
    let page = api.get(&format!("/v1/events?type={kind}&limit=100")).await.ok();
    page["data"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn scratch_watcher_credits_a_deposit_after_its_confirmations() {
    let chain = Chain::start().await;
    let app = crate::chain_support::spawn_on_chain(&chain, 3).await;
    let api = crate::money_support::Api::sandbox(&app);
    let deposit: Address = "0x00000000000000000000000000000000000d3b05".parse().unwrap();
    let db = app.raw_db().await;
    sqlx::query("INSERT INTO wallet_addresses (id, merchant_id, env, network, address, derivation_index, payment_id, created_at) VALUES ('wal_scratch', $1, 'test', 'ethereum', $2, 7, NULL, 0)")
        .bind(&app.merchant_id)
        .bind(deposit.to_checksum(None))
        .execute(&db)
        .await
        .unwrap();
    chain.mine(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    chain.mint(chain.usdc, deposit, 2_500_000).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    chain.mine(1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(api.balance("USDC").await.0, 0, "two confirmations are not three");
    chain.mine(1).await;
    available_becomes(&api, "USDC", 2_500_000).await;
    let deposits = events(&api, "wallet.deposit").await;
    assert_eq!(deposits.len(), 1, "{deposits:?}");
    assert_eq!(deposits[0]["data"]["object"]["amount"], 2_500_000);
}
