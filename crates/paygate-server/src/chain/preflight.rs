//! The checks `paygate serve` makes on each configured chain before it
//! starts: the node's `eth_chainId` is the configured `chain_id`, and every
//! configured token answers `decimals()` with 6. Any mismatch, or a node
//! that cannot be asked, stops the start: the server never takes deposits
//! on a chain it has not recognised.

use std::time::Duration;

use anyhow::bail;
use paygate_proto::Environment;

use super::config::{redacted_url, Chains, EvmChain, Token};
use super::rpc::{ChainRpc, RpcError};

const TIMEOUT: Duration = Duration::from_secs(10);
/// Paygate's stablecoins have 6 decimals, as `Currency::decimals` says.
pub const TOKEN_DECIMALS: u8 = 6;

/// Checks every configured chain; the error names the key to fix.
pub async fn check(chains: &Chains) -> anyhow::Result<()> {
    for (env, chain) in chains.iter() {
        check_chain(env, chain).await?;
    }
    Ok(())
}

async fn check_chain(env: Environment, chain: &EvmChain) -> anyhow::Result<()> {
    // The URL may carry a provider's key: messages name its scheme and host only.
    let node = redacted_url(&chain.rpc_url);
    let key = format!("chains.{env}.ethereum");
    let rpc = match ChainRpc::new(&chain.rpc_url, TIMEOUT) {
        Ok(rpc) => rpc,
        Err(err) => bail!("{key}.rpc_url: {err}"),
    };
    let node_chain_id = match rpc.chain_id().await {
        Ok(id) => id,
        Err(err) => bail!("{key}.rpc_url: the node at {node} could not be asked for its chain id: {err}"),
    };
    if node_chain_id != chain.chain_id {
        bail!(
            "{key}.chain_id is {} but the node at {node} is on chain {node_chain_id}: refusing to start",
            chain.chain_id
        );
    }
    for token in Token::ALL {
        let Some(contract) = chain.token_contract(token) else {
            continue;
        };
        let Ok(address) = contract.parse() else {
            bail!("{key}.tokens.{token}: {contract} is not an address");
        };
        match rpc.decimals(address).await {
            Ok(TOKEN_DECIMALS) => {}
            Ok(decimals) => bail!(
                "{key}.tokens.{token}: the contract {contract} has {decimals} decimals, not {TOKEN_DECIMALS}: refusing to start"
            ),
            Err(RpcError::Malformed(_)) => bail!(
                "{key}.tokens.{token}: {contract} did not answer decimals() as a token does: is it a token contract on this chain?"
            ),
            Err(err) => bail!("{key}.tokens.{token}: decimals() of {contract} could not be read: {err}"),
        }
    }
    Ok(())
}
