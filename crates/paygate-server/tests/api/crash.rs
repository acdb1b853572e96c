//! Durability: `paygate serve` killed with SIGKILL in the middle of a stream
//! of payments and withdrawals restarts with every acknowledged write
//! present, and `paygate ledger verify` (and `audit verify`) clean.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::money_support::{card_payment, iban_destination, Api};
use crate::support::paygate;

const LENIENT_LIMITS: [(&str, &str); 4] = [
    ("PAYGATE_RATE_LIMITS__FINANCIAL__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__MERCHANT__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__WALLET__LIMIT", "1000000"),
];

/// Starts `paygate serve` on `data_dir` and returns it with its banner.
fn serve(data_dir: &Path) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_paygate"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--json", "serve"])
        .env("PAYGATE_LISTEN", "127.0.0.1:0")
        .env_remove("PAYGATE_MASTER_KEY")
        .envs(LENIENT_LIMITS)
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
                // Anything short of a complete 200 reply is not acknowledged.
                let Ok(response) = outcome else { return };
                if response.status() != 200 {
                    return;
                }
                let Ok(body) = response.json::<Value>().await else {
                    return;
                };
                let id = body["id"].as_str().unwrap_or_default().to_owned();
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
