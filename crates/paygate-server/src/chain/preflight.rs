//! The checks `paygate serve` makes on each configured chain before it
//! starts: the node's `eth_chainId` is the configured `chain_id`, and every
//! configured token answers `decimals()` with 6. Any mismatch, or a node
//! that cannot be asked, stops the start: the server never takes deposits
//! on a chain it has not recognised.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use paygate_proto::Environment;
use serde_json::{json, Value};

use super::config::{redacted_url, Chains, EvmChain, Token};

const TIMEOUT: Duration = Duration::from_secs(10);
/// `decimals()`.
const DECIMALS_SELECTOR: &str = "0x313ce567";
/// Paygate's stablecoins have 6 decimals, as `Currency::decimals` says.
pub const TOKEN_DECIMALS: u64 = 6;

/// Checks every configured chain; the error names the key to fix.
pub async fn check(chains: &Chains) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()?;
    for (env, chain) in chains.iter() {
        check_chain(&client, env, chain).await?;
    }
    Ok(())
}

async fn check_chain(client: &reqwest::Client, env: Environment, chain: &EvmChain) -> anyhow::Result<()> {
    let node = redacted_url(&chain.rpc_url);
    let key = format!("chains.{env}.ethereum");
    let answer = call(client, &chain.rpc_url, "eth_chainId", json!([]))
        .await
        .with_context(|| format!("{key}.rpc_url: the node at {node} could not be asked for its chain id"))?;
    let node_chain_id =
        quantity(&answer).ok_or_else(|| anyhow!("{key}.rpc_url: {node} answered eth_chainId with {answer}"))?;
    if node_chain_id != u128::from(chain.chain_id) {
        bail!(
            "{key}.chain_id is {} but the node at {node} is on chain {node_chain_id}: refusing to start",
            chain.chain_id
        );
    }
    for token in Token::ALL {
        let Some(contract) = chain.token_contract(token) else {
            continue;
        };
        let params = json!([{"to": contract, "data": DECIMALS_SELECTOR}, "latest"]);
        let answer = call(client, &chain.rpc_url, "eth_call", params)
            .await
            .with_context(|| format!("{key}.tokens.{token}: decimals() of {contract} could not be read"))?;
        match quantity(&answer) {
            Some(decimals) if decimals == u128::from(TOKEN_DECIMALS) => {}
            Some(decimals) => bail!(
                "{key}.tokens.{token}: the contract {contract} has {decimals} decimals, not {TOKEN_DECIMALS}: refusing to start"
            ),
            None => bail!("{key}.tokens.{token}: {contract} answered decimals() with {answer}: is it a token contract on this chain?"),
        }
    }
    Ok(())
}

/// One JSON-RPC call; the answer's `result`, or the node's error.
async fn call(client: &reqwest::Client, url: &str, method: &str, params: Value) -> anyhow::Result<Value> {
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    // The URL may carry a provider's key: errors name the host only.
    let response = client
        .post(url)
        .json(&request)
        .send()
        .await
        .map_err(|e| anyhow!("{}", describe(&e)))?;
    let status = response.status();
    if !status.is_success() {
        bail!("HTTP {status}");
    }
    let mut body: Value = response
        .json()
        .await
        .map_err(|_| anyhow!("the answer is not JSON-RPC"))?;
    if let Some(error) = body.get("error") {
        bail!("JSON-RPC error {error}");
    }
    body.get_mut("result")
        .map(Value::take)
        .ok_or_else(|| anyhow!("the answer has no result"))
}

fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    }
}

/// A JSON-RPC quantity or a 32-byte word (`0x`-prefixed hex) that fits in
/// 128 bits.
fn quantity(value: &Value) -> Option<u128> {
    let hex = value.as_str()?.strip_prefix("0x")?;
    if hex.is_empty() || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let significant = hex.trim_start_matches('0');
    if significant.len() > 32 {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    u128::from_str_radix(significant, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_and_words_are_read() {
        assert_eq!(quantity(&json!("0x7a69")), Some(31337));
        assert_eq!(quantity(&json!(format!("0x{}06", "0".repeat(62)))), Some(6));
        assert_eq!(quantity(&json!("0x0")), Some(0));
        assert_eq!(quantity(&json!("0x")), None);
        assert_eq!(quantity(&json!("7a69")), None);
        assert_eq!(quantity(&json!(format!("0x1{}", "0".repeat(63)))), None);
        assert_eq!(quantity(&json!(31337)), None);
    }
}
