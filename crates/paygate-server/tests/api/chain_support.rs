//! A real development chain for the stablecoin tests: anvil (from
//! `$PAYGATE_ANVIL`, else where scripts/devchain-deps.sh installs it) on a
//! free port, the test tokens of devchain/build deployed on it, and the
//! calls a test makes: mint, transfer, mine, reorganise, snapshot.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use alloy_sol_types::{sol, SolCall as _};
use serde_json::{json, Value};

sol! {
    function mint(address to, uint256 value) external;
    function transfer(address to, uint256 value) external;
    function transferMany(address[] to, uint256[] value) external;
    function balanceOf(address owner) external view returns (uint256);
}

const USDC_BIN: &str = include_str!("../../../../devchain/build/TestUSDC.bin");
const USDT_BIN: &str = include_str!("../../../../devchain/build/TestUSDT.bin");

/// The anvil binary; a test that needs a chain fails naming the fix when
/// there is none (the suite's script installs it first).
pub fn anvil_path() -> PathBuf {
    if let Ok(p) = std::env::var("PAYGATE_ANVIL") {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    let home = std::env::var("PAYGATE_DEVCHAIN_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/paygate-devchain"));
    let path = home.join("bin/anvil");
    assert!(
        path.exists(),
        "anvil is not installed: run scripts/devchain-deps.sh (or set PAYGATE_ANVIL)"
    );
    path
}

