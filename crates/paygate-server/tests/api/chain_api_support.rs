//! A real chain and a real signer for the stablecoin API tests: anvil from
//! `$PAYGATE_ANVIL` (or the devchain's install) on a free port, the test
//! tokens of devchain/build deployed to it, and the `paygate-signer` binary
//! of this build with a seed the test chooses.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paygate_server::chain::config::{EvmChain, Token};
use paygate_server::config::Config;
use serde_json::{json, Value};

const USDC_BIN: &str = include_str!("../../../../devchain/build/TestUSDC.bin");
const USDT_BIN: &str = include_str!("../../../../devchain/build/TestUSDT.bin");
pub const CHAIN_ID: u64 = 31337;
/// The development chain's well-known mnemonic: deposit key `i` is anvil's account `i`.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";
/// Anvil's accounts 0, 1 and 2 (`m/44'/60'/0'/0/0..2` of [`DEV_MNEMONIC`]).
pub const DEV_ACCOUNTS: [&str; 3] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
];

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Anvil's binary: `$PAYGATE_ANVIL`, else where scripts/devchain-deps.sh
/// installs it; None (the test then says it is skipped) when neither exists.
pub fn anvil_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PAYGATE_ANVIL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("PAYGATE_DEVCHAIN_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/paygate-devchain"));
    let path = home.join("bin/anvil");
    path.exists().then_some(path)
}

/// The `paygate-signer` binary built with this test binary (`cargo build`
/// of the workspace puts it in the target directory), or `PAYGATE_SIGNER_BIN`.
pub fn signer_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PAYGATE_SIGNER_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable");
    // target/debug/deps/api-… -> target/debug/paygate-signer
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("paygate-signer");
    assert!(
        path.is_file(),
        "{} is missing: build it first (cargo build -p paygate-signer)",
        path.display()
    );
    path
}

pub struct Anvil {
    pub url: String,
    pub usdc: String,
    pub usdt: String,
    _process: Killed,
}

