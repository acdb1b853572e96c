//! Benchmark of durable payment creation (bench/money.sh runs it): first the
//! machine's single-row durable SQLite commit rate (WAL, synchronous=FULL,
//! one transaction per row), then `POST /v1/payments` over TLS from N
//! concurrent clients against an in-process server on loopback, each request
//! authenticated, idempotent, with its ledger entries and outbox events, and
//! acknowledged only after its group commit is on disk; then payments at
//! `--webhook-clients` (16) connections without a webhook endpoint and with
//! one subscribed to `payment.succeeded`, counted until delivered. With
//! `--urls`, it drives servers already running instead (`bench/instances.sh`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::str::FromStr as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use paygate_server::clock::SystemClock;
use paygate_server::config::{Config, Limit};
use paygate_server::serve::{self, ServeOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions as _, Connection as _};

fn arg_text(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn arg(name: &str, default: u64) -> u64 {
    arg_text(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn sqlite_single_row_commits(dir: &std::path::Path, secs: u64) -> f64 {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", dir.join("plain.db").display()))
        .unwrap()
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = options.connect().await.unwrap();
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        .execute(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind("payment")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 32);
    let secs = arg("--secs", 10);
    if let Some(urls) = arg_text("--urls") {
        return drive_running_servers(&urls, clients, secs).await;
    }
    let dir = tempfile::tempdir().unwrap();

    let sqlite_rate = sqlite_single_row_commits(dir.path(), secs.min(5)).await;

    let server = Server::start(&dir.path().join("data"), false).await;
    let load = drive(
        std::slice::from_ref(&server.url),
        &server.key,
        &server.pem,
        clients,
        secs,
    )
    .await;
    let report = paygate_server::ledger::verify(server.running.state.store())
        .await
        .unwrap();
    server.running.shutdown().await;

    println!("| single-row durable SQLite commits (WAL, synchronous=FULL), 1 writer | {sqlite_rate:.0}/s |");
    println!(
        "| durable payment creation (TLS, auth, idempotency, ledger, outbox; group commit), {clients} clients | {:.0}/s; p50 {:.1} ms, p99 {:.1} ms; {} payments, {} errors |",
        load.rate(),
        load.percentile(0.50),
        load.percentile(0.99),
        load.latencies.len(),
        load.errors
    );
    println!(
        "| ratio payment creation / single-row commits | {:.2}x |",
        load.rate() / sqlite_rate
    );
    println!(
        "| ledger verify after the run | {} |",
        if report.is_clean() { "clean" } else { "NOT CLEAN" }
    );
    with_and_without_endpoint(dir.path(), arg("--webhook-clients", 16), secs).await;
}

/// `POST /v1/payments` at `clients` connections on a server with no webhook
/// endpoint, then on one whose merchant has an endpoint subscribed to
/// `payment.succeeded` (a local receiver answering 200 at once), counted
/// until every payment's event has been received.
async fn with_and_without_endpoint(dir: &std::path::Path, clients: u64, secs: u64) {
    let plain = Server::start(&dir.join("plain"), false).await;
    let alone = drive(std::slice::from_ref(&plain.url), &plain.key, &plain.pem, clients, secs).await;
    plain.running.shutdown().await;

    let hooked = Server::start(&dir.join("hooked"), true).await;
    let received = hooked.received.clone().unwrap();
    let load = drive(
        std::slice::from_ref(&hooked.url),
        &hooked.key,
        &hooked.pem,
        clients,
        secs,
    )
    .await;
    let created = load.latencies.len();
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.load(Ordering::SeqCst) < created && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered = received.load(Ordering::SeqCst);
    let end_to_end = delivered as f64 / load.started.elapsed().as_secs_f64();
    hooked.running.shutdown().await;
    println!(
        "| payments, {clients} clients, no webhook endpoint | {:.0}/s; p50 {:.1} ms, p99 {:.1} ms; {} payments, {} errors |",
        alone.rate(),
        alone.percentile(0.50),
        alone.percentile(0.99),
        alone.latencies.len(),
        alone.errors
    );
    println!(
        "| payments, {clients} clients, one endpoint subscribed to payment.succeeded | created {:.0}/s (p50 {:.1} ms, p99 {:.1} ms, {} errors); accepted -> delivered end to end {end_to_end:.0}/s ({delivered} of {created} received) |",
        load.rate(),
        load.percentile(0.50),
        load.percentile(0.99),
        load.errors
    );
    println!(
        "| ratio delivered end to end / without an endpoint, {clients} clients | {:.2}x |",
        end_to_end / alone.rate()
    );
}

/// An in-process server with a sandbox merchant; with `endpoint`, that
/// merchant has an endpoint subscribed to `payment.succeeded` whose local
/// receiver counts what it gets.
struct Server {
    running: serve::Running,
    key: String,
    pem: Vec<u8>,
    url: String,
    received: Option<Arc<AtomicUsize>>,
}

impl Server {
    async fn start(data_dir: &std::path::Path, endpoint: bool) -> Self {
        let many = Limit {
            limit: u32::MAX,
            window_secs: 60,
        };
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data_dir.to_owned(),
            ..Config::default()
        };
        config.rate_limits.standard = many;
        config.rate_limits.merchant = many;
        config.rate_limits.financial = many;
        config.webhooks.allow_private_targets = true;
        let running = serve::start(ServeOptions {
            config,
            clock: Arc::new(SystemClock),
            master_key: None,
            create_sandbox: true,
        })
        .await
        .unwrap();
        let key = running.sandbox.as_ref().unwrap().key.expose().to_owned();
        let pem = std::fs::read(&running.certificate.as_ref().unwrap().path).unwrap();
        let url = format!("https://localhost:{}", running.local_addr.port());
        let received = if endpoint {
            Some(subscribe(&url, &key, &pem).await)
        } else {
            None
        };
        Self {
            running,
            key,
            pem,
            url,
            received,
        }
    }
}

/// Starts a receiver that counts deliveries and subscribes it to
/// `payment.succeeded`.
async fn subscribe(base: &str, key: &str, pem: &[u8]) -> Arc<AtomicUsize> {
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let reply = client(pem)
        .post(format!("{base}/v1/webhook-endpoints"))
        .header("x-api-key", key)
        .json(&serde_json::json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["payment.succeeded"]}))
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success(), "endpoint not created: {}", reply.status());
    count
}