/// A running anvil with the test tokens; killed when dropped.
pub struct Chain {
    child: Child,
    pub url: String,
    pub chain_id: u64,
    /// The first unlocked account: it deploys, mints and pays.
    pub funder: Address,
    pub usdc: Address,
    pub usdt: Address,
    http: reqwest::Client,
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn word(address: Address) -> String {
    format!("{address:#x}")
}

impl Chain {
    /// Starts anvil (every transaction mined in its own block, as sent) and
    /// deploys TestUSDC and TestUSDT.
    pub async fn start() -> Chain {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let child = Command::new(anvil_path())
            .args(["--port", &port.to_string(), "--chain-id", "31337", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let mut chain = Chain {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chain_id: 31337,
            funder: Address::ZERO,
            usdc: Address::ZERO,
            usdt: Address::ZERO,
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "anvil did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let accounts = chain.rpc("eth_accounts", json!([])).await;
        chain.funder = accounts[0].as_str().expect("account").parse().expect("address");
        chain.usdc = chain.deploy(USDC_BIN, "Test USD Coin", "USDC").await;
        chain.usdt = chain.deploy(USDT_BIN, "Test Tether USD", "USDT").await;
        chain
    }

    /// One JSON-RPC call; panics on an error answer.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let body = self.try_rpc(method, params).await;
        assert!(body.get("error").is_none(), "{method}: {body}");
        body["result"].clone()
    }

    /// One JSON-RPC call, its whole answer.
    pub async fn try_rpc(&self, method: &str, params: Value) -> Value {
        self.http
            .post(&self.url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .expect("anvil answers")
            .json()
            .await
            .expect("JSON-RPC answer")
    }

    /// Deploys another copy of the USDC-like token: a look-alike contract
    /// Paygate is not configured with.
    pub async fn deploy_look_alike(&self) -> Address {
        self.deploy(USDC_BIN, "Test USD Coin", "USDC").await
    }

    async fn deploy(&self, bin: &str, name: &str, symbol: &str) -> Address {
        let args = alloy_sol_types::SolValue::abi_encode_params(&(name.to_owned(), symbol.to_owned()));
        let data = format!("0x{}{}", bin.trim(), hex::encode(args));
        let hash = self
            .rpc(
                "eth_sendTransaction",
                json!([{"from": word(self.funder), "data": data, "gas": "0x300000"}]),
            )
            .await;
        let receipt = self.mined(hash.as_str().expect("hash")).await;
        assert_eq!(receipt["status"], "0x1", "{symbol} deployment reverted");
        receipt["contractAddress"]
            .as_str()
            .expect("contract")
            .parse()
            .expect("address")
    }

    /// Waits for a transaction's receipt.
    pub async fn mined(&self, hash: &str) -> Value {
        for _ in 0..200 {
            let receipt = self.rpc("eth_getTransactionReceipt", json!([hash])).await;
            if !receipt.is_null() {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{hash} was not mined");
    }

    /// Sends a call from the funder to `to`; returns its receipt.
    pub async fn send(&self, to: Address, data: Vec<u8>) -> Value {
        let hash = self
            .rpc(
                "eth_sendTransaction",
                json!([{"from": word(self.funder), "to": word(to), "data": format!("0x{}", hex::encode(data)), "gas": "0x200000"}]),
            )
            .await;
        let receipt = self.mined(hash.as_str().expect("hash")).await;
        assert_eq!(receipt["status"], "0x1", "the call reverted: {receipt}");
        receipt
    }

    /// Mints `amount` minor units of `token` straight to `to` (a `Transfer`
    /// from the zero address, as a deposit looks to the watcher).
    pub async fn mint(&self, token: Address, to: Address, amount: u64) -> Value {
        let data = mintCall {
            to,
            value: U256::from(amount),
        }
        .abi_encode();
        self.send(token, data).await
    }

    /// Mints to the funder, then pays `amount` to `to` with `transfer`.
    pub async fn pay(&self, token: Address, to: Address, amount: u64) -> Value {
        self.mint(token, self.funder, amount).await;
        let data = transferCall {
            to,
            value: U256::from(amount),
        }
        .abi_encode();
        self.send(token, data).await
    }

    /// One transaction with one `Transfer` per `(to, amount)` (TestUSDC's
    /// `transferMany`).
    pub async fn pay_many(&self, token: Address, payments: &[(Address, u64)]) -> Value {
        let total: u64 = payments.iter().map(|(_, a)| a).sum();
        self.mint(token, self.funder, total).await;
        let data = transferManyCall {
            to: payments.iter().map(|(a, _)| *a).collect(),
            value: payments.iter().map(|(_, v)| U256::from(*v)).collect(),
        }
        .abi_encode();
        self.send(token, data).await
    }

    /// One `transferMany` from the funder (who must hold the tokens).
    pub async fn transfer_many(&self, token: Address, payments: &[(Address, u64)]) -> Value {
        let data = transferManyCall {
            to: payments.iter().map(|(a, _)| *a).collect(),
            value: payments.iter().map(|(_, v)| U256::from(*v)).collect(),
        }
        .abi_encode();
        self.send(token, data).await
    }

    pub async fn balance_of(&self, token: Address, holder: Address) -> u64 {
        let data = format!("0x{}", hex::encode(balanceOfCall { owner: holder }.abi_encode()));
        let out = self
            .rpc("eth_call", json!([{"to": word(token), "data": data}, "latest"]))
            .await;
        let out = out.as_str().expect("hex");
        u64::from_str_radix(out.trim_start_matches("0x").trim_start_matches('0').max("0"), 16)
            .unwrap_or_else(|_| panic!("balance {out}"))
    }

    pub async fn block_number(&self) -> u64 {
        let n = self.rpc("eth_blockNumber", json!([])).await;
        u64::from_str_radix(n.as_str().expect("hex").trim_start_matches("0x"), 16).expect("number")
    }

    /// Mines `blocks` empty blocks.
    pub async fn mine(&self, blocks: u64) {
        self.rpc("anvil_mine", json!([format!("{blocks:#x}")])).await;
    }

    /// Replaces the newest `depth` blocks with as many new blocks (empty:
    /// the transactions they held are gone), as `anvil_reorg` does.
    pub async fn reorg(&self, depth: u64) {
        self.rpc("anvil_reorg", json!([depth, []])).await;
    }

    /// Sets `holder`'s ether balance.
    pub async fn set_eth(&self, holder: Address, wei: u128) {
        self.rpc("anvil_setBalance", json!([word(holder), format!("{wei:#x}")]))
            .await;
    }

    pub async fn eth_balance(&self, holder: Address) -> u128 {
        let v = self.rpc("eth_getBalance", json!([word(holder), "latest"])).await;
        u128::from_str_radix(v.as_str().expect("hex").trim_start_matches("0x"), 16).expect("wei")
    }

    /// Stops the node (the server's RPC becomes unreachable).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Takes a snapshot; [`Chain::revert`] goes back to it.
    pub async fn snapshot(&self) -> Value {
        self.rpc("evm_snapshot", json!([])).await
    }

    pub async fn revert(&self, snapshot: Value) {
        self.rpc("evm_revert", json!([snapshot])).await;
    }

    /// Moves `amount` of `token` away from `from` behind Paygate's back
    /// (anvil lets a test send from any address it impersonates).
    pub async fn steal(&self, token: Address, from: Address, amount: u64) {
        self.set_eth(from, 10u128.pow(18)).await;
        self.rpc("anvil_impersonateAccount", json!([word(from)])).await;
        let data = transferCall {
            to: self.funder,
            value: U256::from(amount),
        }
        .abi_encode();
        let hash = self
            .rpc(
                "eth_sendTransaction",
                json!([{"from": word(from), "to": word(token), "data": format!("0x{}", hex::encode(data)), "gas": "0x200000"}]),
            )
            .await;
        self.mined(hash.as_str().expect("hash")).await;
        self.rpc("anvil_stopImpersonatingAccount", json!([word(from)])).await;
    }
}

/// Polls `probe` every 100 ms until it returns `Some`, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `paygate-signer` binary beside `paygate` in the target directory
/// (`cargo build -p paygate-signer` puts it there; scripts/test.sh builds
/// the whole workspace). The sandbox signer `paygate serve` starts is it.
pub fn use_built_signer() {
    let paygate = PathBuf::from(env!("CARGO_BIN_EXE_paygate"));
    let signer = paygate.with_file_name("paygate-signer");
    assert!(
        signer.exists(),
        "{} is missing: run `cargo build -p paygate-signer` first",
        signer.display()
    );
    // Each test runs in its own process under nextest; the value is the same for all.
    std::env::set_var("PAYGATE_SIGNER_BIN", signer);
}

/// `[chains.test.ethereum]` pointing at `chain`, with `confirmations` and a
/// 100 ms poll interval.
pub fn test_chain_config(chain: &Chain, confirmations: u64) -> paygate_server::chain::config::EvmChain {
    use paygate_server::chain::config::{EvmChain, Token};
    EvmChain {
        rpc_url: chain.url.clone(),
        chain_id: chain.chain_id,
        private_rpc_url: None,
        private_timeout_blocks: 25,
        confirmations,
        poll_interval: Duration::from_millis(100),
        tokens: [(Token::Usdc, word(chain.usdc)), (Token::Usdt, word(chain.usdt))]
            .into_iter()
            .collect(),
    }
}

/// The server (with its sandbox signer) on the test chain `chain`.
pub async fn spawn_on_chain(chain: &Chain, confirmations: u64) -> crate::support::TestApp {
    spawn_on_chain_with_clock(
        chain,
        confirmations,
        std::sync::Arc::new(paygate_server::clock::SystemClock),
    )
    .await
}

/// [`spawn_on_chain`] with the server reading time from `clock`.
pub async fn spawn_on_chain_with_clock(
    chain: &Chain,
    confirmations: u64,
    clock: std::sync::Arc<dyn paygate_server::clock::Clock>,
) -> crate::support::TestApp {
    use_built_signer();
    let config = test_chain_config(chain, confirmations);
    crate::support::spawn_with_clock(clock, move |c| {
        crate::money_support::generous_limits(c);
        c.chains.test = Some(config);
    })
    .await
}

/// A fresh custodial deposit address of the sandbox merchant
/// (`POST /v1/wallet/generate {"network":"ethereum"}`), watched by the server.
pub async fn deposit_address(app: &crate::support::TestApp) -> Address {
    let api = crate::money_support::Api::sandbox(app);
    let address = api
        .post("/v1/wallet/generate", json!({"network": "ethereum"}))
        .await
        .ok();
    address["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address")
}

/// A USDC or USDT crypto payment of `amount`: its id and its address.
pub async fn stablecoin_payment(app: &crate::support::TestApp, amount: i64, currency: &str) -> (String, Address) {
    let api = crate::money_support::Api::sandbox(app);
    let payment = api
        .post(
            "/v1/payments",
            json!({"amount": amount, "currency": currency, "method": "crypto"}),
        )
        .await
        .ok();
    let address = payment["crypto"]["address"]
        .as_str()
        .expect("address")
        .parse()
        .expect("an address");
    (payment["id"].as_str().expect("id").to_owned(), address)
}

/// The merchant's events of `kind`, oldest first.
pub async fn events_of(api: &crate::money_support::Api, kind: &str) -> Vec<Value> {
    let page = api.get("/v1/events?limit=100").await.ok();
    let mut found: Vec<Value> = page["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e["type"] == kind)
        .map(|e| e["data"]["object"].clone())
        .collect();
    found.reverse();
    found
}

/// The states of the transfers the server observed, oldest first (read
/// from its database, as an operator would).
pub async fn transfer_states(app: &crate::support::TestApp) -> Vec<String> {
    use sqlx::Row as _;
    let db = app.raw_db().await;
    let rows = sqlx::query("SELECT state FROM chain_transfers ORDER BY block_number, log_index")
        .fetch_all(&db)
        .await
        .expect("chain_transfers");
    db.close().await;
    rows.iter().map(|r| r.get::<String, _>("state")).collect()
}

/// Waits until `available` of `currency` is `amount`.
pub async fn available_becomes(api: &crate::money_support::Api, currency: &str, amount: i64) {
    eventually(20, &format!("{currency} available = {amount}"), || async {
        (api.balance(currency).await.0 == amount).then_some(())
    })
    .await;
}

/// Lets the watcher poll a few times (its interval is 100 ms in tests).
pub async fn let_it_poll() {
    tokio::time::sleep(Duration::from_millis(700)).await;
}

/// Another server on `app`'s database and data directory, watching the same
/// chain and asking the first one's sandbox signer (as a second instance
/// behind a load balancer does with a shared signer).
pub async fn second_watcher(app: &crate::support::TestApp) -> paygate_server::serve::Running {
    use std::sync::Arc;
    let mut config = app.running.state.config().clone();
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.admin_listen = "127.0.0.1:0".parse().expect("addr");
    config.signer.socket = Some(app.data_dir.join("signer").join("signer.sock"));
    paygate_server::serve::start(paygate_server::serve::ServeOptions {
        config,
        clock: Arc::new(paygate_server::clock::SystemClock),
        master_key: None,
        create_sandbox: false,
    })
    .await
    .expect("second instance starts")
}

/// Makes the server scan from block 0 again, forgetting the blocks it
/// remembered, as a restart from an old backup of its cursor would.
pub async fn rewind_cursor(app: &crate::support::TestApp) {
    let db = app.raw_db().await;
    sqlx::query("UPDATE chain_cursors SET next_block = 0")
        .execute(&db)
        .await
        .expect("cursor");
    sqlx::query("DELETE FROM chain_blocks")
        .execute(&db)
        .await
        .expect("blocks");
    db.close().await;
}

/// Runs `paygate ARGS` against `app`'s data directory and database with
/// `[chains.test.ethereum]` pointing at `chain` (as the operator's
/// environment would set it).
pub fn chain_cli(app: &crate::support::TestApp, chain: &Chain, args: &[&str]) -> std::process::Output {
    let (usdc, usdt) = (word(chain.usdc), word(chain.usdt));
    let chain_id = chain.chain_id.to_string();
    crate::support::paygate(
        &app.data_dir,
        args,
        &[
            ("PAYGATE_DATABASE_URL", &app.database_url),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__RPC_URL", &chain.url),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__CHAIN_ID", &chain_id),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDC", &usdc),
            ("PAYGATE_CHAINS__TEST__ETHEREUM__TOKENS__USDT", &usdt),
        ],
    )
}

/// `paygate chain reconcile --env test --json`: whether it was clean, and its report.
pub fn reconcile(app: &crate::support::TestApp, chain: &Chain) -> (bool, Value, String) {
    let out = chain_cli(app, chain, &["--json", "chain", "reconcile", "--env", "test"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.success() && report["ok"] == true,
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
