//! One rate-limit decision: the in-process sliding log (a counter with a
//! full window and one with room), and, when `PAYGATE_BENCH_REDIS_URL` is
//! set, the Redis round trip (one Lua script call).
//!
//! `cargo bench -p paygate-server --bench limiter`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use paygate_server::config::Limit;
use paygate_server::limits::{Check, Limiter, MemoryLimiter, RedisLimiter};

fn checks(key: &str, limit: u32) -> Vec<Check> {
    vec![Check {
        name: "standard",
        key: key.to_owned(),
        limit: Limit {
            limit,
            window_secs: 900,
        },
    }]
}

fn in_process(c: &mut Criterion) {
    let limiter = MemoryLimiter::default();
    // 100 per 15 min: after the first 100, every decision is a refusal that
    // scans nothing (the log is full); before, an acceptance.
    let full = checks("ip:standard:192.0.2.1", 100);
    let mut now = 1_700_000_000_000i64;
    c.bench_function("limiter/in_process/refused_full_window", |b| {
        b.iter(|| {
            now += 1;
            black_box(limiter.decide(black_box(&full), now))
        })
    });
    let roomy = checks("ip:standard:192.0.2.2", u32::MAX);
    let mut i = 0u64;
    c.bench_function("limiter/in_process/accepted", |b| {
        b.iter(|| {
            i += 1;
            // Many counters, as with many client IPs.
            let key = format!("ip:standard:10.0.{}.{}", (i / 256) % 256, i % 256);
            let mut one = roomy.clone();
            one[0].key = key;
            black_box(limiter.decide(black_box(&one), 1_700_000_000_000 + i as i64))
        })
    });
}

fn redis_round_trip(c: &mut Criterion) {
    let Ok(url) = std::env::var("PAYGATE_BENCH_REDIS_URL") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let limiter = RedisLimiter::new(&url, &format!("paygate-bench:{}:", std::process::id())).unwrap();
    let roomy = checks("ip:standard:192.0.2.3", u32::MAX);
    c.bench_function("limiter/redis/round_trip", |b| {
        b.iter(|| runtime.block_on(async { black_box(limiter.acquire(&roomy, 0).await.unwrap()) }))
    });
}

criterion_group!(benches, in_process, redis_round_trip);
criterion_main!(benches);
