//! `paygate-cli` against the real server: login stores a 0600 file the other
//! commands use; `listen` forwards a `payment.succeeded` event, signed, to a
//! local endpoint, where the SDK's verifier accepts it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use paygate_sdk::webhook::{WebhookError, WebhookVerifier};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::support::{self, Server};

fn cli(config_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paygate-cli"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PAYGATE_CONFIG_DIR", config_dir);
    command
}

/// The CLI with the sandbox credentials in its environment (as in CI).
fn cli_as(server: &Server, config_dir: &Path) -> Command {
    let mut command = cli(config_dir);
    command
        .env("PAYGATE_BASE_URL", &server.base_url)
        .env("PAYGATE_API_KEY", &server.key)
        .env("PAYGATE_API_SECRET", &server.secret)
        .env("PAYGATE_CA_FILE", &server.ca_path);
    command
}

/// Runs a command off the runtime (the server shares it).
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn json_lines(output: &Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_keeps_credentials_owner_only_and_the_commands_use_them() {
    let server = support::start().await;
    let config = tempfile::tempdir().unwrap();
    let mut login = cli(config.path());
    login
        .args(["--json", "login", "--base-url", &server.base_url, "--ca-file"])
        .arg(&server.ca_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (key, secret) = (server.key.clone(), server.secret.clone());
    let output = tokio::task::spawn_blocking(move || {
        let mut child = login.spawn().unwrap();
        writeln!(child.stdin.take().unwrap(), "{key}\n{secret}").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let answer = &json_lines(&output)[0];
    assert_eq!(answer["env"], "test");
    let file = config.path().join("credentials.json");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!String::from_utf8_lossy(&output.stdout).contains(&server.key));

    let mut create = cli(config.path());
    create.args([
        "--json",
        "payments",
        "create",
        "--amount",
        "2500",
        "--currency",
        "EUR",
        "--test-card",
        "4242424242424242",
    ]);
    let payment = json_lines(&run(create).await).remove(0);
    assert_eq!(payment["status"], "succeeded");
    let id = payment["id"].as_str().unwrap().to_owned();
    let mut get = cli(config.path());
    get.args(["--json", "payments", "get", &id]);
    assert_eq!(json_lines(&run(get).await)[0]["amount"], 2500);

    // Funds for a withdrawal, then create and approve it (the secret signs).
    let mut create = cli(config.path());
    create.args([
        "--json",
        "withdrawals",
        "create",
        "--amount",
        "1000",
        "--currency",
        "EUR",
        "--iban",
        "DE89370400440532013000",
        "--name",
        "Ada Lovelace",
    ]);
    let withdrawal = json_lines(&run(create).await).remove(0);
    assert_eq!(withdrawal["status"], "pending_approval");
    let mut approve = cli(config.path());
    approve.args(["--json", "withdrawals", "approve", withdrawal["id"].as_str().unwrap()]);
    assert_ne!(json_lines(&run(approve).await)[0]["status"], "pending_approval");
    let mut list = cli(config.path());
    list.args(["--json", "withdrawals", "list", "--all", "--limit", "1"]);
    assert_eq!(json_lines(&run(list).await).len(), 1);

    // A credentials file others can read is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut list = cli(config.path());
    list.args(["payments", "list"]);
    let refused = run(list).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("readable by others"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_create_list_and_get() {
    let server = support::start().await;
    let config = tempfile::tempdir().unwrap();
    let mut create = cli_as(&server, config.path());
    create.args(["--json", "payments", "create", "--amount", "3000", "--currency", "USD"]);
    create.args(["--test-card", "4242424242424242"]);
    let payment = json_lines(&run(create).await).remove(0);
    let pay_id = payment["id"].as_str().unwrap().to_owned();
    let mut refund = cli_as(&server, config.path());
    refund.args(["--json", "refunds", "create", "--payment", &pay_id, "--amount", "1200"]);
    refund.args(["--reason", "returned"]);
    let made = json_lines(&run(refund).await).remove(0);
    assert_eq!(
        (made["status"].as_str(), made["amount"].as_i64()),
        (Some("succeeded"), Some(1200))
    );
    let mut rest = cli_as(&server, config.path());
    rest.args(["--json", "refunds", "create", "--payment", &pay_id]);
    assert_eq!(json_lines(&run(rest).await)[0]["amount"], 1800);
    let mut again = cli_as(&server, config.path());
    again.args(["refunds", "create", "--payment", &pay_id]);
    let refused = run(again).await;
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("refund_exceeds_payment"));
    let mut get = cli_as(&server, config.path());
    get.args(["--json", "refunds", "get", made["id"].as_str().unwrap()]);
    assert_eq!(json_lines(&run(get).await)[0]["payment"], pay_id.as_str());
    let mut list = cli_as(&server, config.path());
    list.args(["--json", "refunds", "list", "--all", "--limit", "1"]);
    assert_eq!(json_lines(&run(list).await).len(), 2);
}

async fn receiver() -> (String, mpsc::UnboundedReceiver<(HeaderMap, Bytes)>) {
    let (sender, deliveries) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sender = sender.clone();
            async move {
                let _ = sender.send((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, deliveries)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_forwards_a_signed_payment_succeeded_that_the_sdk_verifies() {
    let server = support::start().await;
    let config = tempfile::tempdir().unwrap();
    let (url, mut deliveries) = receiver().await;
    let mut listen = cli_as(&server, config.path());
    listen
        .args([
            "--json",
            "listen",
            "--forward-to",
            &url,
            "--events",
            "payment.succeeded",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = listen.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        (first, lines)
    });
    let (first, _lines) = tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .unwrap()
        .unwrap();
    let ready: Value = serde_json::from_str(&first).unwrap();
    let secret = ready["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));

    let mut trigger = cli_as(&server, config.path());
    trigger.args(["--json", "trigger", "payment.succeeded"]);
    let triggered = json_lines(&run(trigger).await).remove(0);
    let payment_id = triggered["payment"]["id"].as_str().unwrap().to_owned();

    let (headers, body) = tokio::time::timeout(Duration::from_secs(15), deliveries.recv())
        .await
        .expect("a delivery arrives")
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();

    let event = WebhookVerifier::new([&secret])
        .unwrap()
        .verify(&headers, &body)
        .unwrap();
    assert_eq!(
        event.event_type, "payment.succeeded",
        "only the subscribed type is forwarded"
    );
    assert_eq!(event.data.object["id"], payment_id.as_str());
    assert_eq!(event.data.object["status"], "succeeded");
    assert_eq!(headers["webhook-id"], event.id.as_str());
    // Verification can fail: another secret, or a changed body, is refused.
    let other = paygate_sdk::proto::webhooks::WebhookSecret::generate();
    let stranger = WebhookVerifier::new([other.expose()]).unwrap();
    assert_eq!(stranger.verify(&headers, &body), Err(WebhookError::Signature));
    let mut tampered = body.to_vec();
    tampered.extend_from_slice(b" ");
    assert!(WebhookVerifier::new([&secret])
        .unwrap()
        .verify(&headers, &tampered)
        .is_err());
    // The plain scheme carries the same secret.
    let mut plain = headers.clone();
    plain.remove("webhook-signature");
    assert!(WebhookVerifier::new([&secret]).unwrap().verify(&plain, &body).is_ok());
}
