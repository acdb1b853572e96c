//! The withdrawals page shows a stablecoin payout's transaction and route:
//! here a relay that swallows the transaction, so the payout falls back to
//! the public node after the private timeout and the page says why.

use alloy_primitives::Address;

use super::{key_from_dashboard, signed_in};
use crate::chain_support::{test_chain_config, use_built_signer, Chain};
use crate::money_support::generous_limits;
use crate::payout_support::{approve, fresh_address, fund_by_deposit, settled, withdraw_to};
use crate::rpc_proxy::{RelayMode, RpcProxy};

#[tokio::test]
async fn the_withdrawals_page_shows_the_payout_transaction_and_route() {
    let chain = Chain::start().await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Swallow).await;
    use_built_signer();
    let mut config = test_chain_config(&chain, 1);
    config.private_rpc_url = Some(relay.url());
    config.private_timeout_blocks = 2;
    let app = crate::support::spawn_with(move |c| {
        generous_limits(c);
        c.chains.test = Some(config);
    })
    .await;
    let mut browser = signed_in(&app, "treasury@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "payouts").await;
    let signer = app.running.state.signer().expect("a signer").clone();
    let hot: Address = signer.hot_wallet().await.expect("hot wallet").parse().expect("address");
    fund_by_deposit(&api, &chain, hot, 5_000_000).await;

    let pending = withdraw_to(&api, 500_000, fresh_address(), "dash-pending").await;
    let id = withdraw_to(&api, 1_000_000, fresh_address(), "dash-paid").await;
    let page = browser.get("/dashboard/withdrawals").await.text().await.expect("html");
    assert!(
        page.contains(&id) && !page.contains("tx-hash"),
        "nothing on chain before approval"
    );
    approve(&api, &id).await;
    let paid = settled(&api, &chain, &id, 60).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    let tx_hash = paid["chain"]["tx_hash"].as_str().expect("tx_hash");
    assert_eq!(paid["chain"]["route"], "public_fallback", "{paid}");
    assert_eq!(
        relay.tx_hashes().first().map(String::as_str),
        Some(tx_hash),
        "the relay saw it first"
    );

    let page = browser.get("/dashboard/withdrawals").await.text().await.expect("html");
    let row = |id: &str| {
        let start = page
            .find(&format!("<code>{id}</code>"))
            .unwrap_or_else(|| panic!("{id} listed: {page}"));
        let end = page[start..].find("</tr>").map_or(page.len(), |e| start + e);
        page[start..end].to_owned()
    };
    let paid_row = row(&id);
    assert!(
        paid_row.contains(&format!(r#"<code class="tx-hash">{tx_hash}</code>"#)),
        "{paid_row}"
    );
    assert!(
        paid_row.contains("public_fallback") && paid_row.contains("(timeout)"),
        "{paid_row}"
    );
    let block = paid["chain"]["block"].as_u64().expect("block");
    assert!(paid_row.contains(&format!("block {block}, ")), "{paid_row}");
    let pending_row = row(&pending);
    assert!(
        !pending_row.contains("tx-hash") && pending_row.contains("pending_approval"),
        "{pending_row}"
    );
}