impl Anvil {
    /// Starts anvil and deploys test USDC and USDT; None when anvil is not installed.
    pub async fn start() -> Option<Anvil> {
        let Some(bin) = anvil_path() else {
            eprintln!("SKIPPED: anvil is not installed (run scripts/devchain-deps.sh or set PAYGATE_ANVIL)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let process = Killed(
            Command::new(bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--chain-id", &CHAIN_ID.to_string(), "--silent"])
                .stdout(Stdio::null())
                .spawn()
                .expect("anvil starts"),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while try_rpc(&url, "eth_chainId", json!([])).await.is_none() {
            assert!(Instant::now() < deadline, "anvil did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let usdc = deploy(&url, USDC_BIN, "Test USD Coin", "USDC").await;
        let usdt = deploy(&url, USDT_BIN, "Test Tether USD", "USDT").await;
        Some(Anvil {
            url,
            usdc,
            usdt,
            _process: process,
        })
    }

    /// The test chain section for this anvil with the given tokens.
    pub fn chain(&self, tokens: &[Token], confirmations: u64) -> EvmChain {
        EvmChain {
            rpc_url: self.url.clone(),
            chain_id: CHAIN_ID,
            private_rpc_url: None,
            private_timeout_blocks: 25,
            confirmations,
            poll_interval: Duration::from_millis(200),
            tokens: tokens
                .iter()
                .map(|t| {
                    let contract = match t {
                        Token::Usdc => &self.usdc,
                        Token::Usdt => &self.usdt,
                    };
                    (*t, contract.clone())
                })
                .collect(),
        }
    }

    /// `PAYGATE_*` variables configuring this chain for `paygate serve`.
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("PAYGATE_CHAINS__TEST__ETHEREUM__RPC_URL".to_owned(), self.url.clone()),
            (
                "PAYGATE_CHAINS__TEST__ETHEREUM__CHAIN_ID".to_owned(),
                CHAIN_ID.to_string(),
            ),
            (
                "PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDC".to_owned(),
                self.usdc.clone(),
            ),
        ]
    }
}

async fn try_rpc(url: &str, method: &str, params: Value) -> Option<Value> {
    let body: Value = reqwest::Client::new()
        .post(url)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    assert!(body.get("error").is_none(), "{method}: {body}");
    Some(body["result"].clone())
}

pub async fn rpc(url: &str, method: &str, params: Value) -> Value {
    try_rpc(url, method, params).await.expect("anvil answers")
}

/// ABI encoding of the constructor's `(string, string)` (short ASCII).
fn constructor_args(a: &str, b: &str) -> String {
    fn word(n: usize) -> String {
        format!("{n:064x}")
    }
    fn string(s: &str) -> String {
        let hex = hex::encode(s);
        let padded = format!("{hex:0<width$}", width = hex.len().div_ceil(64).max(1) * 64);
        format!("{}{padded}", word(s.len()))
    }
    let first = string(a);
    format!("{}{}{first}{}", word(64), word(64 + first.len() / 2), string(b))
}

async fn deploy(url: &str, bin: &str, name: &str, symbol: &str) -> String {
    let accounts = rpc(url, "eth_accounts", json!([])).await;
    let data = format!("0x{}{}", bin.trim(), constructor_args(name, symbol));
    let tx = json!([{"from": accounts[0], "data": data, "gas": "0x300000"}]);
    let hash = rpc(url, "eth_sendTransaction", tx).await;
    let mut receipt = Value::Null;
    for _ in 0..200 {
        receipt = rpc(url, "eth_getTransactionReceipt", json!([hash.clone()])).await;
        if !receipt.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(receipt["status"], "0x1", "{name} deploys");
    receipt["contractAddress"]
        .as_str()
        .expect("contract address")
        .to_owned()
}

/// Creates a signer seed in `dir` from `mnemonic` (through stdin only).
pub fn init_signer(dir: &Path, mnemonic: &str) {
    let mut child = Command::new(signer_bin())
        .arg("--data-dir")
        .arg(dir)
        .args(["init", "--mnemonic-stdin"])
        .env_remove("PAYGATE_SIGNER_SEAL_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("signer init");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(mnemonic.as_bytes())
        .expect("mnemonic");
    assert!(child.wait().expect("init").success(), "signer init");
}

/// A signer serving `anvil`'s chain on `dir/signer.sock`, seeded from `mnemonic`.
pub fn start_signer(dir: &Path, mnemonic: &str, anvil: &Anvil) -> (Killed, PathBuf) {
    init_signer(dir, mnemonic);
    let socket = dir.join("signer.sock");
    let child = Killed(
        Command::new(signer_bin())
            .arg("--data-dir")
            .arg(dir)
            .arg("serve")
            .arg("--socket")
            .arg(&socket)
            .args([
                "--chain-id",
                &CHAIN_ID.to_string(),
                "--token",
                &anvil.usdc,
                "--token",
                &anvil.usdt,
            ])
            .env_remove("PAYGATE_SIGNER_SEAL_KEY")
            .spawn()
            .expect("signer serve"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the signer did not bind its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, socket)
}

/// Sets `config` to take stablecoins on `chain` through the signer at `socket`.
pub fn with_chain(config: &mut Config, chain: EvmChain, socket: &Path) {
    config.chains.test = Some(chain);
    config.signer.socket = Some(socket.to_owned());
}

/// The direct children of `pid`: (pid, command name).
pub fn process_children(pid: u32) -> Vec<(u32, String)> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            children.push((child, name));
        }
    }
    children
}

/// Which of `needles` appear anywhere in the readable memory of process
/// `pid`; None when its memory cannot be read at all.
pub fn memory_holds(pid: u32, needles: &[&[u8]]) -> Option<Vec<bool>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let patterns: Vec<regex::bytes::Regex> = needles
        .iter()
        .map(|n| {
            let escaped: String = n.iter().map(|b| format!("\\x{b:02x}")).collect();
            regex::bytes::Regex::new(&format!("(?s-u){escaped}")).expect("pattern")
        })
        .collect();
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut found = vec![false; needles.len()];
    let mut read_any = false;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with('r') || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(start, 16), u64::from_str_radix(end, 16)) else {
            continue;
        };
        const CHUNK: u64 = 8 << 20;
        let mut at = start;
        while at < end {
            let len = (end - at).min(CHUNK + overlap as u64);
            let mut buf = vec![0u8; len as usize];
            if mem.seek(SeekFrom::Start(at)).is_err() || mem.read_exact(&mut buf).is_err() {
                break;
            }
            read_any = true;
            for (i, pattern) in patterns.iter().enumerate() {
                found[i] |= pattern.is_match(&buf);
            }
            at += CHUNK;
        }
    }
    read_any.then_some(found)
}

/// A server taking stablecoins on a fresh anvil through a signer seeded
/// with [`DEV_MNEMONIC`] (so deposit index `i` is [`DEV_ACCOUNTS`]`[i]`).
pub struct ChainApp {
    pub anvil: Anvil,
    pub app: crate::support::TestApp,
    _signer: Killed,
    _signer_dir: tempfile::TempDir,
}

impl ChainApp {
    /// None (the test says it is skipped) when anvil is not installed.
    pub async fn start(tokens: &[Token], confirmations: u64) -> Option<ChainApp> {
        let anvil = Anvil::start().await?;
        let signer_dir = tempfile::tempdir().expect("temp dir");
        let (signer, socket) = start_signer(signer_dir.path(), DEV_MNEMONIC, &anvil);
        let chain = anvil.chain(tokens, confirmations);
        let app = crate::support::spawn_with(|c| {
            crate::money_support::generous_limits(c);
            with_chain(c, chain, &socket);
        })
        .await;
        Some(ChainApp {
            anvil,
            app,
            _signer: signer,
            _signer_dir: signer_dir,
        })
    }
}
