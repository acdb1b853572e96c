//! A small load generator for authenticated calls over TLS with keep-alive.
//! Unlike wrk it can sign every request (docs/api.md section 4.3), each with a distinct
//! query so no two signatures repeat. Used by `bench/auth_throughput.sh`
//! and `bench/latency.sh`.
//!
//! Closed loop (default): `--connections` clients each send the next request
//! when the last one is answered, for `--seconds`; prints the throughput.
//! Open loop (`--rate R`): requests start at R per second on a fixed
//! schedule, whether or not earlier ones were answered, and each latency is
//! measured from its scheduled start (so a slow server cannot hide its queue
//! by slowing the client down); prints latency percentiles.
//!
//! ```text
//! loadgen --url https://127.0.0.1:8443 --ca cert.pem --mode token-signed \
//!         --key sk_test_... --secret sec_test_... --merchant MCH-... \
//!         --connections 32 --seconds 10 [--rate 500]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paygate_proto::signing::sign_request;

#[derive(Clone)]
struct Args {
    url: String,
    ca: String,
    mode: String,
    key: String,
    secret: String,
    merchant: String,
    connections: usize,
    seconds: u64,
    rate: Option<f64>,
}

fn parse_args() -> Args {
    let mut args = Args {
        url: String::new(),
        ca: String::new(),
        mode: "healthz".to_owned(),
        key: String::new(),
        secret: String::new(),
        merchant: String::new(),
        connections: 32,
        seconds: 10,
        rate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value,
            "--ca" => args.ca = value,
            "--mode" => args.mode = value,
            "--key" => args.key = value,
            "--secret" => args.secret = value,
            "--merchant" => args.merchant = value,
            "--connections" => args.connections = value.parse().expect("connections"),
            "--seconds" => args.seconds = value.parse().expect("seconds"),
            "--rate" => args.rate = Some(value.parse().expect("rate")),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn client(ca: &str) -> reqwest::Client {
    let pem = std::fs::read(ca).expect("ca file");
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .http1_only()
        .pool_max_idle_per_host(1024);
    for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("pem") {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().expect("client")
}

async fn token(client: &reqwest::Client, args: &Args) -> (String, String) {
    let body: serde_json::Value = client
        .post(format!("{}/v1/auth/token", args.url))
        .header("x-api-key", &args.key)
        .header("x-merchant-id", &args.merchant)
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    (
        body["access_token"].as_str().expect("access_token").to_owned(),
        body["session_id"].as_str().expect("session_id").to_owned(),
    )
}

/// The `n`th request of the run, in the chosen mode.
fn request(
    client: &reqwest::Client,
    args: &Args,
    bearer: Option<&(String, String)>,
    n: u64,
) -> reqwest::RequestBuilder {
    match args.mode.as_str() {
        "healthz" => client.get(format!("{}/healthz", args.url)),
        "key" => client
            .get(format!("{}/v1/balance", args.url))
            .header("x-api-key", &args.key),
        "token" | "token-signed" => {
            let (token, session) = bearer.expect("token");
            let target = format!("/v1/balance?n={n}");
            let mut request = client
                .get(format!("{}{target}", args.url))
                .header("authorization", format!("Bearer {token}"))
                .header("x-session-id", session);
            if args.mode == "token-signed" {
                let ts = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .expect("time")
                    .as_secs()
                    .to_string();
                let signature = sign_request(&args.secret, "GET", &target, b"", &ts);
                request = request.header("x-timestamp", ts).header("x-signature", signature);
            }
            request
        }
        other => panic!("unknown mode {other}"),
    }
}

/// Sends a request and reads its answer; whether it succeeded.
async fn send(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        Ok(response) => {
            let success = response.status().is_success();
            let _ = response.bytes().await;
            success
        }
        Err(_) => false,
    }
}

/// Open loop: `rate` requests per second on a fixed schedule for `seconds`.
async fn open_loop(client: reqwest::Client, args: Args, bearer: Option<(String, String)>, rate: f64) {
    let bearer = Arc::new(bearer);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let total = (rate * args.seconds as f64).round() as u64;
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for n in 0..total {
        let scheduled = started + interval.mul_f64(n as f64);
        tokio::time::sleep_until(scheduled).await;
        let (client, args, bearer) = (client.clone(), args.clone(), bearer.clone());
        tasks.push(tokio::spawn(async move {
            let ok = send(request(&client, &args, bearer.as_ref().as_ref(), n)).await;
            (ok, scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0u64;
    for task in tasks {
        let (ok, latency) = task.await.expect("task");
        if ok {
            latencies.push(latency.as_secs_f64() * 1000.0);
        } else {
            failed += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{{\"mode\":\"{}\",\"offered_rps\":{rate},\"ok\":{},\"failed\":{failed},\"seconds\":{elapsed:.2},\"p50_ms\":{:.2},\"p90_ms\":{:.2},\"p99_ms\":{:.2},\"max_ms\":{:.2}}}",
        args.mode,
        latencies.len(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let client = client(&args.ca);
    let bearer = if args.mode.starts_with("token") {
        Some(token(&client, &args).await)
    } else {
        None
    };
    if let Some(rate) = args.rate {
        open_loop(client, args, bearer, rate).await;
        return;
    }
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.connections {
        let (client, args, bearer) = (client.clone(), args.clone(), bearer.clone());
        let (ok, failed, counter) = (ok.clone(), failed.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                if send(request(&client, &args, bearer.as_ref(), n)).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    println!(
        "{{\"mode\":\"{}\",\"ok\":{ok},\"failed\":{},\"seconds\":{elapsed:.2},\"rps\":{:.0}}}",
        args.mode,
        failed.load(Ordering::Relaxed),
        ok as f64 / elapsed
    );
}
