//! Webhook delivery benchmark, run by `bench/webhooks.sh`: in one process
//! and one run, (1) the cost of signing one delivery, (2) deliveries per
//! second from 10,000 queued events to a local receiver that answers at
//! once, (3) the same with a second endpoint whose receiver sleeps 5 s per
//! request, and (4) event-to-receipt latency for events emitted one by one.
//! Everything stays on loopback and is bounded in count and time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use paygate_proto::webhooks::{sign_delivery, WebhookSecret};
use paygate_proto::{Environment, MerchantId};
use paygate_server::clock::SystemClock;
use paygate_server::config::Config;
use paygate_server::outbox;
use paygate_server::serve::{self, Running, ServeOptions};
use serde_json::{json, Value};

const EVENTS: usize = 10_000;
const ROUNDS: usize = 3;

#[derive(Clone)]
struct Receiver {
    count: Arc<AtomicUsize>,
    sleep: Duration,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap) -> &'static str {
    if !r.sleep.is_zero() {
        tokio::time::sleep(r.sleep).await;
    }
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        r.arrivals.lock().unwrap().insert(id.to_owned(), Instant::now());
    }
    r.count.fetch_add(1, Ordering::SeqCst);
    "ok"
}

async fn receiver(sleep: Duration) -> (Receiver, u16) {
    let r = Receiver {
        count: Arc::new(AtomicUsize::new(0)),
        sleep,
        arrivals: Arc::new(Mutex::new(HashMap::new())),
    };
    let app = Router::new().route("/hook", post(receive)).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, port)
}

struct Server {
    running: Running,
    http: reqwest::Client,
    base: String,
    key: String,
    merchant: MerchantId,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    config.webhooks.allow_private_targets = true;
    let running = serve::start(ServeOptions {
        config,
        clock: Arc::new(SystemClock),
        master_key: None,
        create_sandbox: true,
    })
    .await
    .unwrap();
    let sandbox = running.sandbox.as_ref().unwrap();
    let pem = std::fs::read(&running.certificate.as_ref().unwrap().path).unwrap();
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    Server {
        base: format!("https://localhost:{}", running.local_addr.port()),
        key: sandbox.key.expose().to_owned(),
        merchant: sandbox.merchant_id.clone(),
        http: builder.build().unwrap(),
        running,
        _dir: dir,
    }
}

impl Server {
    async fn endpoint(&self, port: u16) -> String {
        let created: Value = self
            .http
            .post(format!("{}/v1/webhook-endpoints", self.base))
            .header("x-api-key", &self.key)
            .json(&json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["payment.created"]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        created["id"].as_str().unwrap().to_owned()
    }

    /// Queues `n` events in one transaction; returns their ids and when they committed.
    async fn emit(&self, n: usize) -> (Vec<String>, Instant) {
        let state = &self.running.state;
        let mut tx = state.store().begin_write().await.unwrap();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let object = json!({"id": format!("pay_{i:024}"), "object": "payment", "amount": 1999, "currency": "USD", "status": "requires_payment", "metadata": {"order": format!("ord_{i}")}});
            ids.push(
                outbox::record_event(
                    tx.conn(),
                    &self.merchant,
                    Environment::Test,
                    "payment.created",
                    object,
                    state.now(),
                )
                .await
                .unwrap(),
            );
        }
        tx.commit().await.unwrap();
        let committed = Instant::now();
        state.webhooks().wake();
        (ids, committed)
    }
}

async fn wait_for(count: &AtomicUsize, target: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    while count.load(Ordering::SeqCst) < target {
        assert!(
            started.elapsed() < limit,
            "only {} of {target} delivered",
            count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

fn signing_cost() {
    let secret = WebhookSecret::generate();
    let previous = WebhookSecret::generate();
    let body = json!({"id": "evt_0123456789abcdefghijklmn", "type": "payment.created", "created_at": "2026-11-22T09:00:00Z", "env": "test",
        "data": {"object": {"id": "pay_0123456789abcdefghijklmn", "object": "payment", "amount": 1999, "currency": "USD", "status": "requires_payment", "metadata": {"order": "ord_1"}}}})
    .to_string();
    for (label, secrets) in [
        ("one secret", vec![&secret]),
        ("two secrets (rotation)", vec![&secret, &previous]),
    ] {
        let rounds = 200_000;
        for i in 0..20_000 {
            std::hint::black_box(sign_delivery(&secrets, "evt_warmup", i, body.as_bytes()));
        }
        let started = Instant::now();
        let mut total = 0usize;
        for i in 0..rounds {
            total += sign_delivery(
                &secrets,
                "evt_0123456789abcdefghijklmn",
                1_700_000_000 + i,
                body.as_bytes(),
            )
            .webhook_signature
            .len();
        }
        let per = started.elapsed().as_secs_f64() / rounds as f64 * 1e6;
        println!(
            "signing one delivery ({label}, both schemes, {} byte body): {per:.2} µs  [{total}]",
            body.len()
        );
    }
}

/// Deliveries per second from `EVENTS` queued events to a healthy receiver,
/// with or without a second endpoint whose receiver sleeps 5 s per request.
async fn throughput(with_slow: bool, limit: Duration) -> f64 {
    let server = start_server().await;
    let (healthy, port) = receiver(Duration::ZERO).await;
    server.endpoint(port).await;
    let slow = if with_slow {
        let (slow, slow_port) = receiver(Duration::from_secs(5)).await;
        server.endpoint(slow_port).await;
        Some(slow)
    } else {
        None
    };
    server.emit(EVENTS).await;
    let took = wait_for(&healthy.count, EVENTS, limit).await;
    if let Some(slow) = slow {
        println!(
            "  (the slow receiver got {} meanwhile)",
            slow.count.load(Ordering::SeqCst)
        );
    }
    server.running.shutdown().await;
    EVENTS as f64 / took.as_secs_f64()
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    signing_cost();
    let limit = Duration::from_secs(300);

    // (2) and (3), alternated so the machine's other load falls on both alike.
    let mut alone = Vec::new();
    let mut beside = Vec::new();
    for round in 1..=ROUNDS {
        let rate = throughput(false, limit).await;
        println!(
            "round {round}: {EVENTS} queued events to one healthy receiver: {rate:.0} deliveries/s, RSS {:.0} MiB",
            rss_mib()
        );
        alone.push(rate);
        let rate = throughput(true, limit).await;
        println!(
            "round {round}: {EVENTS} queued events to a healthy receiver beside one that sleeps 5 s per request: {rate:.0} deliveries/s, RSS {:.0} MiB",
            rss_mib()
        );
        beside.push(rate);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (alone, beside) = (median(&mut alone), median(&mut beside));
    println!(
        "median of {ROUNDS} rounds: alone {alone:.0}/s, beside a 5 s receiver {beside:.0}/s: {:+.1}%",
        (beside / alone - 1.0) * 100.0
    );

    // (4) Latency, event committed -> received, one event every 10 ms.
    let paced = start_server().await;
    let (healthy, port) = receiver(Duration::ZERO).await;
    paced.endpoint(port).await;
    let mut sent = Vec::new();
    for _ in 0..300 {
        let (ids, at) = paced.emit(1).await;
        sent.push((ids[0].clone(), at));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for(&healthy.count, sent.len(), limit).await;
    let arrivals = healthy.arrivals.lock().unwrap().clone();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| arrivals.get(id).map(|t| t.duration_since(*at).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "event committed -> received, 300 events 10 ms apart: p50 {:.1} ms, p99 {:.1} ms",
        pct(0.50),
        pct(0.99)
    );
    paced.running.shutdown().await;
}
