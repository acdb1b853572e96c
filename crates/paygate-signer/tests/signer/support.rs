//! Helpers: the signer binary (init, serve, ask, verify, allow) and a real
//! anvil with the test tokens deployed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paygate_signer::eth::keccak256;
use serde_json::{json, Value};

pub const SIGNER: &str = env!("CARGO_BIN_EXE_paygate-signer");
pub const MNEMONIC: &str = "test test test test test test test test test test test junk";
const USDC_BIN: &str = include_str!("../../../../devchain/build/TestUSDC.bin");
const USDT_BIN: &str = include_str!("../../../../devchain/build/TestUSDT.bin");
/// The policy settings the signer also reads from the environment; cleared
/// so the test's own environment cannot change a test.
const POLICY_ENV: [&str; 4] = [
    "PAYGATE_SIGNER__PAYOUT_CAP",
    "PAYGATE_SIGNER__DAILY_CAP",
    "PAYGATE_SIGNER__MAX_FEE_PER_GAS_GWEI",
    "PAYGATE_SIGNER__ALLOWLIST_ONLY",
];

pub struct Killed(pub Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Initialises a signer from the anvil mnemonic; returns the hot wallet.
pub fn init(dir: &Path) -> String {
    let mut child = Command::new(SIGNER)
        .args(["--data-dir", dir.to_str().unwrap(), "init", "--mnemonic-stdin"])
        .env_remove("PAYGATE_SIGNER_SEAL_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(MNEMONIC.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

pub fn serve(dir: &Path, policy: &[&str], as_nobody: bool) -> (Killed, PathBuf) {
    serve_with_env(dir, policy, as_nobody, &[])
}

/// Starts `serve` and waits until its socket answers.
pub fn serve_with_env(dir: &Path, policy: &[&str], as_nobody: bool, env: &[(&str, &str)]) -> (Killed, PathBuf) {
    let socket = dir.join("signer.sock");
    let _ = std::fs::remove_file(&socket);
    let mut args = vec![
        "--data-dir",
        dir.to_str().unwrap(),
        "serve",
        "--socket",
        socket.to_str().unwrap(),
    ];
    args.extend_from_slice(policy);
    let mut command = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", SIGNER]);
        c
    } else {
        Command::new(SIGNER)
    };
    command.args(&args).env_remove("PAYGATE_SIGNER_SEAL_KEY");
    for key in POLICY_ENV {
        command.env_remove(key);
    }
    let mut child = Killed(command.envs(env.iter().copied()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(&socket).is_err() {
        assert!(child.0.try_wait().unwrap().is_none(), "the signer exited");
        assert!(Instant::now() < deadline, "the signer did not bind its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, socket)
}

pub fn ask(socket: &Path, request: &Value) -> Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    writeln!(stream, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

/// Runs a `paygate-signer --data-dir DIR ARGS...` command.
pub fn command(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut command = Command::new(SIGNER);
    command
        .args(["--data-dir", dir.to_str().unwrap()])
        .args(args)
        .env_remove("PAYGATE_SIGNER_SEAL_KEY");
    for key in POLICY_ENV {
        command.env_remove(key);
    }
    command.output().unwrap()
}

pub fn verify(dir: &Path) -> std::process::Output {
    command(dir, &["verify"])
}

/// The audit log's entries.
pub fn audit_entries(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("audit.log"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

pub fn anvil_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PAYGATE_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("PAYGATE_DEVCHAIN_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/paygate-devchain"));
    let p = home.join("bin/anvil");
    p.exists().then_some(p)
}

/// A running anvil with an unlocked funded account.
pub struct Anvil {
    pub url: String,
    pub funder: String,
    _child: Killed,
}

/// Starts anvil on a free port; None (the test says SKIPPED) when anvil is
/// not installed.
pub async fn anvil() -> Option<Anvil> {
    let Some(path) = anvil_path() else {
        eprintln!("SKIPPED: anvil is not installed (run scripts/devchain-deps.sh)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Killed(
        Command::new(path)
            .args(["--port", &port.to_string(), "--chain-id", "31337", "--silent"])
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "anvil did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let funder = rpc(&url, "eth_accounts", json!([])).await[0]
        .as_str()
        .unwrap()
        .to_owned();
    Some(Anvil {
        url,
        funder,
        _child: child,
    })
}

pub async fn rpc(url: &str, method: &str, params: Value) -> Value {
    let body: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("error").is_none(), "{method}: {body}");
    body["result"].clone()
}

pub async fn mined(url: &str, hash: &str) -> Value {
    for _ in 0..100 {
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{hash} not mined");
}

pub fn word(hex_address: &str) -> String {
    format!("{:0>64}", hex_address.trim_start_matches("0x").to_lowercase())
}

pub fn call(signature: &str, args: &[String]) -> String {
    let selector = hex::encode(&keccak256(signature.as_bytes())[..4]);
    format!("0x{selector}{}", args.concat())
}

pub async fn balance_of(url: &str, token: &str, holder: &str) -> u128 {
    let out = rpc(
        url,
        "eth_call",
        json!([{"to": token, "data": call("balanceOf(address)", &[word(holder)])}, "latest"]),
    )
    .await;
    u128::from_str_radix(out.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Which test token: `TestUSDC` returns true from `transfer`, `TestUSDT`
/// returns nothing.
#[derive(Clone, Copy)]
pub enum TestToken {
    Usdc,
    Usdt,
}

impl Anvil {
    /// Deploys a test token; returns its address.
    pub async fn deploy(&self, token: TestToken) -> String {
        let (bin, name, symbol) = match token {
            TestToken::Usdc => (USDC_BIN, "Test USD Coin", "USDC"),
            TestToken::Usdt => (USDT_BIN, "Test Tether USD", "USDT"),
        };
        // Constructor (string name, string symbol), each under 32 bytes.
        let padded = |text: &str| format!("{:0<64}", hex::encode(text));
        let length = |text: &str| format!("{:064x}", text.len());
        let ctor = [
            word("40"),
            word("80"),
            length(name),
            padded(name),
            length(symbol),
            padded(symbol),
        ]
        .concat();
        let deploy = self
            .send(json!({"data": format!("0x{}{ctor}", bin.trim()), "gas": "0x300000"}))
            .await;
        mined(&self.url, &deploy).await["contractAddress"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends a transaction from the funder; returns its hash.
    pub async fn send(&self, mut tx: Value) -> String {
        tx["from"] = json!(self.funder);
        let hash = rpc(&self.url, "eth_sendTransaction", json!([tx])).await;
        hash.as_str().unwrap().to_owned()
    }

    /// Mints `amount` of `token` to `holder` and waits for it.
    pub async fn mint(&self, token: &str, holder: &str, amount: u128) {
        let data = call("mint(address,uint256)", &[word(holder), format!("{amount:064x}")]);
        let hash = self.send(json!({"to": token, "data": data})).await;
        assert_eq!(mined(&self.url, &hash).await["status"], "0x1");
    }

    /// Sends a raw transaction the signer signed; returns the chain's hash.
    pub async fn send_raw(&self, signed: &Value) -> String {
        assert_eq!(signed["ok"], true, "not signed: {signed}");
        let hash = rpc(&self.url, "eth_sendRawTransaction", json!([signed["raw_tx"]])).await;
        assert_eq!(hash, signed["tx_hash"], "the signer's hash is the chain's");
        hash.as_str().unwrap().to_owned()
    }
}
