//! Payouts exactly once across crashes, and the signer's daily cap across
//! its own restarts. The server is the real `paygate serve` process, the
//! signer a `paygate-signer` process of its own (as deployed), the public
//! node a recording proxy in front of anvil.
//!
//! The test-only failpoint `PAYGATE_TEST_FAILPOINT` aborts the server right
//! after a payout's signed transaction is committed (`payout_after_sign`)
//! or right after the node accepted it (`payout_after_send`); the server is
//! then started again on the same data directory, database and signer.

use std::io::BufRead as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use serde_json::Value;

use crate::chain_support::{word, Chain};
use crate::cluster::LENIENT_LIMITS;
use crate::money_support::Api;
use crate::payout_support::{
    approve, fresh_address, fund_by_deposit, raw_pays, settled, transfers_to, withdraw_to, withdrawal, SignerProcess,
};
use crate::rpc_proxy::{RelayMode, RpcProxy};

/// `paygate serve` as a child process on a chain and an external signer.
struct Server {
    child: Child,
    banner: Value,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Setup<'a> {
    data_dir: &'a Path,
    database_url: &'a str,
    rpc_url: &'a str,
    chain: &'a Chain,
    signer: &'a SignerProcess,
}

impl Server {
    fn start(setup: &Setup<'_>, failpoint: Option<&str>, run: usize) -> Server {
        let log = setup.data_dir.with_file_name(format!("serve-{run}.log"));
        let (usdc, usdt) = (word(setup.chain.usdc), word(setup.chain.usdt));
        let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
        command
            .arg("--data-dir")
            .arg(setup.data_dir)
            .args(["--json", "serve"])
            .env("PAYGATE_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_DATABASE_URL", setup.database_url)
            .env_remove("PAYGATE_MASTER_KEY")
            .env_remove("PAYGATE_TEST_FAILPOINT")
            .envs(LENIENT_LIMITS)
            .env("PAYGATE_CHAINS__TEST__ETHEREUM__RPC_URL", setup.rpc_url)
            .env(
                "PAYGATE_CHAINS__TEST__ETHEREUM__CHAIN_ID",
                setup.chain.chain_id.to_string(),
            )
            .env("PAYGATE_CHAINS__TEST__ETHEREUM__CONFIRMATIONS", "1")
            .env("PAYGATE_CHAINS__TEST__ETHEREUM__POLL_INTERVAL_MS", "100")
            .env("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDC", usdc)
            .env("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDT", usdt)
            .env("PAYGATE_SIGNER__SOCKET", &setup.signer.socket)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
        if let Some(point) = failpoint {
            command.env("PAYGATE_TEST_FAILPOINT", point);
        }
        let mut child = command.spawn().expect("spawn paygate serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("banner");
        let banner = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!(
                "paygate serve did not start: {line}{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Server { child, banner, log }
    }

    fn api(&self, key: &str, secret: &str) -> Api {
        let pem = std::fs::read(self.banner["cert_path"].as_str().expect("cert path")).expect("cert");
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(15));
        for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("pem") {
            builder = builder.add_root_certificate(cert);
        }
        let port = self.banner["listen"]
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

    /// Waits for the process to end by itself; its signal.
    async fn aborted(&mut self, secs: u64) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.signal();
            }
            assert!(
                Instant::now() < deadline,
                "the failpoint did not stop the server: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The distinct signed transactions paying `to` that reached the node.
fn distinct_payments(proxy: &RpcProxy, to: Address) -> Vec<String> {
    let mut hashes: Vec<String> = proxy
        .raw_transactions()
        .iter()
        .zip(proxy.tx_hashes())
        .filter(|(raw, _)| raw_pays(raw, to))
        .map(|(_, hash)| hash)
        .collect();
    hashes.sort();
    hashes.dedup();
    hashes
}

/// Kills the server at `failpoint` in the middle of one payout, starts it
/// again, and checks the payout was made exactly once.
async fn crash_at(failpoint: &str) {
    const AMOUNT: u64 = 1_250_000;
    let chain = Chain::start().await;
    let public = RpcProxy::start(&chain.url, RelayMode::Forward).await;
    let dir = tempfile::tempdir().expect("dir");
    let signer = SignerProcess::start(&dir.path().join("signer"), &chain, 10_000_000, 50_000_000).await;
    let database_url = crate::support::fresh_database_url().await;
    let setup = Setup {
        data_dir: &dir.path().join("data"),
        database_url: &database_url,
        rpc_url: &public.url(),
        chain: &chain,
        signer: &signer,
    };
    let mut server = Server::start(&setup, Some(failpoint), 0);
    let key = server.banner["sandbox"]["key"].as_str().expect("key").to_owned();
    let secret = server.banner["sandbox"]["secret"].as_str().expect("secret").to_owned();
    let api = server.api(&key, &secret);
    fund_by_deposit(&api, &chain, signer.hot_wallet, 5_000_000).await;
    let hot_nonce = crate::payout_support::nonce_of(&chain, signer.hot_wallet).await;

    let to = fresh_address();
    let id = withdraw_to(&api, AMOUNT, to, "crash-1").await;
    let approved = approve(&api, &id).await;
    assert_eq!(approved["status"], "processing", "{approved}");
    assert_eq!(server.aborted(60).await, Some(6), "aborted (SIGABRT) at {failpoint}");

    let sent_before_restart = distinct_payments(&public, to);
    match failpoint {
        "payout_after_sign" => {
            assert!(sent_before_restart.is_empty(), "nothing was sent before the crash");
            assert_eq!(chain.balance_of(chain.usdc, to).await, 0);
            assert_eq!(
                crate::payout_support::nonce_of(&chain, signer.hot_wallet).await,
                hot_nonce
            );
        }
        _ => {
            assert_eq!(sent_before_restart.len(), 1, "sent once before the crash");
            chain.mined(&sent_before_restart[0]).await;
            assert_eq!(chain.balance_of(chain.usdc, to).await, AMOUNT);
        }
    }

    let server = Server::start(&setup, None, 1);
    let api = server.api(&key, &secret);
    let paid = settled(&api, &chain, &id, 60).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    // A few more rounds of the runner, and more blocks, change nothing.
    for _ in 0..5 {
        chain.mine(1).await;
        crate::payout_support::pause(300).await;
    }
    let sent = distinct_payments(&public, to);
    assert_eq!(sent.len(), 1, "one signed transaction ever reached the node: {sent:?}");
    if !sent_before_restart.is_empty() {
        assert_eq!(sent, sent_before_restart, "the restart did not sign another");
    }
    let on_chain = transfers_to(&chain, chain.usdc, to).await;
    assert_eq!(on_chain, sent, "exactly one transfer on chain, the one sent");
    assert_eq!(chain.balance_of(chain.usdc, to).await, AMOUNT);
    let paid = withdrawal(&api, &id).await;
    assert_eq!(paid["chain"]["tx_hash"].as_str(), Some(sent[0].as_str()), "{paid}");
    assert_eq!(paid["chain"]["route"], "public", "{paid}");
    assert!(paid["chain"]["block"].as_u64().is_some(), "{paid}");
    assert_eq!(
        crate::payout_support::nonce_of(&chain, signer.hot_wallet).await,
        hot_nonce + 1,
        "the hot wallet sent one transaction"
    );
    assert_eq!(api.balance("USDC").await, (5_000_000 - 1_250_000, 0, 0));
    let signed: Vec<Value> = signer
        .audit()
        .into_iter()
        .filter(|e| e["op"] == "sign_payout" && e["decision"] == "allowed")
        .collect();
    assert!(!signed.is_empty());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_crash_between_signing_and_sending_pays_once() {
    crash_at("payout_after_sign").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_crash_after_sending_pays_once() {
    crash_at("payout_after_send").await;
}

/// Small payouts add up against the signer's rolling 24 h cap, and a
/// restart of the signer does not forget them: the one that would cross it
/// is refused, audited, and the destination gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payouts_daily_cap_holds_across_a_signer_restart() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let mut signer = SignerProcess::start(&dir.path().join("signer"), &chain, 1_000_000, 2_500_000).await;
    let database_url = crate::support::fresh_database_url().await;
    let setup = Setup {
        data_dir: &dir.path().join("data"),
        database_url: &database_url,
        rpc_url: &chain.url,
        chain: &chain,
        signer: &signer,
    };
    let server = Server::start(&setup, None, 0);
    let key = server.banner["sandbox"]["key"].as_str().expect("key").to_owned();
    let secret = server.banner["sandbox"]["secret"].as_str().expect("secret").to_owned();
    let api = server.api(&key, &secret);
    fund_by_deposit(&api, &chain, signer.hot_wallet, 10_000_000).await;

    // Over the per-payout cap: refused whatever the day's total.
    let big = fresh_address();
    let id = withdraw_to(&api, 1_000_001, big, "cap-big").await;
    approve(&api, &id).await;
    let failed = settled(&api, &chain, &id, 60).await;
    assert_eq!(
        (failed["status"].as_str(), failed["failure_code"].as_str()),
        (Some("failed"), Some("signer_refused")),
        "{failed}"
    );

    // Two payouts of 1.00 fit under 2.50.
    for (n, to) in [fresh_address(), fresh_address()].into_iter().enumerate() {
        let id = withdraw_to(&api, 1_000_000, to, &format!("cap-{n}")).await;
        approve(&api, &id).await;
        let paid = settled(&api, &chain, &id, 60).await;
        assert_eq!(paid["status"], "paid", "{paid}");
        assert_eq!(chain.balance_of(chain.usdc, to).await, 1_000_000);
    }

    signer.restart().await;

    // A third 1.00 would make 3.00 within 24 h: refused after the restart.
    let over = fresh_address();
    let id = withdraw_to(&api, 1_000_000, over, "cap-over").await;
    approve(&api, &id).await;
    let failed = settled(&api, &chain, &id, 60).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["failure_code"], "signer_refused", "{failed}");
    // 0.50 still fits (2.50 exactly).
    let last = fresh_address();
    let last_id = withdraw_to(&api, 500_000, last, "cap-last").await;
    approve(&api, &last_id).await;
    let paid = settled(&api, &chain, &last_id, 60).await;
    assert_eq!(paid["status"], "paid", "{paid}");

    chain.mine(3).await;
    crate::payout_support::pause(500).await;
    for refused in [big, over] {
        assert_eq!(chain.balance_of(chain.usdc, refused).await, 0, "refused: nothing paid");
        assert!(transfers_to(&chain, chain.usdc, refused).await.is_empty());
    }
    // The refused amounts went back to available: 10 - 1 - 1 - 0.5.
    assert_eq!(api.balance("USDC").await, (7_500_000, 0, 0));

    let refusals: Vec<Value> = signer
        .audit()
        .into_iter()
        .filter(|e| e["op"] == "sign_payout" && e["decision"] == "refused")
        .collect();
    let reason_for = |to: Address| {
        refusals
            .iter()
            .filter(|e| {
                e["detail"]["to"]
                    .as_str()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&word(to)))
            })
            .map(|e| e["detail"]["reason"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert!(
        reason_for(big).iter().all(|r| r == "over_payout_cap") && !reason_for(big).is_empty(),
        "{refusals:?}"
    );
    assert!(
        reason_for(over).iter().all(|r| r == "over_daily_cap") && !reason_for(over).is_empty(),
        "{refusals:?}"
    );
    let verify = signer.verify();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    drop(server);
}
