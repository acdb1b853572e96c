//! A real Paygate server for the SDK's tests: in-process on port 0, SQLite
//! in a temporary data directory, its generated certificate trusted by the
//! clients the tests build.

use std::sync::Arc;

use paygate_sdk::{Client, ClientBuilder, ListParams};
use paygate_server::clock::{Clock, SystemClock};
use paygate_server::config::Config;
use paygate_server::serve::{self, Running, ServeOptions};
use tempfile::TempDir;

pub struct Server {
    pub running: Running,
    pub base_url: String,
    pub ca_pem: Vec<u8>,
    pub ca_path: std::path::PathBuf,
    pub merchant_id: String,
    pub key: String,
    pub secret: String,
    _dir: TempDir,
}

pub async fn start() -> Server {
    start_with(Arc::new(SystemClock), |_| {}).await
}

pub async fn start_with(clock: Arc<dyn Clock>, adjust: impl FnOnce(&mut Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    adjust(&mut config);
    config.validate().expect("test config is valid");
    let running = serve::start(ServeOptions {
        config,
        clock,
        master_key: None,
        create_sandbox: true,
    })
    .await
    .expect("server starts");
    let sandbox = running.sandbox.as_ref().expect("sandbox credentials");
    let ca_path = running
        .certificate
        .as_ref()
        .expect("self-signed certificate")
        .path
        .clone();
    Server {
        base_url: format!("https://localhost:{}", running.local_addr.port()),
        ca_pem: std::fs::read(&ca_path).unwrap(),
        ca_path,
        merchant_id: sandbox.merchant_id.to_string(),
        key: sandbox.key.expose().to_owned(),
        secret: sandbox.secret.expose().to_owned(),
        running,
        _dir: dir,
    }
}

impl Server {
    /// A builder with the sandbox key, trusting the server's certificate.
    pub fn builder(&self) -> ClientBuilder {
        self.builder_for(&self.base_url)
    }

    /// The same, for another address of the server (a proxy in front of it).
    pub fn builder_for(&self, base_url: &str) -> ClientBuilder {
        Client::builder(base_url)
            .api_key(&self.key)
            .merchant_id(&self.merchant_id)
            .add_root_certificate_pem(self.ca_pem.clone())
    }

    /// The sandbox key with its secret: signed requests.
    pub fn signed(&self) -> Client {
        self.builder().api_secret(&self.secret).build().unwrap()
    }

    /// How many audit rows have this action (e.g. `session.created`: one per
    /// token exchange).
    pub async fn audit_count(&self, action: &str) -> usize {
        use futures_util::TryStreamExt as _;
        let rows: Vec<_> = self
            .signed()
            .list_audit_events(&ListParams::default().limit(100))
            .items()
            .try_collect()
            .await
            .unwrap();
        rows.iter().filter(|row| row.action == action).count()
    }
}
