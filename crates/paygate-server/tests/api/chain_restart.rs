//! Restarts on a real chain: `paygate serve` stopped (SIGKILL, then SIGTERM)
//! while its watcher is part way through a long range of blocks full of
//! transfers, and started again on the same data directory, database and
//! signer, credits every transfer exactly once, and the ledger and
//! `paygate chain reconcile` stay clean. And the sandbox signer never
//! outlives the server that started it.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use serde_json::{json, Value};
use sqlx::Row as _;

use crate::chain_process::{external_signer, new_deposit_address, process_ended, Node, ServerProcess};
use crate::chain_support::{eventually, Chain};
use crate::money_support::Api;

/// The watcher's scan cursor (the next block it scans), if it has one.
async fn cursor(node: &Node) -> Option<u64> {
    let db = node.db().await;
    let row = sqlx::query("SELECT next_block FROM chain_cursors WHERE env = 'test'")
        .fetch_optional(&db)
        .await
        .expect("chain_cursors");
    db.close().await;
    row.map(|r| r.get::<i64, _>("next_block") as u64)
}

/// How many transfers are credited (`confirmed`), and how many rows there are.
async fn transfer_counts(node: &Node) -> (i64, i64) {
    let db = node.db().await;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, SUM(CASE WHEN state = 'confirmed' THEN 1 ELSE 0 END) AS c FROM chain_transfers",
    )
    .fetch_one(&db)
    .await
    .expect("chain_transfers");
    db.close().await;
    (
        row.try_get::<Option<i64>, _>("c").ok().flatten().unwrap_or(0),
        row.get::<i64, _>("n"),
    )
}

