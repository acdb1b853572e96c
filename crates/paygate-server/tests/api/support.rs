//! `spawn_app()`: starts the server on port 0 with a fresh data directory
//! and returns what a test needs to talk to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use paygate_sdk::Client;
use paygate_server::clock::{Clock, SystemClock};
use paygate_server::config::Config;
use paygate_server::serve::{self, Running, ServeOptions};
use tempfile::TempDir;

pub struct TestApp {
    pub running: Running,
    pub base_url: String,
    pub ca_pem: Vec<u8>,
    pub merchant_id: String,
    pub key: String,
    pub secret: String,
    pub data_dir: PathBuf,
    _dir: TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with_clock(Arc::new(SystemClock), adjust).await
}

/// Like [`spawn_with`], with the server reading time from `clock`.
pub async fn spawn_with_clock(clock: Arc<dyn Clock>, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    adjust(&mut config);
    config.validate().expect("test config is valid");
    let data_dir = config.data_dir.clone();
    let running = serve::start(ServeOptions {
        config,
        clock,
        master_key: None,
        create_sandbox: true,
    })
    .await
    .expect("server starts");
    let sandbox = running.sandbox.as_ref().expect("sandbox credentials on first start");
    let ca_pem = running
        .certificate
        .as_ref()
        .map(|c| std::fs::read(&c.path).expect("cert"))
        .unwrap_or_default();
    let scheme = if running.certificate.is_some() { "https" } else { "http" };
    TestApp {
        base_url: format!("{scheme}://localhost:{}", running.local_addr.port()),
        ca_pem,
        merchant_id: sandbox.merchant_id.to_string(),
        key: sandbox.key.expose().to_owned(),
        secret: sandbox.secret.expose().to_owned(),
        data_dir,
        running,
        _dir: dir,
    }
}

impl TestApp {
    /// The SDK, authenticated with the sandbox key.
    pub fn sdk(&self) -> Client {
        self.sdk_for(&self.key)
    }

    pub fn sdk_for(&self, key: &str) -> Client {
        Client::builder(&self.base_url)
            .api_key(key)
            .add_root_certificate_pem(self.ca_pem.clone())
            .build()
            .expect("sdk")
    }

    /// A plain HTTPS client that trusts the server's certificate.
    pub fn http(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        for cert in reqwest::Certificate::from_pem_bundle(&self.ca_pem).expect("pem") {
            builder = builder.add_root_certificate(cert);
        }
        builder.build().expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("paygate.db")
    }

    /// Opens the server's SQLite database directly, as an operator (or an
    /// attacker with disk access) could.
    pub async fn raw_db(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!("sqlite://{}", self.db_path().display()))
            .await
            .expect("sqlite")
    }
}

/// Runs the `paygate` binary to completion.
pub fn paygate(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PAYGATE_MASTER_KEY");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().expect("paygate runs")
}

/// `paygate serve` as a child process, for tests that read its output.
pub struct ServeProcess {
    pub child: Child,
    pub banner: serde_json::Value,
    _data_dir: TempDir,
}

impl ServeProcess {
    pub fn start(envs: &[(&str, &str)]) -> ServeProcess {
        use std::io::BufRead as _;
        let data_dir = tempfile::tempdir().expect("temp dir");
        let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
        command
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(["--json", "serve"])
            .env("PAYGATE_LISTEN", "127.0.0.1:0")
            .env_remove("PAYGATE_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn paygate serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("banner line");
        let banner: serde_json::Value = serde_json::from_str(&line).expect("banner is JSON");
        ServeProcess {
            child,
            banner,
            _data_dir: data_dir,
        }
    }

    pub fn port(&self) -> u16 {
        let listen = self.banner["listen"].as_str().expect("listen");
        listen.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
    }

    /// Stops the server (SIGTERM) and returns everything it logged.
    pub fn stop(mut self) -> String {
        use std::io::Read as _;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let mut logs = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut logs);
        }
        let _ = self.child.wait();
        logs
    }
}
