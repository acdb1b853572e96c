//! Reorganisations on a real chain (anvil's `anvil_reorg`): a transfer
//! reorganised away before its confirmations is never credited; one
//! reorganised away after its credit is reversed, with its event and alert.

use alloy_primitives::Address;

use crate::chain_support::{
    available_becomes, deposit_address, events_of, eventually, let_it_poll, spawn_on_chain, transfer_states, Chain,
};
use crate::money_support::{ledger_verify, Api};

#[tokio::test]
async fn a_transfer_reorganised_away_before_its_confirmations_is_never_credited() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 3).await;
    let api = Api::sandbox(&app);
    let deposit = deposit_address(&app).await;
    chain.mine(2).await;
    chain.mint(chain.usdc, deposit, 700_000).await;
    eventually(20, "the transfer seen", || async {
        (transfer_states(&app).await == ["seen"]).then_some(())
    })
    .await;
    // The block holding it is replaced by an empty one, and the chain grows.
    chain.reorg(1).await;
    chain.mine(6).await;
    eventually(20, "the transfer dropped", || async {
        (transfer_states(&app).await == ["dropped"]).then_some(())
    })
    .await;
    let_it_poll().await;
    assert_eq!(api.balance("USDC").await.0, 0);
    assert!(events_of(&api, "wallet.deposit").await.is_empty());
    assert!(events_of(&api, "wallet.deposit_reversed").await.is_empty());

    // A later deposit to the same address still credits.
    chain.mint(chain.usdc, deposit, 300_000).await;
    chain.mine(2).await;
    available_becomes(&api, "USDC", 300_000).await;
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

#[tokio::test]
async fn a_credited_transfer_reorganised_away_is_reversed_with_its_event_and_alert() {
    let chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 1).await;
    let api = Api::sandbox(&app);
    let deposit = deposit_address(&app).await;
    let kept = deposit_address(&app).await;
    chain.mint(chain.usdc, kept, 50_000).await;
    chain.mine(3).await;
    let receipt = chain.mint(chain.usdc, deposit, 1_200_000).await;
    available_becomes(&api, "USDC", 1_250_000).await;

    // Deeper than its one confirmation: its block leaves the chain.
    chain.reorg(2).await;
    chain.mine(1).await;
    available_becomes(&api, "USDC", 50_000).await;
    let reversed = events_of(&api, "wallet.deposit_reversed").await;
    assert_eq!(reversed.len(), 1, "{reversed:?}");
    assert_eq!(reversed[0]["tx_hash"], receipt["transactionHash"]);
    assert_eq!(reversed[0]["amount"], 1_200_000);
    assert_eq!(
        reversed[0]["address"].as_str().unwrap().parse::<Address>().unwrap(),
        deposit
    );
    let alerts: Vec<_> = events_of(&api, "security.alert")
        .await
        .into_iter()
        .filter(|a| a["type"] == "deposit_reorged")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["tx_hash"], receipt["transactionHash"]);
    let_it_poll().await;
    assert_eq!(transfer_states(&app).await, ["confirmed", "reversed"]);
    assert_eq!(api.balance("USDC").await.0, 50_000, "reversed once");
    assert!(ledger_verify(&app).0);
    let (clean, report, stderr) = crate::chain_support::reconcile(&app, &chain);
    assert!(clean, "chain reconcile: {report} {stderr}");
}

#[tokio::test]
async fn an_rpc_that_stays_unreachable_raises_one_alert_without_its_url() {
    let mut chain = Chain::start().await;
    let app = spawn_on_chain(&chain, 1).await;
    let api = Api::sandbox(&app);
    deposit_address(&app).await;
    let_it_poll().await;
    chain.stop();
    let alerts = eventually(20, "the unreachable alert", || async {
        let found: Vec<_> = events_of(&api, "security.alert")
            .await
            .into_iter()
            .filter(|a| a["type"] == "chain_rpc_unreachable")
            .collect();
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert_eq!(alerts[0]["chain_id"], 31337);
    assert!(!alerts[0].to_string().contains("127.0.0.1"), "{}", alerts[0]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let again = events_of(&api, "security.alert")
        .await
        .into_iter()
        .filter(|a| a["type"] == "chain_rpc_unreachable")
        .count();
    assert_eq!(again, 1, "one alert per outage");
}