/// Waits (polling the database every 20 ms) until the cursor has passed
/// `past` and more than `credited` transfers are credited (so the watcher
/// is usually still crediting what it just scanned), then stops the server
/// while the cursor is still short of `before`. Returns where the cursor
/// was, and how many transfers were credited, once it had stopped.
async fn stop_mid_scan(
    node: &Node,
    server: ServerProcess,
    past: u64,
    credited: i64,
    before: u64,
    graceful: bool,
) -> (u64, i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let at = cursor(node).await.unwrap_or(0);
        assert!(
            at < before,
            "the watcher reached block {at} before the test could stop it (range ends at {before})"
        );
        if at > past && transfer_counts(node).await.0 > credited {
            if graceful {
                server.terminate();
            } else {
                server.kill();
            }
            let after = cursor(node).await.unwrap_or(0);
            assert!(after < before, "stopped at {after}, not part way through");
            return (after, transfer_counts(node).await.0);
        }
        assert!(Instant::now() < deadline, "the watcher did not move past {past}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event of the merchant, through all pages: how many of each type.
async fn event_counts(api: &Api) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let mut url = "/v1/events?limit=100".to_owned();
    loop {
        let page = api.get(&url).await.ok();
        for event in page["data"].as_array().expect("data") {
            *counts
                .entry(event["type"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => url = format!("/v1/events?limit=100&cursor={next}"),
            None => return counts,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopped_mid_scan_and_restarted_credits_every_transfer_exactly_once() {
    const ADDRESSES: usize = 12;
    const ROUNDS: u64 = 48;
    const GAP: u64 = 70;
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let (_signer, socket) = external_signer(&chain, &dir.path().join("signer"));
    let mut node = Node::new(dir.path().join("data"), &chain, 3, 700).await;
    node.set("PAYGATE_SIGNER__SOCKET", &socket.display().to_string());

    // First run: deposit addresses and payments, and a cursor to start from.
    let server = node.start();
    let mut targets: Vec<(Address, Option<String>)> = Vec::new();
    for _ in 0..ADDRESSES {
        targets.push((new_deposit_address(&server.api).await, None));
    }
    for _ in 0..4 {
        let payment = server
            .api
            .post(
                "/v1/payments",
                json!({"amount": 3_000_000, "currency": "USDC", "method": "crypto"}),
            )
            .await
            .ok();
        let address = payment["crypto"]["address"].as_str().unwrap().parse().unwrap();
        targets.push((address, Some(payment["id"].as_str().unwrap().to_owned())));
    }
    let status = node.cli(&["--json", "chain", "status", "--env", "test"]);
    let status: Value = serde_json::from_slice(&status.stdout).expect("chain status");
    let hot: Address = status["hot_wallet"].as_str().expect("hot wallet").parse().unwrap();
    chain.set_eth(hot, 10u128.pow(19)).await;
    eventually(30, "a scan cursor", || async { cursor(&node).await }).await;
    server.terminate();

    // While the server is down: ROUNDS of three transfers each (USDC in one
    // transaction, USDT in three), GAP empty blocks after each, so the
    // watcher has many eth_getLogs ranges to go through when it is back.
    let start = cursor(&node).await.unwrap();
    chain.mint(chain.usdc, chain.funder, 1_000_000_000).await;
    let mut expected: BTreeMap<&str, i64> = BTreeMap::new();
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    let (mut transfers, mut deposits) = (0usize, 0usize);
    for round in 0..ROUNDS {
        let (token, currency) = if round % 2 == 0 {
            (chain.usdc, "USDC")
        } else {
            (chain.usdt, "USDT")
        };
        let mut batch = Vec::new();
        for k in 0..3u64 {
            let i = ((round * 3 + k) as usize) % targets.len();
            let (address, payment) = &targets[i];
            // A payment's address takes only USDC: its own currency.
            if payment.is_some() && currency != "USDC" {
                continue;
            }
            let amount = 1_000_000 + round * 1_000 + k;
            batch.push((*address, amount));
            *expected.entry(currency).or_default() += amount as i64;
            match payment {
                Some(id) => *paid.entry(id.clone()).or_default() += amount as i64,
                None => deposits += 1,
            }
        }
        if batch.is_empty() {
            continue;
        }
        transfers += batch.len();
        if token == chain.usdc {
            chain.transfer_many(token, &batch).await;
        } else {
            // TestUSDT has no transferMany: a mint a transfer.
            for (to, amount) in &batch {
                chain.mint(token, *to, *amount).await;
            }
        }
        chain.mine(GAP).await;
    }
    let head = chain.block_number().await;
    assert!(head - start > 6 * 500, "the range spans many eth_getLogs calls");

    // Second run: SIGKILL part way through the range.
    let server = node.start();
    let (killed_at, credited) = stop_mid_scan(&node, server, start, 0, head - 1_500, false).await;
    let rows = transfer_counts(&node).await.1;
    assert!(
        credited < transfers as i64,
        "the kill left transfers to credit ({credited} of {transfers})"
    );

    // Third run: a graceful stop further on.
    let server = node.start();
    let (stopped_at, credited_then) = stop_mid_scan(&node, server, killed_at, credited, head - 400, true).await;
    assert!(credited_then < transfers as i64);

    // Last run: to the end.
    let server = node.start();
    let api = &server.api;
    for (currency, amount) in &expected {
        eventually(60, &format!("{currency} available = {amount}"), || async {
            (api.balance(currency).await.0 == *amount).then_some(())
        })
        .await;
    }
    eventually(30, "every transfer credited", || async {
        let (credited, rows) = transfer_counts(&node).await;
        (credited == transfers as i64 && rows == transfers as i64).then_some(())
    })
    .await;
    // More polls change nothing.
    chain.mine(5).await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    for (currency, amount) in &expected {
        assert_eq!(api.balance(currency).await.0, *amount, "{currency} credited once");
    }
    let events = event_counts(api).await;
    assert_eq!(
        events.get("wallet.deposit").copied().unwrap_or(0),
        deposits,
        "one wallet.deposit per transfer to a wallet address: {events:?}"
    );
    assert_eq!(
        events.get("payment.succeeded").copied().unwrap_or(0),
        paid.len(),
        "{events:?}"
    );
    assert_eq!(
        events.get("payment.processing").copied().unwrap_or(0),
        paid.len(),
        "{events:?}"
    );
    for (id, amount) in &paid {
        let p = api.get(&format!("/v1/payments/{id}")).await.ok();
        assert_eq!(
            (p["status"].as_str(), p["amount_received"].as_i64()),
            (Some("succeeded"), Some(*amount)),
            "{id}"
        );
    }
    let db = node.db().await;
    let keys: Vec<(String, i64)> = sqlx::query("SELECT tx_hash, log_index FROM chain_transfers")
        .fetch_all(&db)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("tx_hash"), r.get("log_index")))
        .collect();
    db.close().await;
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), transfers);
    eprintln!(
        "range {start}..{head}: SIGKILL at block {killed_at} ({credited} of {rows} recorded transfers \
         credited), SIGTERM at block {stopped_at} ({credited_then} credited), {transfers} transfers"
    );
    server.terminate();

    let (ok, out) = node.cli_ok(&["ledger", "verify"]);
    assert!(ok, "ledger verify: {out}");
    let (ok, out) = node.cli_ok(&["chain", "reconcile", "--env", "test"]);
    assert!(ok, "chain reconcile: {out}");
}

/// The sandbox signer `paygate serve` started: its only `paygate-signer` child.
fn sandbox_signer_of(server: &ServerProcess) -> u32 {
    let signers: Vec<u32> = crate::chain_api_support::process_children(server.pid())
        .into_iter()
        .filter(|(_, name)| name == "paygate-signer")
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(signers.len(), 1, "one sandbox signer, a child of the server");
    signers[0]
}

async fn ends_within(pid: u32, secs: u64, what: &str) {
    eventually(secs, what, || async { process_ended(pid).then_some(()) }).await;
}

#[tokio::test]
async fn the_sandbox_signer_ends_with_its_server_even_a_killed_one_and_a_restart_starts_a_new_one() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut node = Node::new(dir.path().join("data"), &chain, 1, 100).await;
    let server = node.start();
    let signer = sandbox_signer_of(&server);
    let first = new_deposit_address(&server.api).await;

    // SIGKILL: no shutdown code of the server runs, and the signer still goes.
    server.kill();
    ends_within(signer, 2, "the sandbox signer to end after its server's SIGKILL").await;

    // A restart on the same data directory starts a new signer on the same
    // seed (its serve.lock free again), and deposits are credited through it.
    let server = node.start();
    let second_signer = sandbox_signer_of(&server);
    assert_ne!(second_signer, signer);
    let second = new_deposit_address(&server.api).await;
    assert_ne!(first, second, "the next index of the same seed");
    chain.mint(chain.usdc, first, 700_000).await;
    chain.mint(chain.usdc, second, 300_000).await;
    let api = &server.api;
    eventually(20, "both deposits credited", || async {
        (api.balance("USDC").await.0 == 1_000_000).then_some(())
    })
    .await;

    // A graceful stop takes the signer with it too.
    server.terminate();
    ends_within(second_signer, 2, "the sandbox signer to end with its server").await;
    let (ok, out) = node.cli_ok(&["ledger", "verify"]);
    assert!(ok, "ledger verify: {out}");
}