fn client(pem: &[u8]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().use_rustls_tls();
    for cert in reqwest::Certificate::from_pem_bundle(pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

/// Drives servers already running (`--urls a,b,c --ca PEM --key KEY
/// --label TEXT`, as `bench/instances.sh` starts them) and prints one
/// Markdown row: label, payments per second, p50, p99, count, errors.
async fn drive_running_servers(urls: &str, clients: u64, secs: u64) {
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    let pem = std::fs::read(arg_text("--ca").expect("--ca")).unwrap();
    let key = arg_text("--key").expect("--key");
    let label = arg_text("--label").unwrap_or_else(|| format!("{} instances", urls.len()));
    let load = drive(&urls, &key, &pem, clients, secs).await;
    println!(
        "| {label} | {:.0} | {:.1} | {:.1} | {} | {} |",
        load.rate(),
        load.percentile(0.50),
        load.percentile(0.99),
        load.latencies.len(),
        load.errors
    );
}

/// What a load run measured.
struct Load {
    latencies: Vec<Duration>,
    errors: u64,
    elapsed: f64,
    started: Instant,
}

impl Load {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed
    }

    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies, p)
    }
}

/// `POST /v1/payments` from `clients` keep-alive clients for `secs`, client
/// `c` speaking to `base_urls[c % n]` (several instances behind a
/// round-robin balancer), trusting `pem`.
async fn drive(base_urls: &[String], key: &str, pem: &[u8], clients: u64, secs: u64) -> Load {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = format!("{}/v1/payments", base_urls[c as usize % base_urls.len()]);
        let (key, pem) = (key.to_owned(), pem.to_vec());
        tasks.push(tokio::spawn(async move {
            let http = client(&pem);
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let body = serde_json::json!({
                    "amount": 1000, "currency": "USD", "method": "card",
                    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}
                });
                let t = Instant::now();
                let reply = http
                    .post(&url)
                    .header("x-api-key", &key)
                    .header("idempotency-key", format!("bench-{c}-{i}"))
                    .json(&body)
                    .send()
                    .await;
                match reply {
                    Ok(r) if r.status() == 200 => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    Ok(r) => {
                        errors += 1;
                        let status = r.status();
                        eprintln!("error: {status} {}", r.text().await.unwrap_or_default());
                    }
                    Err(err) => {
                        errors += 1;
                        eprintln!("error: {err}");
                    }
                }
                i += 1;
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.unwrap();
        latencies.extend(l);
        errors += e;
    }
    latencies.sort_unstable();
    Load {
        latencies,
        errors,
        elapsed: started.elapsed().as_secs_f64(),
        started,
    }
}
