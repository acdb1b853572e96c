//! The deposit benchmark (bench/chain_deposits.sh runs it; ignored in the
//! suite): 1,000 transfers spread over 100 blocks to 1,000 addresses, one
//! block a second, the watcher polling every second with 3 confirmations.
//! Prints a Markdown section: how long after its confirmation block each
//! block's transfers were all credited, and the process's CPU per block.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use sqlx::Row as _;

use crate::chain_support::{deposit_address, test_chain_config, use_built_signer, Chain};

/// User plus system CPU time of this process (server and test client), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of the whole line: utime and stime, at 100 ticks a second.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test]
#[ignore = "a benchmark: bench/chain_deposits.sh runs it"]
async fn bench_chain_deposits() {
    let env_num = |name: &str, default: u64| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (blocks, per_block, confirmations) = (
        env_num("BENCH_BLOCKS", 100),
        env_num("BENCH_PER_BLOCK", 10),
        env_num("BENCH_CONFIRMATIONS", 3),
    );
    let poll = Duration::from_millis(env_num("BENCH_POLL_MS", 1000));
    let chain = Chain::start().await;
    use_built_signer();
    let mut chain_config = test_chain_config(&chain, confirmations);
    chain_config.poll_interval = poll;
    let app = crate::support::spawn_with(move |c| {
        crate::money_support::generous_limits(c);
        c.chains.test = Some(chain_config);
    })
    .await;
    let mut addresses = Vec::new();
    for _ in 0..blocks * per_block {
        addresses.push(deposit_address(&app).await);
    }
    chain.mint(chain.usdc, chain.funder, 10_000 * blocks * per_block).await;
    let db = app.raw_db().await;

    // The poller: when each block's transfers were all credited.
    let credited: std::sync::Arc<std::sync::Mutex<HashMap<i64, Instant>>> = Default::default();
    let poller = {
        let (db, credited, per_block) = (db.clone(), credited.clone(), per_block as i64);
        tokio::spawn(async move {
            loop {
                let rows = sqlx::query(
                    "SELECT block_number, COUNT(*) AS n FROM chain_transfers WHERE state = 'confirmed' GROUP BY block_number",
                )
                .fetch_all(&db)
                .await
                .unwrap_or_default();
                let now = Instant::now();
                {
                    let mut done = credited.lock().unwrap();
                    for row in rows {
                        let (block, n): (i64, i64) = (row.get("block_number"), row.get("n"));
                        if n >= per_block {
                            done.entry(block).or_insert(now);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut mined_at: HashMap<u64, Instant> = HashMap::new();
    let mut batches = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    for batch in 0..blocks {
        tick.tick().await;
        let slice: Vec<(Address, u64)> = addresses[(batch * per_block) as usize..((batch + 1) * per_block) as usize]
            .iter()
            .map(|a| (*a, 10_000))
            .collect();
        let receipt = chain.transfer_many(chain.usdc, &slice).await;
        let number =
            u64::from_str_radix(receipt["blockNumber"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
        mined_at.insert(number, Instant::now());
        batches.push(number);
    }
    for _ in 1..confirmations {
        tick.tick().await;
        chain.mine(1).await;
        mined_at.insert(chain.block_number().await, Instant::now());
    }
    let total = (blocks * per_block) as i64;
    crate::chain_support::eventually(120, "every transfer credited", || async {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM chain_transfers WHERE state = 'confirmed'")
            .fetch_one(&db)
            .await
            .map(|r| r.get("n"))
            .unwrap_or(0);
        (n == total).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    poller.abort();

    let done = credited.lock().unwrap().clone();
    let mut latencies: Vec<f64> = batches
        .iter()
        .map(|b| {
            let confirmed_by = mined_at[&(b + confirmations - 1)];
            let credited_at = done[&(*b as i64)];
            credited_at.saturating_duration_since(confirmed_by).as_secs_f64()
        })
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let balance = crate::money_support::Api::sandbox(&app).balance("USDC").await.0;
    assert_eq!(balance, total * 10_000, "every transfer credited once");
    let poll_s = poll.as_secs_f64();
    println!("## Stablecoin deposits: the chain watcher\n");
    println!(
        "{} transfers of test USDC to {} deposit addresses, {} per block over {} blocks (one block a second on anvil), \
         {} confirmations, the watcher polling every {:.1} s; SQLite; debug build, test process on this 2-core machine.\n",
        total,
        addresses.len(),
        per_block,
        blocks,
        confirmations,
        poll_s
    );
    println!("| measure | value |\n|---|---|");
    println!(
        "| credited after the confirmation block, median | {:.2} s ({:.2} poll intervals) |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.5) / poll_s
    );
    println!(
        "| credited after the confirmation block, p95 | {:.2} s ({:.2} poll intervals) |",
        percentile(&latencies, 0.95),
        percentile(&latencies, 0.95) / poll_s
    );
    println!(
        "| credited after the confirmation block, max | {:.2} s ({:.2} poll intervals) |",
        latencies[latencies.len() - 1],
        latencies[latencies.len() - 1] / poll_s
    );
    println!(
        "| CPU of the process (server, watcher and this client) per block | {:.1} ms |",
        cpu * 1000.0 / (blocks + confirmations - 1) as f64
    );
    println!("| wall time of the run | {:.1} s |", elapsed.as_secs_f64());
    let within_two = latencies.iter().filter(|l| **l <= 2.0 * poll_s).count();
    println!(
        "| blocks credited within 2 poll intervals | {} of {} |",
        within_two,
        latencies.len()
    );
}
