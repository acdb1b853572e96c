//! Durability: `paygate serve` killed with SIGKILL in the middle of a stream
//! of payments and withdrawals restarts with every acknowledged write
//! present, and `paygate ledger verify` (and `audit verify`) clean; killed
//! at random moments several times under mixed writes, it still loses
//! nothing, and every outbox event reaches the merchant's webhook receiver.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::money_support::{acknowledged_id, card_payment, iban_destination, Api};
use crate::support::paygate;

pub const LENIENT_LIMITS: [(&str, &str); 4] = [
    ("PAYGATE_RATE_LIMITS__FINANCIAL__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__MERCHANT__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__WALLET__LIMIT", "1000000"),
];

/// Starts `paygate serve` on `data_dir` and returns it with its banner.
fn serve(data_dir: &Path) -> (Child, Value) {
    serve_with(data_dir, &[])
}

/// [`serve`] with more environment.
fn serve_with(data_dir: &Path, envs: &[(&str, &str)]) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--json", "serve"])
        .env("PAYGATE_LISTEN", "127.0.0.1:0")
        .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
        .env_remove("PAYGATE_MASTER_KEY")
        .envs(LENIENT_LIMITS)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn paygate serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("banner");
    (child, serde_json::from_str(&line).expect("banner is JSON"))
}

fn api_for(banner: &Value, key: &str, secret: &str) -> Api {
    let pem = std::fs::read(banner["cert_path"].as_str().expect("cert path")).expect("cert");
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(10));
    for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("pem") {
        builder = builder.add_root_certificate(cert);
    }
    let port = banner["listen"]
        .as_str()
        .and_then(|l| l.rsplit(':').next())
        .expect("port");
    Api {
        http: builder.build().expect("client"),
        base_url: format!("https://localhost:{port}"),
        key: key.to_owned(),
        secret: Some(secret.to_owned()),
    }
}

#[derive(Default)]
struct Acknowledged {
    payments: Vec<String>,
    withdrawals: Vec<(String, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_stream_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (mut child, banner) = serve(&data_dir);
    let key = banner["sandbox"]["key"].as_str().expect("key").to_owned();
    let secret = banner["sandbox"]["secret"].as_str().expect("secret").to_owned();
    let api = api_for(&banner, &key, &secret);
    api.fund(1_000_000, "USD").await;

    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let mut workers = Vec::new();
    for w in 0..8 {
        let (api, acked) = (api.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let outcome = if i % 2 == 0 {
                    api.http
                        .post(format!("{}/v1/payments", api.base_url))
                        .header("x-api-key", &api.key)
                        .json(&card_payment(1_000, "USD", "4242424242424242"))
                        .send()
                        .await
                } else {
                    api.http
                        .post(format!("{}/v1/withdrawal-requests", api.base_url))
                        .header("x-api-key", &api.key)
                        .header("idempotency-key", format!("crash-{w}-{i}"))
                        .json(&json!({"amount": 100, "currency": "USD", "destination": iban_destination()}))
                        .send()
                        .await
                };
                let Some(id) = acknowledged_id(outcome).await else {
                    return;
                };
                let mut acked = acked.lock().unwrap();
                if i % 2 == 0 {
                    acked.payments.push(id);
                } else {
                    acked.withdrawals.push((id, format!("crash-{w}-{i}")));
                }
            }
        }));
    }
    // Let the stream run, then kill the server without warning.
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let count = {
            let a = acked.lock().unwrap();
            a.payments.len() + a.withdrawals.len()
        };
        if count >= 200 {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    for worker in workers {
        let _ = worker.await;
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(acked.payments.len() + acked.withdrawals.len() >= 200);

    let (mut child, banner) = serve(&data_dir);
    assert!(banner["sandbox"].is_null(), "the restart finds its data");
    let api = api_for(&banner, &key, &secret);
    for id in &acked.payments {
        let p = api.get(&format!("/v1/payments/{id}")).await;
        assert_eq!((p.status, p.body["status"].as_str()), (200, Some("succeeded")), "{id}");
    }
    for (id, idem) in &acked.withdrawals {
        let w = api.get(&format!("/v1/withdrawal-requests/{id}")).await;
        assert_eq!(
            (w.status, w.body["status"].as_str()),
            (200, Some("pending_approval")),
            "{id}"
        );
        // The retry a client makes after the crash replays, never repeats.
        let retry = api.withdraw(100, "USD", idem).await;
        assert!(retry.replayed && retry.id() == *id, "{}", retry.body);
    }
    let (available, _, reserved) = api.balance("USD").await;
    assert!(available >= 0 && reserved >= 100 * acked.withdrawals.len() as i64);
    child.kill().expect("stop");
    child.wait().expect("reaped");

    let ledger = paygate(&data_dir, &["--json", "ledger", "verify"], &[]);
    assert!(ledger.status.success(), "{}", String::from_utf8_lossy(&ledger.stdout));
    let audit = paygate(&data_dir, &["--json", "audit", "verify"], &[]);
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stdout));
}

