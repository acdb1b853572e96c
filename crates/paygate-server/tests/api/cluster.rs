//! Several `paygate serve` processes (the real binary) on one PostgreSQL
//! database and one Redis, as a scaled-out deployment runs them: one master
//! key, one certificate, one database, one Redis key prefix. Tests ask for a
//! [`Cluster`] with [`Cluster::start`] and talk to each instance over HTTPS.

use std::io::BufRead as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::money_support::Api;
use crate::support::{fresh_database_url, paygate, test_redis};

/// Limits far above what a test sends, as `PAYGATE_*` settings.
pub const LENIENT_LIMITS: [(&str, &str); 4] = [
    ("PAYGATE_RATE_LIMITS__FINANCIAL__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__MERCHANT__LIMIT", "1000000"),
    ("PAYGATE_RATE_LIMITS__WALLET__LIMIT", "1000000"),
];

/// One running `paygate serve`.
pub struct Instance {
    child: Child,
    pub addr: SocketAddr,
    pub base_url: String,
}

impl Instance {
    /// Kills the process with SIGKILL, without warning.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// N instances sharing a fresh PostgreSQL database and a Redis key prefix.
pub struct Cluster {
    pub instances: Vec<Instance>,
    pub database_url: String,
    pub redis_url: String,
    pub redis_key_prefix: String,
    /// Trusted by every client: the certificate all instances serve.
    pub ca_pem: Vec<u8>,
    pub merchant_id: String,
    pub key: String,
    pub secret: String,
    master_key: String,
    dir: TempDir,
}

/// The PostgreSQL server and Redis that multi-instance tests need, or `None`
/// (with a line saying why the test is skipped) when the environment lacks
/// them.
pub fn services(test: &str) -> Option<(String, String)> {
    let database = std::env::var("PAYGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"));
    match (database, test_redis()) {
        (Some(database), Some((redis, _))) => Some((database, redis)),
        _ => {
            println!(
                "SKIPPED {test}: multi-instance tests need PAYGATE_TEST_DATABASE_URL (PostgreSQL) and PAYGATE_TEST_REDIS_URL"
            );
            None
        }
    }
}

impl Cluster {
    /// Starts `count` instances with `settings` (`PAYGATE_*` variables) on a
    /// fresh database. The first start creates the sandbox merchant and the
    /// certificate; the others serve that certificate from its files.
    pub async fn start(redis_url: &str, count: usize, settings: &[(&str, &str)]) -> Cluster {
        assert!(count >= 1);
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = Cluster {
            instances: Vec::new(),
            database_url: fresh_database_url().await,
            redis_url: redis_url.to_owned(),
            redis_key_prefix: format!("paygate-test:{}:", uuid::Uuid::new_v4().simple()),
            ca_pem: Vec::new(),
            merchant_id: String::new(),
            key: String::new(),
            secret: String::new(),
            master_key: hex::encode(rand::random::<[u8; 32]>()),
            dir,
        };
        let (first, banner) = cluster.spawn(0, settings, &[]);
        let sandbox = &banner["sandbox"];
        cluster.merchant_id = sandbox["merchant_id"].as_str().expect("sandbox merchant").to_owned();
        cluster.key = sandbox["key"].as_str().expect("sandbox key").to_owned();
        cluster.secret = sandbox["secret"].as_str().expect("sandbox secret").to_owned();
        cluster.ca_pem = std::fs::read(cluster.tls_dir().join("cert.pem")).expect("certificate");
        cluster.instances.push(first);
        for n in 1..count {
            let (cert, key) = (cluster.tls_dir().join("cert.pem"), cluster.tls_dir().join("key.pem"));
            let tls = [
                ("PAYGATE_TLS__MODE", "files"),
                ("PAYGATE_TLS__CERT", cert.to_str().expect("utf-8 path")),
                ("PAYGATE_TLS__KEY", key.to_str().expect("utf-8 path")),
            ];
            let (instance, _) = cluster.spawn(n, settings, &tls);
            cluster.instances.push(instance);
        }
        cluster
    }

    fn data_dir(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("instance-{n}"))
    }

    fn tls_dir(&self) -> PathBuf {
        self.data_dir(0).join("tls")
    }

    /// Starts instance `n` and reads its banner; its log goes beside its
    /// data directory.
    fn spawn(&self, n: usize, settings: &[(&str, &str)], extra: &[(&str, &str)]) -> (Instance, Value) {
        let log = std::fs::File::create(self.dir.path().join(format!("instance-{n}.log"))).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_paygate"))
            .arg("--data-dir")
            .arg(self.data_dir(n))
            .args(["--json", "serve"])
            .env("PAYGATE_LISTEN", "127.0.0.1:0")
            .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .envs(self.shared_env())
            .envs(settings.iter().copied())
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn paygate serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line).expect("banner");
        let banner: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("instance {n} did not start: {line}{}", self.log(n)));
        let addr: SocketAddr = banner["listen"].as_str().and_then(|l| l.parse().ok()).expect("listen");
        let instance = Instance {
            child,
            addr,
            base_url: format!("https://localhost:{}", addr.port()),
        };
        (instance, banner)
    }

    /// What every instance and every CLI run of this cluster shares.
    fn shared_env(&self) -> [(&str, &str); 4] {
        [
            ("PAYGATE_DATABASE_URL", self.database_url.as_str()),
            ("PAYGATE_REDIS_URL", self.redis_url.as_str()),
            ("PAYGATE_REDIS_KEY_PREFIX", self.redis_key_prefix.as_str()),
            ("PAYGATE_MASTER_KEY", self.master_key.as_str()),
        ]
    }

    /// Instance `n`'s log so far.
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("instance-{n}.log"))).unwrap_or_default()
    }

    /// An HTTPS client trusting the cluster's certificate.
    pub fn http(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(15));
        for cert in reqwest::Certificate::from_pem_bundle(&self.ca_pem).expect("pem") {
            builder = builder.add_root_certificate(cert);
        }
        builder.build().expect("client")
    }

    /// The sandbox key (with its secret) speaking to instance `n`.
    pub fn api(&self, n: usize) -> Api {
        Api {
            http: self.http(),
            base_url: self.instances[n].base_url.clone(),
            key: self.key.clone(),
            secret: Some(self.secret.clone()),
        }
    }

    /// Runs the `paygate` CLI against the cluster's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        paygate(&self.data_dir(0), args, &self.shared_env())
    }

    /// `ledger verify` and `audit verify`, each asserted clean.
    pub fn assert_verified(&self) {
        for check in [["--json", "ledger", "verify"], ["--json", "audit", "verify"]] {
            let out = self.cli(&check);
            assert!(
                out.status.success(),
                "{check:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            instance.kill();
        }
        // A failed test shows what the servers logged about it.
        if std::thread::panicking() {
            for n in 0..self.instances.len() {
                let log = self.log(n);
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- instance {n} log (last lines, newest first)");
                for line in tail {
                    eprintln!("{line}");
                }
            }
        }
    }
}
