//! What the payout tests share: `paygate-signer` run as its own process (as
//! a deployment runs it, so it outlives a killed server and can itself be
//! restarted), a merchant funded with a real deposit, withdrawals to fresh
//! addresses, and what the chain says about them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use alloy_primitives::Address;
use serde_json::{json, Value};

use crate::chain_support::{eventually, word, Chain};
use crate::money_support::Api;

/// keccak256("Transfer(address,address,uint256)").
pub const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";

/// The built `paygate-signer`, beside `paygate`.
pub fn signer_bin() -> PathBuf {
    crate::chain_support::use_built_signer();
    PathBuf::from(env!("CARGO_BIN_EXE_paygate")).with_file_name("paygate-signer")
}

/// `paygate-signer serve` in a directory of its own, with payout caps.
pub struct SignerProcess {
    child: Option<Child>,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub hot_wallet: Address,
    args: Vec<String>,
}

impl Drop for SignerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SignerProcess {
    /// Creates a seed in `dir` and serves `chain`'s tokens with these caps
    /// (minor units).
    pub async fn start(dir: &Path, chain: &Chain, payout_cap: u64, daily_cap: u64) -> SignerProcess {
        let init = Command::new(signer_bin())
            .arg("--data-dir")
            .arg(dir)
            .arg("init")
            .env_clear()
            .output()
            .expect("paygate-signer init runs");
        assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
        let hot_wallet = String::from_utf8_lossy(&init.stdout)
            .trim()
            .parse()
            .expect("hot wallet");
        let socket = dir.join("signer.sock");
        let args = [
            "serve",
            "--socket",
            socket.to_str().expect("utf-8"),
            "--chain-id",
            &chain.chain_id.to_string(),
            "--token",
            &word(chain.usdc),
            "--token",
            &word(chain.usdt),
            "--payout-cap",
            &payout_cap.to_string(),
            "--daily-cap",
            &daily_cap.to_string(),
            "--max-fee-per-gas-gwei",
            "500",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut signer = SignerProcess {
            child: None,
            dir: dir.to_owned(),
            socket,
            hot_wallet,
            args,
        };
        signer.restart().await;
        signer
    }

    /// Stops the signer (SIGKILL) and starts it again on the same directory.
    pub async fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.socket);
        let child = Command::new(signer_bin())
            .arg("--data-dir")
            .arg(&self.dir)
            .args(&self.args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("paygate-signer serve starts");
        self.child = Some(child);
        eventually(15, "the signer's socket", || async {
            std::os::unix::net::UnixStream::connect(&self.socket).ok().map(|_| ())
        })
        .await;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every line of the signer's audit log.
    pub fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
            .collect()
    }

    /// `paygate-signer verify` on its directory.
    pub fn verify(&self) -> std::process::Output {
        Command::new(signer_bin())
            .arg("--data-dir")
            .arg(&self.dir)
            .arg("verify")
            .env_clear()
            .output()
            .expect("paygate-signer verify runs")
    }
}

/// A fresh address nobody holds a key to.
pub fn fresh_address() -> Address {
    Address::from(rand::random::<[u8; 20]>())
}

/// Gives the hot wallet gas, then credits the merchant `amount` of USDC
/// through a real deposit and waits until the sweep moved it to the hot
/// wallet (so a payout's funds are on the hot wallet and no sweep is still
/// taking nonces).
pub async fn fund_by_deposit(api: &Api, chain: &Chain, hot: Address, amount: u64) {
    chain.set_eth(hot, 100 * 10u128.pow(18)).await;
    let before = chain.balance_of(chain.usdc, hot).await;
    let address = api
        .post("/v1/wallet/generate", json!({"network": "ethereum"}))
        .await
        .ok();
    let deposit: Address = address["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address");
    chain.mint(chain.usdc, deposit, amount).await;
    let credited = i64::try_from(amount).expect("amount");
    eventually(60, "the deposit credited", || async {
        chain.mine(1).await;
        (api.balance("USDC").await.0 >= credited).then_some(())
    })
    .await;
    eventually(60, "the deposit swept to the hot wallet", || async {
        chain.mine(1).await;
        (chain.balance_of(chain.usdc, hot).await == before + amount).then_some(())
    })
    .await;
}

/// A USDC withdrawal of `amount` to `to`: its id (status `pending_approval`).
pub async fn withdraw_to(api: &Api, amount: u64, to: Address, key: &str) -> String {
    let created = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": amount, "currency": "USDC",
                   "destination": {"type": "ethereum", "address": word(to)}}),
            key,
        )
        .await
        .ok();
    assert_eq!(created["status"], "pending_approval", "{created}");
    created["id"].as_str().expect("id").to_owned()
}

pub async fn approve(api: &Api, id: &str) -> Value {
    api.post_empty(&format!("/v1/withdrawal-requests/{id}/approve"))
        .await
        .ok()
}

pub async fn withdrawal(api: &Api, id: &str) -> Value {
    api.get(&format!("/v1/withdrawal-requests/{id}")).await.ok()
}

/// Waits (mining a block now and then, so confirmations grow) until the
/// withdrawal is `paid` or `failed`; returns it.
pub async fn settled(api: &Api, chain: &Chain, id: &str, secs: u64) -> Value {
    let mut round = 0u32;
    eventually(secs, &format!("{id} settled"), || {
        round += 1;
        async move {
            if round.is_multiple_of(5) {
                chain.mine(1).await;
            }
            let w = withdrawal(api, id).await;
            matches!(w["status"].as_str(), Some("paid" | "failed")).then_some(w)
        }
    })
    .await
}

/// The hashes of the transactions with a `Transfer` of `token` to `to`, one
/// per log, oldest first.
pub async fn transfers_to(chain: &Chain, token: Address, to: Address) -> Vec<String> {
    let topic = format!("0x{:0>64}", hex::encode(to.as_slice()));
    let logs = chain
        .rpc(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest", "address": word(token),
                    "topics": [TRANSFER_TOPIC, null, topic]}]),
        )
        .await;
    logs.as_array()
        .expect("logs")
        .iter()
        .map(|l| l["transactionHash"].as_str().expect("hash").to_owned())
        .collect()
}

/// The number of transactions `holder` has sent (its next nonce).
pub async fn nonce_of(chain: &Chain, holder: Address) -> u64 {
    let n = chain
        .rpc("eth_getTransactionCount", json!([word(holder), "latest"]))
        .await;
    u64::from_str_radix(n.as_str().expect("hex").trim_start_matches("0x"), 16).expect("nonce")
}

/// A mined transaction: (from, nonce, to).
pub async fn mined_tx(chain: &Chain, hash: &str) -> (Address, u64, Address) {
    let tx = chain.rpc("eth_getTransactionByHash", json!([hash])).await;
    assert!(!tx.is_null(), "{hash} is unknown to the node");
    let nonce = u64::from_str_radix(tx["nonce"].as_str().expect("nonce").trim_start_matches("0x"), 16).expect("nonce");
    (
        tx["from"].as_str().expect("from").parse().expect("from"),
        nonce,
        tx["to"].as_str().expect("to").parse().expect("to"),
    )
}

/// Whether a signed transaction (0x-hex) carries a transfer to `to`: its
/// call data holds the address as an ABI word.
pub fn raw_pays(raw: &str, to: Address) -> bool {
    raw.to_lowercase()
        .contains(&format!("{:0>64}", hex::encode(to.as_slice())))
}

/// Polls a little to let the server act, in wall-clock time.
pub async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
