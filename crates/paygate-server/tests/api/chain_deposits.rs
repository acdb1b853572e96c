//! Stablecoin deposits detected on a real chain (anvil, started by the
//! test): the chain client, then the watcher crediting through the server.

use std::time::Duration;

use alloy_primitives::{Address, U256};
use paygate_server::chain::rpc::ChainRpc;

use crate::chain_support::{
    available_becomes, deposit_address, events_of, let_it_poll, spawn_on_chain, transfer_states, Chain,
};
use crate::money_support::{ledger_verify, Api};

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

#[tokio::test]
async fn a_deposit_is_credited_after_exactly_its_confirmations_with_its_event() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 3).await;
    let api = Api::sandbox(&app);
    let deposit = deposit_address(&app).await;
    let receipt = chain.mint(chain.usdc, deposit, 2_500_000).await;
    crate::chain_support::eventually(20, "the transfer seen", || async {
        (transfer_states(&app).await == ["seen"]).then_some(())
    })
    .await;
    chain.mine(1).await;
    let_it_poll().await;
    assert_eq!(transfer_states(&app).await, ["confirming"]);
    assert_eq!(api.balance("USDC").await.0, 0, "two confirmations are not three");
    chain.mine(1).await;
    available_becomes(&api, "USDC", 2_500_000).await;
    assert_eq!(transfer_states(&app).await, ["confirmed"]);
    let deposits = events_of(&api, "wallet.deposit").await;
    assert_eq!(deposits.len(), 1, "{deposits:?}");
    let event = &deposits[0];
    assert_eq!(event["amount"], 2_500_000);
    assert_eq!(event["token"], "USDC");
    assert_eq!(event["network"], "ethereum");
    assert_eq!(event["tx_hash"], receipt["transactionHash"]);
    assert_eq!(event["log_index"], 0);
    assert_eq!(event["address"].as_str().unwrap().parse::<Address>().unwrap(), deposit);
    // More blocks change nothing.
    chain.mine(5).await;
    let_it_poll().await;
    assert_eq!(api.balance("USDC").await.0, 2_500_000);
    assert_eq!(events_of(&api, "wallet.deposit").await.len(), 1);
    assert!(ledger_verify(&app).0, "the ledger verifies");
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

#[tokio::test]
async fn a_look_alike_contract_is_ignored_and_two_transfers_in_one_transaction_credit_twice() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 1).await;
    let api = Api::sandbox(&app);
    let (first, second) = (deposit_address(&app).await, deposit_address(&app).await);
    let look_alike = chain.deploy_look_alike().await;
    chain.mint(look_alike, first, 9_000_000).await;
    chain
        .pay_many(chain.usdc, &[(first, 1_000_000), (second, 250_000)])
        .await;
    chain.pay(chain.usdt, first, 40_000).await;
    available_becomes(&api, "USDC", 1_250_000).await;
    available_becomes(&api, "USDT", 40_000).await;
    let_it_poll().await;
    assert_eq!(api.balance("USDC").await.0, 1_250_000, "nothing from the look-alike");
    let deposits = events_of(&api, "wallet.deposit").await;
    assert_eq!(deposits.len(), 3, "{deposits:?}");
    let by_amount = |amount: i64| deposits.iter().find(|d| d["amount"] == amount).unwrap().clone();
    let (a, b) = (by_amount(1_000_000), by_amount(250_000));
    assert_eq!(a["tx_hash"], b["tx_hash"], "one transaction");
    assert_ne!(a["log_index"], b["log_index"]);
    assert_eq!(by_amount(40_000)["token"], "USDT");
    assert_eq!(transfer_states(&app).await, ["confirmed", "confirmed", "confirmed"]);
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

