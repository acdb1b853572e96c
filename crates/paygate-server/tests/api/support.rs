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
    /// Empty for SQLite in `data_dir`, else the PostgreSQL database of this app.
    pub database_url: String,
    pub base_url: String,
    pub ca_pem: Vec<u8>,
    pub merchant_id: String,
    pub key: String,
    pub secret: String,
    pub data_dir: PathBuf,
    _dir: TempDir,
}

/// Another server on an app's database (see [`TestApp::second_instance`]).
pub struct Instance {
    pub running: Running,
    pub base_url: String,
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
        admin_listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.path().join("data"),
        database_url: fresh_database_url().await,
        ..Config::default()
    };
    if let Some((url, prefix)) = test_redis() {
        config.redis_url = url;
        config.redis_key_prefix = prefix;
    }
    adjust(&mut config);
    config.validate().expect("test config is valid");
    let data_dir = config.data_dir.clone();
    let database_url = config.database_url.clone();
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
        database_url,
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

    pub fn is_postgres(&self) -> bool {
        !self.database_url.is_empty()
    }

    /// Opens the server's database directly, as an operator (or an attacker
    /// with access to it) could. Queries use `$N` placeholders, which both
    /// backends accept.
    pub async fn raw_db(&self) -> sqlx::AnyPool {
        sqlx::any::install_default_drivers();
        let url = if self.is_postgres() {
            self.database_url.clone()
        } else {
            format!("sqlite://{}", self.db_path().display())
        };
        sqlx::AnyPool::connect(&url).await.expect("database")
    }

    /// Starts another server on this app's database and data directory (so
    /// the same master key and certificate), as a second instance behind a
    /// load balancer would run. Shut it down with `Running::shutdown`.
    pub async fn second_instance(&self) -> Instance {
        let config = Config {
            listen: "127.0.0.1:0".parse().expect("addr"),
            admin_listen: "127.0.0.1:0".parse().expect("addr"),
            ..self.running.state.config().clone()
        };
        let running = serve::start(ServeOptions {
            config,
            clock: Arc::new(SystemClock),
            master_key: None,
            create_sandbox: false,
        })
        .await
        .expect("second instance starts");
        Instance {
            base_url: format!("https://localhost:{}", running.local_addr.port()),
            running,
        }
    }

    /// Runs the `paygate` CLI against this app's data directory and database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        paygate(&self.data_dir, args, &[("PAYGATE_DATABASE_URL", &self.database_url)])
    }
}

/// The database for one app: empty (SQLite in its data directory) unless
/// `PAYGATE_TEST_DATABASE_URL` names a PostgreSQL server, on which a new
/// database is then created, so every app starts from nothing.
pub async fn fresh_database_url() -> String {
    let Ok(admin_url) = std::env::var("PAYGATE_TEST_DATABASE_URL") else {
        return String::new();
    };
    if admin_url.is_empty() {
        return String::new();
    }
    sqlx::any::install_default_drivers();
    let name = format!("paygate_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::AnyPool::connect(&admin_url)
        .await
        .expect("PAYGATE_TEST_DATABASE_URL answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .expect("create database");
    admin.close().await;
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
    let server = base.rsplit_once('/').map_or(base, |(server, _db)| server);
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// The Redis every app shares when `PAYGATE_TEST_REDIS_URL` names one, with
/// a key prefix of its own, so apps never share a counter unless a test
/// gives them the same prefix on purpose.
pub fn test_redis() -> Option<(String, String)> {
    let url = std::env::var("PAYGATE_TEST_REDIS_URL").ok().filter(|u| !u.is_empty())?;
    Some((url, format!("paygate-test:{}:", uuid::Uuid::new_v4().simple())))
}

/// [`fresh_database_url`] for synchronous tests.
pub fn fresh_database_url_blocking() -> String {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(fresh_database_url())
}

/// Runs the `paygate` binary to completion.
pub fn paygate(data_dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_paygate"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PAYGATE_MASTER_KEY")
        .env_remove("PAYGATE_DATABASE_URL");
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
            .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_DATABASE_URL", fresh_database_url_blocking())
            .env_remove("PAYGATE_MASTER_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some((url, prefix)) = test_redis() {
            command
                .env("PAYGATE_REDIS_URL", url)
                .env("PAYGATE_REDIS_KEY_PREFIX", prefix);
        }
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

/// A TLS connection to the server that trusts its generated CA.
pub async fn tls_connect(
    ca_pem: &[u8],
    server: std::net::SocketAddr,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("tls")
}
