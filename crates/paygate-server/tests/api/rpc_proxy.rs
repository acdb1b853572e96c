//! A recording JSON-RPC proxy in front of anvil, standing in for a private
//! transaction relay: it records every call, and answers
//! `eth_sendRawTransaction` by forwarding it (a relay that works), by
//! claiming success without forwarding (a relay that lies) or with an error
//! (a relay that refuses). Every other method is always forwarded.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use alloy_primitives::keccak256;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the proxy does with `eth_sendRawTransaction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelayMode {
    /// Forwards it to the node.
    Forward,
    /// Answers with the transaction's hash and forwards nothing of it.
    Swallow,
    /// Answers with a JSON-RPC error.
    Refuse,
}

#[derive(Default)]
struct Record {
    methods: Vec<String>,
    raw: Vec<String>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    mode: Mutex<RelayMode>,
    record: Mutex<Record>,
}

/// The proxy, listening on 127.0.0.1; it stops when dropped.
pub struct RpcProxy {
    shared: Arc<Shared>,
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RpcProxy {
    /// Starts a proxy to `upstream` (anvil's URL) on a free port.
    pub async fn start(upstream: &str, mode: RelayMode) -> RpcProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            http: reqwest::Client::new(),
            mode: Mutex::new(mode),
            record: Mutex::new(Record::default()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("addr").port();
        let app = Router::new().route("/", post(handle)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        RpcProxy { shared, port, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: RelayMode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    /// Every `eth_sendRawTransaction` parameter received, 0x-hex, in order,
    /// whatever the mode did with it.
    pub fn raw_transactions(&self) -> Vec<String> {
        self.shared.record.lock().unwrap().raw.clone()
    }

    /// The keccak hash of each of [`RpcProxy::raw_transactions`], 0x-hex lowercase.
    pub fn tx_hashes(&self) -> Vec<String> {
        self.raw_transactions().iter().map(|raw| tx_hash(raw)).collect()
    }

    /// Every method called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.shared.record.lock().unwrap().methods.clone()
    }
}

/// A URL on a port nothing listens on (bound, then released).
pub fn unreachable_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// The hash of a signed transaction given as 0x-hex.
pub fn tx_hash(raw: &str) -> String {
    let bytes = hex::decode(raw.trim_start_matches("0x")).unwrap_or_default();
    format!("0x{}", hex::encode(keccak256(bytes)))
}

async fn handle(State(shared): State<Arc<Shared>>, Json(body): Json<Value>) -> Json<Value> {
    match body {
        Value::Array(calls) => {
            let mut answers = Vec::with_capacity(calls.len());
            for call in calls {
                answers.push(one(&shared, call).await);
            }
            Json(Value::Array(answers))
        }
        call => Json(one(&shared, call).await),
    }
}

async fn one(shared: &Shared, call: Value) -> Value {
    let method = call["method"].as_str().unwrap_or_default().to_owned();
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let mode = *shared.mode.lock().unwrap();
    {
        let mut record = shared.record.lock().unwrap();
        record.methods.push(method.clone());
        if method == "eth_sendRawTransaction" {
            record
                .raw
                .push(call["params"][0].as_str().unwrap_or_default().to_lowercase());
        }
    }
    if method == "eth_sendRawTransaction" {
        let raw = call["params"][0].as_str().unwrap_or_default();
        match mode {
            RelayMode::Forward => {}
            RelayMode::Swallow => return json!({"jsonrpc": "2.0", "id": id, "result": tx_hash(raw)}),
            RelayMode::Refuse => {
                return json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32000, "message": "transaction refused by relay"}})
            }
        }
    }
    match shared.http.post(&shared.upstream).json(&call).send().await {
        Ok(answer) => answer.json().await.unwrap_or_else(
            |e| json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": format!("upstream: {e}")}}),
        ),
        Err(e) => json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": format!("upstream: {e}")}}),
    }
}

mod tests {
    use alloy_primitives::{Address, U256};
    use alloy_sol_types::{sol, SolCall as _};
    use serde_json::json;

    use super::{tx_hash, unreachable_url, RelayMode, RpcProxy};
    use crate::chain_support::{word, Chain};

    sol! { function transfer(address to, uint256 value) external; }

