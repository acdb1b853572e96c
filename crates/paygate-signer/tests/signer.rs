//! Black-box tests of the paygate-signer binary: its socket, its policy, its
//! audit log and attestation, and transactions it signs executed by a real
//! anvil (skipped, saying so, when anvil is not installed: run
//! scripts/devchain-deps.sh).

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paygate_signer::eth::keccak256;
use serde_json::{json, Value};

const SIGNER: &str = env!("CARGO_BIN_EXE_paygate-signer");
const MNEMONIC: &str = "test test test test test test test test test test test junk";
const USDT_BIN: &str = include_str!("../../../devchain/build/TestUSDT.bin");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn init(dir: &Path) -> String {
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

fn serve(dir: &Path, policy: &[&str], as_nobody: bool) -> (Killed, PathBuf) {
    let socket = dir.join("signer.sock");
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
    let child = Killed(
        command
            .args(&args)
            .env_remove("PAYGATE_SIGNER_SEAL_KEY")
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(Instant::now() < deadline, "the signer did not bind its socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, socket)
}

fn ask(socket: &Path, request: &Value) -> Value {
    let mut stream = UnixStream::connect(socket).unwrap();
    writeln!(stream, "{request}").unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

fn verify(dir: &Path) -> std::process::Output {
    Command::new(SIGNER)
        .args(["--data-dir", dir.to_str().unwrap(), "verify"])
        .output()
        .unwrap()
}

#[test]
fn intents_only_default_deny_audited_and_attested() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let hot = init(&dir);
    let token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let policy = ["--chain-id", "31337", "--token", token];
    let (_child, socket) = serve(&dir, &policy, false);

    assert_eq!(
        std::fs::metadata(&socket)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o600
    );
    // Deposit index 0 of the anvil mnemonic is its well-known first account.
    let a = ask(&socket, &json!({"op": "derive_address", "index": 0}));
    assert_eq!(a["address"], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(ask(&socket, &json!({"op": "hot_wallet"}))["address"], hot.as_str());

    for refused in [
        json!({"op": "sign_bytes", "data": "0xdeadbeef"}),
        json!({"op": "sign_message", "message": "hello"}),
        json!({"op": "export_key", "index": 0}),
        json!({"op": "sign_sweep", "index": 0, "token": "0x0000000000000000000000000000000000000001", "amount": "1", "nonce": 0, "gas_limit": 60000, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "1"}),
        json!({"op": "sign_gas_topup", "index": 0, "value_wei": "1000000000000000000", "nonce": 0, "gas_limit": 21000, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "1"}),
    ] {
        let answer = ask(&socket, &refused);
        assert_eq!(answer["ok"], false, "{refused} was not refused");
        assert!(answer.get("raw_tx").is_none() && answer.get("address").is_none());
        assert!(!answer.to_string().contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478"));
    }

    let out = verify(&dir);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert_eq!(log.matches("\"refused\"").count(), 5);
    assert!(
        !log.contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478"),
        "no key in the audit log"
    );

    let out = Command::new(SIGNER)
        .args(["--data-dir", dir.to_str().unwrap(), "attest", "--json"])
        .args(policy)
        .output()
        .unwrap();
    let attest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(attest["tee"], "none");
    assert_eq!(attest["hot_wallet"], hot.as_str());
    let binary = std::fs::read(SIGNER).unwrap();
    use sha2::Digest as _;
    assert_eq!(attest["binary_sha256"], hex::encode(sha2::Sha256::digest(&binary)));
    assert_eq!(attest["policy_sha256"].as_str().unwrap().len(), 64);
    let other: Value = serde_json::from_slice(
        &Command::new(SIGNER)
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "attest",
                "--json",
                "--chain-id",
                "1",
                "--token",
                token,
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_ne!(other["policy_sha256"], attest["policy_sha256"]);

    // An edited decision breaks the chain.
    std::fs::write(dir.join("audit.log"), log.replacen("\"refused\"", "\"allowed\"", 1)).unwrap();
    assert!(!verify(&dir).status.success());
}

#[test]
fn a_peer_with_another_uid_is_refused() {
    if !nix_root() {
        eprintln!("SKIPPED: the peer-uid test runs the signer as uid 65534 and needs root and setpriv");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    init(&dir);
    let chown = Command::new("chown")
        .args(["-R", "65534:65534", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (_child, socket) = serve(&dir, &["--chain-id", "31337"], true);
    // Root passes the socket's mode; the signer's own uid check still refuses it.
    let answer = ask(&socket, &json!({"op": "derive_address", "index": 0}));
    assert_eq!(answer, json!({"ok": false, "error": "peer_refused"}));
}

fn nix_root() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    uid.unwrap_or(false) && Command::new("setpriv").arg("--version").output().is_ok()
}

fn anvil_path() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PAYGATE_ANVIL") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var("PAYGATE_DEVCHAIN_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/paygate-devchain"));
    let p = home.join("bin/anvil");
    p.exists().then_some(p)
}

async fn rpc(url: &str, method: &str, params: Value) -> Value {
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

async fn mined(url: &str, hash: &str) -> Value {
    for _ in 0..100 {
        let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).await;
        if !receipt.is_null() {
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{hash} not mined");
}

fn word(hex_address: &str) -> String {
    format!("{:0>64}", hex_address.trim_start_matches("0x").to_lowercase())
}

fn call(signature: &str, args: &[String]) -> String {
    let selector = hex::encode(&keccak256(signature.as_bytes())[..4]);
    format!("0x{selector}{}", args.concat())
}

async fn balance_of(url: &str, token: &str, holder: &str) -> u128 {
    let out = rpc(
        url,
        "eth_call",
        json!([{"to": token, "data": call("balanceOf(address)", &[word(holder)])}, "latest"]),
    )
    .await;
    u128::from_str_radix(out.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[tokio::test]
async fn top_up_and_sweep_signed_by_the_signer_execute_on_anvil() {
    let Some(anvil) = anvil_path() else {
        eprintln!("SKIPPED: anvil is not installed (run scripts/devchain-deps.sh)");
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _anvil = Killed(
        Command::new(anvil)
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
    // The USDT-like token (its transfer returns nothing), constructor ("Test Tether USD", "USDT").
    let padded = |text: &str| format!("{:0<64}", hex::encode(text));
    let ctor = [
        word("40"),
        word("80"),
        word("10"),
        padded("Test Tether USD"),
        word("04"),
        padded("USDT"),
    ]
    .concat();
    let deploy = rpc(
        &url,
        "eth_sendTransaction",
        json!([{"from": funder, "data": format!("0x{}{ctor}", USDT_BIN.trim()), "gas": "0x300000"}]),
    )
    .await;
    let token = mined(&url, deploy.as_str().unwrap()).await["contractAddress"]
        .as_str()
        .unwrap()
        .to_owned();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let hot = init(&dir);
    let (_signer, socket) = serve(&dir, &["--chain-id", "31337", "--token", &token], false);
    let deposit = ask(&socket, &json!({"op": "derive_address", "index": 17}))["address"]
        .as_str()
        .unwrap()
        .to_owned();

    let mint = rpc(&url, "eth_sendTransaction", json!([{"from": funder, "to": token, "data": call("mint(address,uint256)", &[word(&deposit), format!("{:064x}", 2_500_000u128)])}])).await;
    assert_eq!(mined(&url, mint.as_str().unwrap()).await["status"], "0x1");
    rpc(&url, "anvil_setBalance", json!([hot, "0xde0b6b3a7640000"])).await;

    let fees = json!({"max_fee_per_gas": "20000000000", "max_priority_fee_per_gas": "1000000000"});
    let mut topup =
        json!({"op": "sign_gas_topup", "index": 17, "value_wei": "5000000000000000", "nonce": 0, "gas_limit": 21000});
    topup.as_object_mut().unwrap().extend(fees.as_object().unwrap().clone());
    let signed = ask(&socket, &topup);
    assert_eq!(signed["from"], hot.as_str());
    let hash = rpc(&url, "eth_sendRawTransaction", json!([signed["raw_tx"]])).await;
    assert_eq!(hash, signed["tx_hash"], "the signer's hash is the chain's");
    assert_eq!(mined(&url, hash.as_str().unwrap()).await["status"], "0x1");
    assert_eq!(
        rpc(&url, "eth_getBalance", json!([deposit, "latest"])).await,
        "0x11c37937e08000"
    );

    let mut sweep =
        json!({"op": "sign_sweep", "index": 17, "token": token, "amount": "2500000", "nonce": 0, "gas_limit": 100000});
    sweep.as_object_mut().unwrap().extend(fees.as_object().unwrap().clone());
    let signed = ask(&socket, &sweep);
    assert_eq!(signed["from"], deposit.as_str());
    let hash = rpc(&url, "eth_sendRawTransaction", json!([signed["raw_tx"]])).await;
    assert_eq!(mined(&url, hash.as_str().unwrap()).await["status"], "0x1");
    assert_eq!(balance_of(&url, &token, &hot).await, 2_500_000);
    assert_eq!(balance_of(&url, &token, &deposit).await, 0);
}