/// A local webhook receiver: how many deliveries each event id got.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<std::collections::HashMap<String, u32>>>);

impl Receiver {
    async fn start() -> (Receiver, u16) {
        use axum::routing::post;
        let receiver = Receiver::default();
        let app = axum::Router::new()
            .route(
                "/hook",
                post(
                    |axum::extract::State(r): axum::extract::State<Receiver>, headers: http::HeaderMap| async move {
                        let id = headers
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        *r.0.lock().unwrap().entry(id).or_default() += 1;
                        http::StatusCode::OK
                    },
                ),
            )
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, port)
    }
}

/// What clients saw acknowledged with a complete `200`, across every crash.
#[derive(Default)]
struct Mixed {
    payments: Vec<String>,
    withdrawals: Vec<(String, String)>,
    rejected: Vec<String>,
    /// Rejections sent, answered or not: a kill may land after the commit
    /// and before the answer.
    rejecting: Vec<String>,
}

/// One client's stream of mixed writes until the server stops answering:
/// card payments, withdrawals (with idempotency keys), and rejections of
/// this client's earlier withdrawals.
async fn mixed_writes(api: Api, client: usize, round: usize, acked: Arc<Mutex<Mixed>>) {
    let mut mine: Vec<String> = Vec::new();
    for i in 0.. {
        let idem = format!("crash-{round}-{client}-{i}");
        let request = match i % 3 {
            0 => api
                .http
                .post(format!("{}/v1/payments", api.base_url))
                .json(&card_payment(1_000, "USD", "4242424242424242")),
            1 => api
                .http
                .post(format!("{}/v1/withdrawal-requests", api.base_url))
                .header("idempotency-key", &idem)
                .json(&json!({"amount": 100, "currency": "USD", "destination": iban_destination()})),
            _ => match mine.pop() {
                Some(id) => {
                    acked.lock().unwrap().rejecting.push(id.clone());
                    api.http
                        .post(format!("{}/v1/withdrawal-requests/{id}/reject", api.base_url))
                        .header("x-api-secret", api.secret.as_deref().unwrap_or_default())
                }
                None => continue,
            },
        };
        let Ok(response) = request.header("x-api-key", &api.key).send().await else {
            return;
        };
        if response.status() != 200 {
            return;
        }
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let mut acked = acked.lock().unwrap();
        match i % 3 {
            0 => acked.payments.push(id),
            1 => {
                mine.push(id.clone());
                acked.withdrawals.push((id, idem));
            }
            _ => acked.rejected.push(id),
        }
    }
}

/// Every event id of the merchant, through the list's pages.
async fn event_ids(api: &Api) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = "/v1/events?limit=100".to_owned();
    loop {
        let page = api.get(&url).await.ok();
        ids.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("/v1/events?limit=100&cursor={cursor}"),
            None => return ids,
        }
    }
}

