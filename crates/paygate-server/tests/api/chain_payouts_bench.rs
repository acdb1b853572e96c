//! The payout benchmark (bench/payouts.sh runs it; ignored in the suite):
//! 100 withdrawals approved at once, anvil mining a block every second, the
//! relay a recording proxy (forwarding, or swallowing so every payout falls
//! back to the public node after the timeout). Prints a Markdown section:
//! seconds and blocks from approval to paid, and the route mix.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::chain_support::{test_chain_config, use_built_signer, Chain};
use crate::money_support::{generous_limits, Api};
use crate::payout_support::{approve, fresh_address, fund_by_deposit, withdraw_to};
use crate::rpc_proxy::{RelayMode, RpcProxy};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// User plus system CPU time of this process (server and test client), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Every withdrawal of the merchant, by id (one page of up to 100 at a time).
async fn all_withdrawals(api: &Api) -> HashMap<String, Value> {
    let mut found = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/withdrawal-requests?limit=100&cursor={c}"),
            None => "/v1/withdrawal-requests?limit=100".to_owned(),
        };
        let page = api.get(&path).await.ok();
        for w in page["data"].as_array().cloned().unwrap_or_default() {
            found.insert(w["id"].as_str().unwrap_or_default().to_owned(), w);
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            return found;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/payouts.sh runs it"]
async fn bench_payouts() {
    let env_num = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let payouts = env_num("BENCH_PAYOUTS", 100);
    let confirmations = env_num("BENCH_CONFIRMATIONS", 3);
    let timeout_blocks = env_num("BENCH_TIMEOUT_BLOCKS", 5);
    let block_secs = env_num("BENCH_BLOCK_SECS", 1);
    let relay_mode = std::env::var("BENCH_RELAY").unwrap_or_else(|_| "forward".to_owned());
    let chain = Chain::start().await;
    let relay = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    use_built_signer();
    let mut config = test_chain_config(&chain, confirmations);
    config.rpc_url = public.url();
    config.poll_interval = Duration::from_millis(env_num("BENCH_POLL_MS", 1000));
    config.private_timeout_blocks = timeout_blocks;
    config.private_rpc_url = (relay_mode != "none").then(|| relay.url());
    let poll_s = config.poll_interval.as_secs_f64();
    let app = crate::support::spawn_with(move |c| {
        generous_limits(c);
        c.chains.test = Some(config);
    })
    .await;
    let api = Api::sandbox(&app);
    let signer = app.running.state.signer().expect("a signer").clone();
    let hot = signer.hot_wallet().await.expect("hot wallet").parse().expect("address");
    fund_by_deposit(&api, &chain, hot, 100_000_000).await;
    let mut ids = Vec::new();
    for n in 0..payouts {
        ids.push(withdraw_to(&api, 10_000 + n, fresh_address(), &format!("bench-{n}")).await);
    }
    if relay_mode == "swallow" {
        relay.set_mode(RelayMode::Swallow);
    }
    // From here on a block every `block_secs`, as on a real chain.
    chain.rpc("evm_setAutomine", json!([false])).await;
    chain.rpc("evm_setIntervalMining", json!([block_secs])).await;

    let first_block = chain.block_number().await;
    let sent_before = (relay.raw_transactions().len(), public.raw_transactions().len());
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let approvals: Vec<_> = ids
        .iter()
        .map(|id| {
            let (api, id) = (api.clone(), id.clone());
            tokio::spawn(async move { approve(&api, &id).await })
        })
        .collect();
    for approval in approvals {
        approval.await.expect("approval");
    }
    let approved_in = started.elapsed().as_secs_f64();
    let wanted: HashSet<&String> = ids.iter().collect();
    let mut paid_at: HashMap<String, (f64, u64)> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let last = loop {
        let now = started.elapsed().as_secs_f64();
        let head = chain.block_number().await;
        let all = all_withdrawals(&api).await;
        for (id, w) in &all {
            if wanted.contains(id) && w["status"] != "processing" && w["status"] != "approved" {
                paid_at.entry(id.clone()).or_insert((now, head));
            }
        }
        if paid_at.len() == ids.len() {
            break all;
        }
        assert!(Instant::now() < deadline, "{} of {} settled", paid_at.len(), ids.len());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_start;
    chain.rpc("evm_setIntervalMining", json!([0])).await;
    chain.rpc("evm_setAutomine", json!([true])).await;

    let mut routes = BTreeMap::<String, u64>::new();
    let mut blocks_holding = HashSet::new();
    let mut failed = 0;
    for id in &ids {
        let w = &last[id];
        if w["status"] != "paid" {
            failed += 1;
            continue;
        }
        let route = w["chain"]["route"].as_str().unwrap_or("?");
        let route = match w["chain"]["fallback_reason"].as_str() {
            Some(reason) => format!("{route} ({reason})"),
            None => route.to_owned(),
        };
        *routes.entry(route).or_default() += 1;
        blocks_holding.insert(w["chain"]["block"].as_u64().unwrap_or_default());
    }
    let mut seconds: Vec<f64> = paid_at.values().map(|(s, _)| *s).collect();
    seconds.sort_by(|a, b| a.partial_cmp(b).expect("a number"));
    let last_block = paid_at.values().map(|(_, b)| *b).max().unwrap_or(first_block);
    let first_mined = blocks_holding.iter().min().copied().unwrap_or(first_block);
    let last_mined = blocks_holding.iter().max().copied().unwrap_or(first_block);
    let mix: Vec<String> = routes.iter().map(|(r, n)| format!("{r}: {n}")).collect();

    let relay_says = match relay_mode.as_str() {
        "forward" => "a relay that forwards to the node",
        "swallow" => "a relay that answers with the hash and forwards nothing",
        "refuse" => "a relay that refuses every transaction",
        _ => "no relay",
    };
    println!("### {relay_says} (`BENCH_RELAY={relay_mode}`)\n");
    println!(
        "{payouts} USDC withdrawals to {payouts} fresh addresses approved at once (concurrent API calls), anvil mining a \
         block every {block_secs} s, {confirmations} confirmations, the runner polling every {poll_s:.1} s, private \
         timeout {timeout_blocks} blocks; SQLite, the sandbox signer; debug build, test process on this 2-core machine.\n"
    );
    println!("| measure | value |\n|---|---|");
    println!("| approvals answered (all {payouts}) | {approved_in:.2} s |");
    println!("| approval to paid, median | {:.1} s |", percentile(&seconds, 0.5));
    println!("| approval to paid, p95 | {:.1} s |", percentile(&seconds, 0.95));
    println!("| approval to all {payouts} paid | {elapsed:.1} s |");
    println!(
        "| blocks from approval to the last paid | {} (head {first_block} -> {last_block}) |",
        last_block - first_block
    );
    println!(
        "| blocks holding the payouts | {} distinct, blocks {first_mined}..{last_mined} |",
        blocks_holding.len()
    );
    println!("| route mix | {} |", mix.join(", "));
    println!("| failed | {failed} |");
    println!(
        "| eth_sendRawTransaction calls after approval: relay / public node | {} / {} |",
        relay.raw_transactions().len() - sent_before.0,
        public.raw_transactions().len() - sent_before.1
    );
    println!("| CPU of the process (server, runner and this client) | {:.1} s |", cpu);
    assert_eq!(failed, 0, "every payout paid");
}