#[tokio::test]
async fn two_instances_and_a_rescan_from_the_start_never_credit_twice() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 2).await;
    let second = crate::chain_support::second_watcher(&app).await;
    let api = Api::sandbox(&app);
    let mut addresses = Vec::new();
    for _ in 0..5 {
        addresses.push(deposit_address(&app).await);
    }
    let payments: Vec<(Address, u64)> = addresses.iter().map(|a| (*a, 100_000)).collect();
    chain.pay_many(chain.usdc, &payments).await;
    for address in &addresses {
        chain.mint(chain.usdc, *address, 1).await;
    }
    chain.mine(2).await;
    available_becomes(&api, "USDC", 500_005).await;
    let_it_poll().await;
    assert_eq!(events_of(&api, "wallet.deposit").await.len(), 10);

    // Both instances scan everything again from block 0.
    crate::chain_support::rewind_cursor(&app).await;
    chain.mine(3).await;
    let_it_poll().await;
    let_it_poll().await;
    assert_eq!(api.balance("USDC").await.0, 500_005, "a rescan credits nothing again");
    assert_eq!(events_of(&api, "wallet.deposit").await.len(), 10);
    assert_eq!(transfer_states(&app).await.len(), 10);
    second.shutdown().await;
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

async fn payment(api: &Api, id: &str) -> serde_json::Value {
    api.get(&format!("/v1/payments/{id}")).await.ok()
}

#[tokio::test]
async fn a_usdc_payment_is_processing_when_seen_and_succeeded_after_exactly_its_confirmations() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 3).await;
    let api = Api::sandbox(&app);
    let (id, address) = crate::chain_support::stablecoin_payment(&app, 5_000_000, "USDC").await;
    assert_eq!(payment(&api, &id).await["crypto"]["confirmations_required"], 3);
    // Two transfers in one transaction: 2 + 3 USDC.
    chain
        .pay_many(chain.usdc, &[(address, 2_000_000), (address, 3_000_000)])
        .await;
    let seen = crate::chain_support::eventually(20, "processing", || async {
        let p = payment(&api, &id).await;
        (p["status"] == "processing").then_some(p)
    })
    .await;
    assert_eq!(seen["amount_received"], 0, "nothing is received before it is confirmed");
    assert_eq!(events_of(&api, "payment.processing").await.len(), 1);
    chain.mine(1).await;
    let_it_poll().await;
    let p = payment(&api, &id).await;
    assert_eq!(
        (p["status"].as_str(), p["amount_received"].as_i64()),
        (Some("processing"), Some(0)),
        "2 of 3"
    );
    assert_eq!(api.balance("USDC").await.0, 0);
    chain.mine(1).await;
    available_becomes(&api, "USDC", 5_000_000).await;
    let p = payment(&api, &id).await;
    assert_eq!(
        (p["status"].as_str(), p["amount_received"].as_i64()),
        (Some("succeeded"), Some(5_000_000))
    );
    let succeeded = events_of(&api, "payment.succeeded").await;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0]["amount_received"], 5_000_000);
    assert!(
        events_of(&api, "wallet.deposit").await.is_empty(),
        "a payment's deposit is the payment's"
    );
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

#[tokio::test]
async fn an_overpayment_credits_all_and_an_underpayment_credits_what_came_then_expires_showing_it() {
    let chain = Chain::start().await;
    let clock = std::sync::Arc::new(paygate_server::clock::ManualClock::at(crate::auth_helpers::unix_now()));
    let app = crate::chain_support::spawn_on_chain_with_clock(&chain, 1, clock.clone()).await;
    let api = Api::sandbox(&app);
    let (over, over_address) = crate::chain_support::stablecoin_payment(&app, 1_000_000, "USDT").await;
    let (under, under_address) = crate::chain_support::stablecoin_payment(&app, 1_000_000, "USDT").await;
    chain.pay(chain.usdt, over_address, 1_500_000).await;
    chain.pay(chain.usdt, under_address, 400_000).await;
    available_becomes(&api, "USDT", 1_900_000).await;
    let p = payment(&api, &over).await;
    assert_eq!(
        (p["status"].as_str(), p["amount_received"].as_i64()),
        (Some("succeeded"), Some(1_500_000))
    );
    let p = payment(&api, &under).await;
    assert_eq!(
        (p["status"].as_str(), p["amount_received"].as_i64()),
        (Some("processing"), Some(400_000))
    );

    clock.advance(2 * 24 * 3600);
    let p = crate::chain_support::eventually(20, "the underpaid payment expired", || async {
        let p = payment(&api, &under).await;
        (p["status"] == "expired").then_some(p)
    })
    .await;
    assert_eq!(p["amount_received"], 400_000, "it expires showing what it received");
    assert_eq!(api.balance("USDT").await.0, 1_900_000, "nothing received is lost");
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}