    /// Signs (through anvil, for an unlocked account) a transfer of
    /// `amount` USDC from the funder to `to` at `nonce`, without sending it.
    async fn signed_transfer(chain: &Chain, to: Address, amount: u64, nonce: u64) -> String {
        let data = transferCall {
            to,
            value: U256::from(amount),
        }
        .abi_encode();
        let raw = chain
            .rpc(
                "eth_signTransaction",
                json!([{
                    "from": word(chain.funder), "to": word(chain.usdc),
                    "data": format!("0x{}", hex::encode(data)), "gas": "0x30000",
                    "nonce": format!("{nonce:#x}"), "chainId": format!("{:#x}", chain.chain_id),
                    "maxFeePerGas": "0x77359400", "maxPriorityFeePerGas": "0x3b9aca00",
                }]),
            )
            .await;
        raw.as_str().expect("raw").to_owned()
    }

    async fn call(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
        reqwest::Client::new()
            .post(url)
            .json(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}))
            .send()
            .await
            .expect("the proxy answers")
            .json()
            .await
            .expect("JSON")
    }

    async fn nonce(chain: &Chain) -> u64 {
        let n = chain
            .rpc("eth_getTransactionCount", json!([word(chain.funder), "latest"]))
            .await;
        u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    #[tokio::test]
    async fn forward_swallow_and_refuse_differ_on_a_real_node() {
        let chain = Chain::start().await;
        let proxy = RpcProxy::start(&chain.url, RelayMode::Swallow).await;
        let to: Address = "0x00000000000000000000000000000000000a11ce".parse().unwrap();
        chain.mint(chain.usdc, chain.funder, 10_000_000).await;
        let start = nonce(&chain).await;

        // Swallow: claims success with the right hash; the node never sees it.
        let raw = signed_transfer(&chain, to, 1_000_000, start).await;
        let answer = call(&proxy.url(), "eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(answer["id"], 7);
        assert_eq!(answer["result"].as_str().unwrap(), tx_hash(&raw));
        chain.mine(1).await;
        let receipt = call(&proxy.url(), "eth_getTransactionReceipt", json!([tx_hash(&raw)])).await;
        assert!(receipt["result"].is_null(), "swallowed, never mined: {receipt}");
        assert_eq!(chain.balance_of(chain.usdc, to).await, 0);
        assert_eq!(nonce(&chain).await, start);

        // Refuse: an error, nothing forwarded.
        proxy.set_mode(RelayMode::Refuse);
        let answer = call(&proxy.url(), "eth_sendRawTransaction", json!([raw])).await;
        assert!(answer["error"]["code"].is_i64(), "{answer}");
        assert!(answer.get("result").is_none());
        chain.mine(1).await;
        assert_eq!(chain.balance_of(chain.usdc, to).await, 0);
        assert_eq!(nonce(&chain).await, start);

        // Forward: the node takes it; anvil mines it; the hash is the node's.
        proxy.set_mode(RelayMode::Forward);
        let answer = call(&proxy.url(), "eth_sendRawTransaction", json!([raw])).await;
        assert_eq!(answer["result"].as_str().unwrap(), tx_hash(&raw), "{answer}");
        let receipt = chain.mined(&tx_hash(&raw)).await;
        assert_eq!(receipt["status"], "0x1");
        assert_eq!(chain.balance_of(chain.usdc, to).await, 1_000_000);

        // Errors from the node come back as they are (a nonce already used).
        let answer = call(&proxy.url(), "eth_sendRawTransaction", json!([raw])).await;
        assert!(answer["error"].is_object(), "{answer}");

        // Everything recorded in order, whatever the mode did.
        assert_eq!(proxy.raw_transactions(), vec![raw.to_lowercase(); 4]);
        assert_eq!(proxy.tx_hashes(), vec![tx_hash(&raw); 4]);
        assert_eq!(
            proxy.methods(),
            [
                "eth_sendRawTransaction",
                "eth_getTransactionReceipt",
                "eth_sendRawTransaction",
                "eth_sendRawTransaction",
                "eth_sendRawTransaction"
            ]
        );
        let batch: serde_json::Value = reqwest::Client::new()
            .post(proxy.url())
            .json(&json!([
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
            ]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(batch[0]["result"], "0x7a69", "{batch}");
        assert_eq!(batch[1]["id"], 2);

        // Nothing listens behind the unreachable URL.
        assert!(reqwest::Client::new()
            .post(unreachable_url())
            .body("{}")
            .send()
            .await
            .is_err());
    }
}
