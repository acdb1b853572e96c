//! `paygate serve` as a real process on a test chain, for the tests that
//! stop it (SIGKILL or SIGTERM) and start it again on the same data
//! directory, database and signer: [`Node`] is what survives a restart,
//! [`ServerProcess`] one run of the server.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::chain_api_support::{init_signer, signer_bin, Killed};
use crate::chain_support::{word, Chain};
use crate::money_support::Api;

/// A signer seed no other test uses (the signer takes any words).
pub fn random_mnemonic() -> String {
    let words: Vec<String> = (0..12).map(|_| format!("w{:08x}", rand::random::<u32>())).collect();
    words.join(" ")
}

/// `paygate-signer serve` for `chain`'s tokens in `dir`, as its own service
/// (it outlives every run of the server): the process and its socket.
pub fn external_signer(chain: &Chain, dir: &Path) -> (Killed, PathBuf) {
    init_signer(dir, &random_mnemonic());
    let socket = dir.join("signer.sock");
    let child = Command::new(signer_bin())
        .arg("--data-dir")
        .arg(dir)
        .arg("serve")
        .arg("--socket")
        .arg(&socket)
        .args(["--chain-id", &chain.chain_id.to_string()])
        .args(["--token", &word(chain.usdc), "--token", &word(chain.usdt)])
        .env_remove("PAYGATE_SIGNER_SEAL_KEY")
        .stdin(Stdio::null())
        .spawn()
        .expect("paygate-signer serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the signer did not bind its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Killed(child), socket)
}

/// What outlives a run of the server: its data directory, its database and
/// its environment (the chain, the signer).
pub struct Node {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub envs: Vec<(String, String)>,
    /// The sandbox merchant's key, from the first start's banner.
    key: Option<String>,
}

impl Node {
    /// A node on `chain` (`confirmations`, `poll_interval_ms`), with a fresh
    /// database (PostgreSQL when `PAYGATE_TEST_DATABASE_URL` is set).
    pub async fn new(data_dir: PathBuf, chain: &Chain, confirmations: u64, poll_interval_ms: u64) -> Node {
        let envs = [
            ("PAYGATE_CHAINS__TEST__ETHEREUM__RPC_URL", chain.url.clone()),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__CHAIN_ID", chain.chain_id.to_string()),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDC", word(chain.usdc)),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDT", word(chain.usdt)),
            (
                "PAYGATE_CHAINS__TEST__ETHEREUM__CONFIRMATIONS",
                confirmations.to_string(),
            ),
            (
                "PAYGATE_CHAINS__TEST__ETHEREUM__POLL_INTERVAL_MS",
                poll_interval_ms.to_string(),
            ),
            ("PAYGATE_SIGNER_BIN", signer_bin().display().to_string()),
        ];
        let mut envs: Vec<(String, String)> = envs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        for (k, v) in crate::crash::LENIENT_LIMITS {
            envs.push((k.to_owned(), v.to_owned()));
        }
        Node {
            data_dir,
            database_url: crate::support::fresh_database_url().await,
            envs,
            key: None,
        }
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.envs.push((key.to_owned(), value.to_owned()));
    }

    /// Starts `paygate serve` and reads its banner.
    pub fn start(&mut self) -> ServerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
        command
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--json", "serve"])
            .env("PAYGATE_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_DATABASE_URL", &self.database_url)
            .env_remove("PAYGATE_MASTER_KEY")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((url, prefix)) = crate::support::test_redis() {
            command
                .env("PAYGATE_REDIS_URL", url)
                .env("PAYGATE_REDIS_KEY_PREFIX", prefix);
        }
        let mut child = command.spawn().expect("paygate serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("banner");
        let banner: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("banner: {line:?}"));
        if let Some(key) = banner["sandbox"]["key"].as_str() {
            self.key = Some(key.to_owned());
        }
        let ca = std::fs::read(banner["cert_path"].as_str().expect("cert path")).expect("cert");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(20))
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("pem"))
            .build()
            .expect("client");
        let api = Api {
            http,
            base_url: banner["url"].as_str().expect("url").replace("127.0.0.1", "localhost"),
            key: self.key.clone().expect("the sandbox key of the first start"),
            secret: None,
        };
        ServerProcess { child, api }
    }

    /// Opens the node's database, as an operator could.
    pub async fn db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("paygate.db").display())
        } else {
            self.database_url.clone()
        };
        sqlx::AnyPool::connect(&url).await.expect("database")
    }

    /// `paygate ARGS` on this node's data directory, database and environment.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let mut envs: Vec<(&str, &str)> = self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        envs.push(("PAYGATE_DATABASE_URL", &self.database_url));
        crate::support::paygate(&self.data_dir, args, &envs)
    }

    /// Whether `paygate --json ARGS` exits 0 with `"ok": true`, and what it printed.
    pub fn cli_ok(&self, args: &[&str]) -> (bool, String) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.cli(&all);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.success() && report["ok"] == true,
            format!(
                "{} {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// One run of `paygate serve`; killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub api: Api,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it with SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Stops it with SIGTERM and waits for it to exit by itself.
    pub fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "paygate serve exited with {status} on SIGTERM");
                return;
            }
            assert!(Instant::now() < deadline, "paygate serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
pub fn process_ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// A fresh custodial deposit address (`POST /v1/wallet/generate`).
pub async fn new_deposit_address(api: &Api) -> alloy_primitives::Address {
    let wallet = api
        .post("/v1/wallet/generate", serde_json::json!({"network": "ethereum"}))
        .await
        .ok();
    wallet["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address")
}