/// `paygate ledger verify` and `paygate audit verify` on a stopped server's data.
fn verify_offline(data_dir: &Path) {
    for check in ["ledger", "audit"] {
        let out = paygate(data_dir, &["--json", check, "verify"], &[]);
        assert!(
            out.status.success(),
            "{check} verify: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repeated_sigkill_under_mixed_writes_loses_nothing_and_delivers_every_event() {
    use rand::Rng as _;
    // Deliveries a kill interrupted wait out their lease (timeout + 30 s).
    let delivery = [
        ("PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("PAYGATE_WEBHOOKS__TIMEOUT_SECS", "1"),
        (
            "PAYGATE_WEBHOOKS__RETRY_SCHEDULE_SECS",
            "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
        ),
        ("PAYGATE_WEBHOOKS__RETRY_JITTER_PERCENT", "0"),
    ];
    let (receiver, port) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let data_dir = dir.path().join("data");
    let (mut child, banner) = serve_with(&data_dir, &delivery);
    let key = banner["sandbox"]["key"].as_str().expect("key").to_owned();
    let secret = banner["sandbox"]["secret"].as_str().expect("secret").to_owned();
    let mut api = api_for(&banner, &key, &secret);
    let endpoint = api
        .post(
            "/v1/webhook-endpoints",
            json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["*"]}),
        )
        .await;
    assert_eq!(endpoint.status, 200, "{}", endpoint.body);
    let earlier = event_ids(&api).await;
    api.fund(10_000_000, "USD").await;

    let acked = Arc::new(Mutex::new(Mixed::default()));
    let mut rng = rand::thread_rng();
    for round in 0..3 {
        let workers: Vec<_> = (0..6)
            .map(|client| tokio::spawn(mixed_writes(api.clone(), client, round, acked.clone())))
            .collect();
        // A random moment: after a random share of the stream is acknowledged.
        let before = {
            let a = acked.lock().unwrap();
            a.payments.len() + a.withdrawals.len() + a.rejected.len()
        };
        let wanted = before + rng.gen_range(20..120);
        let jitter = Duration::from_millis(rng.gen_range(0..40));
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let a = acked.lock().unwrap();
            if a.payments.len() + a.withdrawals.len() + a.rejected.len() >= wanted {
                break;
            }
        }
        tokio::time::sleep(jitter).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        for worker in workers {
            let _ = worker.await;
        }
        verify_offline(&data_dir);

        let (restarted, banner) = serve_with(&data_dir, &delivery);
        child = restarted;
        assert!(banner["sandbox"].is_null(), "the restart finds its data");
        api = api_for(&banner, &key, &secret);
        let (payments, withdrawals, rejected, rejecting) = {
            let a = acked.lock().unwrap();
            (
                a.payments.clone(),
                a.withdrawals.clone(),
                a.rejected.clone(),
                a.rejecting.clone(),
            )
        };
        for id in &payments {
            let p = api.get(&format!("/v1/payments/{id}")).await;
            assert_eq!(
                (p.status, p.body["status"].as_str()),
                (200, Some("succeeded")),
                "round {round}: {id}"
            );
        }
        for (id, _) in &withdrawals {
            let w = api.get(&format!("/v1/withdrawal-requests/{id}")).await;
            assert_eq!(w.status, 200, "round {round}: {id}");
            let status = w.body["status"].as_str().unwrap_or_default();
            if rejected.contains(id) {
                assert_eq!(
                    status, "rejected",
                    "an acknowledged rejection holds, round {round}: {id}"
                );
            } else if rejecting.contains(id) {
                assert!(
                    matches!(status, "rejected" | "pending_approval"),
                    "round {round}: {id} {status}"
                );
            } else {
                assert_eq!(status, "pending_approval", "round {round}: {id}");
            }
        }
    }
    // A retry after the crashes replays, never repeats.
    let (id, idem) = acked.lock().unwrap().withdrawals[0].clone();
    let retry = api.withdraw(100, "USD", &idem).await;
    assert!(retry.replayed && retry.id() == id, "{}", retry.body);

    // Every event since the endpoint exists reaches the receiver (at least once).
    let events: Vec<String> = event_ids(&api)
        .await
        .into_iter()
        .filter(|id| !earlier.contains(id))
        .collect();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(events.len() >= acked.payments.len() + acked.withdrawals.len());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let received = receiver.0.lock().unwrap().clone();
        let missing: Vec<&String> = events.iter().filter(|id| !received.contains_key(*id)).collect();
        if missing.is_empty() || std::time::Instant::now() > deadline {
            break missing.len();
        }
        drop(missing);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(missing, 0, "{missing} of {} events never delivered", events.len());
    child.kill().expect("stop");
    child.wait().expect("reaped");
    verify_offline(&data_dir);
}
