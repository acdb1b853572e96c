//! 100 withdrawals approved at once across two instances on one PostgreSQL
//! database sharing one signer: every one paid, exactly once, from
//! consecutive hot-wallet nonces. Skipped (with a line saying so) without
//! `PAYGATE_TEST_DATABASE_URL`.

use std::collections::BTreeMap;

use alloy_primitives::Address;

use crate::chain_support::{eventually, test_chain_config, use_built_signer, Chain};
use crate::money_support::{generous_limits, ledger_verify, Api};
use crate::payout_support::{
    approve, fresh_address, fund_by_deposit, mined_tx, nonce_of, raw_pays, transfers_to, withdraw_to, withdrawal,
};
use crate::rpc_proxy::{RelayMode, RpcProxy};

const PAYOUTS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payouts_at_scale_two_instances_pay_each_once_with_consecutive_nonces() {
    if !std::env::var("PAYGATE_TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        println!("SKIPPED payouts_at_scale: needs PAYGATE_TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let chain = Chain::start().await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    use_built_signer();
    let mut config = test_chain_config(&chain, 1);
    config.rpc_url = public.url();
    config.private_rpc_url = Some(relay.url());
    let app = crate::support::spawn_with(move |c| {
        generous_limits(c);
        c.chains.test = Some(config);
    })
    .await;
    assert!(app.is_postgres());
    let second = crate::chain_support::second_watcher(&app).await;
    let apis = [
        Api::sandbox(&app),
        Api {
            base_url: format!("https://localhost:{}", second.local_addr.port()),
            ..Api::sandbox(&app)
        },
    ];
    let hot: Address = app
        .running
        .state
        .signer()
        .expect("a signer")
        .hot_wallet()
        .await
        .expect("hot wallet")
        .parse()
        .expect("address");
    fund_by_deposit(&apis[0], &chain, hot, 20_000_000).await;
    let first_nonce = nonce_of(&chain, hot).await;

    let mut payouts = Vec::new();
    for n in 0..PAYOUTS {
        let to = fresh_address();
        let amount = 10_000 + n;
        let api = &apis[usize::try_from(n % 2).expect("index")];
        let id = withdraw_to(api, amount, to, &format!("scale-{n}")).await;
        payouts.push((id, to, amount));
    }
    let started = std::time::Instant::now();
    let approvals: Vec<_> = payouts
        .iter()
        .enumerate()
        .map(|(n, (id, _, _))| {
            let (api, id) = (apis[n % 2].clone(), id.clone());
            tokio::spawn(async move { approve(&api, &id).await })
        })
        .collect();
    for approval in approvals {
        let approved = approval.await.expect("approval task");
        assert_eq!(approved["status"], "processing", "{approved}");
    }

    let mut round = 0u32;
    let settled: Vec<serde_json::Value> = eventually(300, "every payout settled", || {
        round += 1;
        let (apis, payouts, chain) = (&apis, &payouts, &chain);
        async move {
            if round.is_multiple_of(5) {
                chain.mine(1).await;
            }
            let mut all = Vec::new();
            for (n, (id, _, _)) in payouts.iter().enumerate() {
                let w = withdrawal(&apis[n % 2], id).await;
                if !matches!(w["status"].as_str(), Some("paid" | "failed")) {
                    return None;
                }
                all.push(w);
            }
            Some(all)
        }
    })
    .await;
    let seconds = started.elapsed().as_secs_f64();

    let mut routes = BTreeMap::<String, u32>::new();
    let mut nonces = Vec::new();
    for ((id, to, amount), w) in payouts.iter().zip(&settled) {
        assert_eq!(w["status"], "paid", "{id}: {w}");
        *routes
            .entry(w["chain"]["route"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
        let hash = w["chain"]["tx_hash"].as_str().expect("tx_hash");
        assert_eq!(
            chain.balance_of(chain.usdc, *to).await,
            *amount,
            "{id} paid once, in full"
        );
        assert_eq!(
            transfers_to(&chain, chain.usdc, *to).await,
            [hash],
            "{id}: one transfer on chain"
        );
        let (from, nonce, token) = mined_tx(&chain, hash).await;
        assert_eq!((from, token), (hot, chain.usdc));
        nonces.push(nonce);
        // No other signed transaction to this destination ever went out.
        let mut sent: Vec<String> = relay
            .raw_transactions()
            .iter()
            .chain(public.raw_transactions().iter())
            .filter(|raw| raw_pays(raw, *to))
            .map(|raw| crate::rpc_proxy::tx_hash(raw))
            .collect();
        sent.sort();
        sent.dedup();
        assert_eq!(sent, [hash], "{id}: one signed transaction");
    }
    nonces.sort_unstable();
    let expected: Vec<u64> = (first_nonce..first_nonce + PAYOUTS).collect();
    assert_eq!(nonces, expected, "the hot wallet's nonces, consecutive, each used once");
    assert_eq!(
        nonce_of(&chain, hot).await,
        first_nonce + PAYOUTS,
        "no other hot-wallet transaction"
    );
    let paid_out: u64 = payouts.iter().map(|(_, _, a)| a).sum();
    let expected_available = 20_000_000 - i64::try_from(paid_out).expect("sum");
    assert_eq!(apis[1].balance("USDC").await, (expected_available, 0, 0));
    let (clean, report) = ledger_verify(&app);
    assert!(clean, "{report}");
    println!(
        "{PAYOUTS} payouts paid across 2 instances in {seconds:.1} s, {} blocks; routes {routes:?}",
        chain.block_number().await
    );
    second.shutdown().await;
}
