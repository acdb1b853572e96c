//! `paygate chain status` and `paygate chain reconcile` (docs/stablecoins.md):
//! what the chain holds for an environment, and whether it matches what the
//! ledger says Paygate holds for its merchants.

use alloy_primitives::{Address, U256};
use anyhow::{anyhow, Context as _};
use paygate_proto::Environment;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row as _;

use crate::app::AppState;
use crate::chain::config::{EvmChain, Token};
use crate::chain::credit::NETWORK;
use crate::chain::rpc::ChainRpc;
use crate::chain::signer_client::SignerClient;
use crate::chain::watcher::store::{self, Scope};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

fn scope(env: Environment, chain: &EvmChain) -> Scope {
    Scope {
        env,
        chain_id: i64::try_from(chain.chain_id).unwrap_or(i64::MAX),
    }
}

fn contracts(chain: &EvmChain) -> Vec<(Token, Address)> {
    chain
        .tokens
        .iter()
        .filter_map(|(token, contract)| Some((*token, contract.parse().ok()?)))
        .collect()
}

fn to_i128(amount: U256) -> i128 {
    i128::try_from(amount).unwrap_or(i128::MAX)
}

async fn hot_wallet(signer: &SignerClient) -> anyhow::Result<Address> {
    let text = signer
        .hot_wallet()
        .await
        .context("the signer did not say its hot wallet")?;
    text.parse()
        .map_err(|_| anyhow!("the signer's hot wallet is not an address"))
}

/// `{"hot_wallet","block","lag_blocks","balances":{"USDC","USDT","ETH"},"pending_sweeps"}`.
pub async fn status(
    state: &AppState,
    env: Environment,
    chain: &EvmChain,
    signer: &SignerClient,
) -> anyhow::Result<Value> {
    let rpc = ChainRpc::new(&chain.rpc_url, TIMEOUT)?;
    let hot = hot_wallet(signer).await?;
    let block = rpc.block_number().await?;
    let scanned = store::cursor(state.store().pool(), scope(env, chain))
        .await?
        .map(|next| next.saturating_sub(1));
    let mut balances = serde_json::Map::new();
    for token in Token::ALL {
        let amount = match chain.token_contract(token).and_then(|c| c.parse::<Address>().ok()) {
            Some(contract) => to_i128(rpc.token_balance(contract, hot).await?),
            None => 0,
        };
        balances.insert(token.as_str().to_owned(), json!(amount));
    }
    balances.insert("ETH".to_owned(), json!(rpc.eth_balance(hot).await?.to_string()));
    let pending = sqlx::query(
        "SELECT COUNT(*) AS n FROM chain_sweeps WHERE env = $1 AND chain_id = $2 \
         AND state IN ('pending', 'topping_up', 'sweeping')",
    )
    .bind(env.as_str())
    .bind(scope(env, chain).chain_id)
    .fetch_one(state.store().pool())
    .await?;
    let pending: i64 = pending.try_get("n")?;
    Ok(json!({
        "env": env.as_str(),
        "hot_wallet": hot.to_checksum(None),
        "block": block,
        "lag_blocks": scanned.map(|s| block.saturating_sub(s)),
        "balances": balances,
        "pending_sweeps": pending,
    }))
}

/// One token's custody: what the ledger owes merchants and what the chain holds.
#[derive(Debug, Clone, Serialize)]
pub struct Custody {
    pub currency: &'static str,
    /// Every merchant's available, pending and reserved balance.
    pub ledger: i128,
    /// The hot wallet plus every deposit address, less transfers seen but
    /// not yet credited, plus payouts mined but not yet settled (still
    /// reserved on the ledger, already gone from the hot wallet).
    pub chain: i128,
    pub difference: i128,
}

/// Compares the ledger's custody with the chain's, token by token.
pub async fn reconcile(
    state: &AppState,
    env: Environment,
    chain: &EvmChain,
    signer: &SignerClient,
) -> anyhow::Result<Vec<Custody>> {
    let rpc = ChainRpc::new(&chain.rpc_url, TIMEOUT)?;
    let hot = hot_wallet(signer).await?;
    let pool = state.store().pool();
    let addresses: Vec<Address> = sqlx::query("SELECT address FROM wallet_addresses WHERE env = $1 AND network = $2")
        .bind(env.as_str())
        .bind(NETWORK)
        .fetch_all(pool)
        .await?
        .iter()
        .filter_map(|r| r.try_get::<String, _>("address").ok()?.parse().ok())
        .collect();
    let mut out = Vec::new();
    for (token, contract) in contracts(chain) {
        let currency = token.currency();
        let ledger: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ledger_balances WHERE env = $1 \
             AND currency = $2 AND account IN ('available', 'pending', 'reserved')",
        )
        .bind(env.as_str())
        .bind(currency.as_str())
        .fetch_one(pool)
        .await?
        .try_get("total")?;
        let in_flight: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM chain_transfers WHERE env = $1 \
             AND chain_id = $2 AND currency = $3 AND state IN ('seen', 'confirming')",
        )
        .bind(env.as_str())
        .bind(scope(env, chain).chain_id)
        .bind(currency.as_str())
        .fetch_one(pool)
        .await?
        .try_get("total")?;
        let mut held = to_i128(rpc.token_balance(contract, hot).await?);
        for address in &addresses {
            held = held.saturating_add(to_i128(rpc.token_balance(contract, *address).await?));
        }
        let paying = paying_out(state, &rpc, scope(env, chain), currency.as_str()).await?;
        let on_chain = held - i128::from(in_flight) + i128::from(paying);
        out.push(Custody {
            currency: currency.as_str(),
            ledger: i128::from(ledger),
            chain: on_chain,
            difference: on_chain - i128::from(ledger),
        });
    }
    Ok(out)
}

/// The amount of `currency` in payouts whose transfer is mined (a receipt
/// with status 1 for any version) but not yet settled `confirmations` deep.
async fn paying_out(state: &AppState, rpc: &ChainRpc, scope: Scope, currency: &str) -> anyhow::Result<i64> {
    let rows = sqlx::query(
        "SELECT amount, tx_hash, replaced_tx_hashes FROM chain_payouts WHERE env = $1 AND chain_id = $2 \
         AND currency = $3 AND state = 'sent'",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .bind(currency)
    .fetch_all(state.store().pool())
    .await?;
    let mut total = 0i64;
    for row in rows {
        let current: Option<String> = row.try_get("tx_hash")?;
        let replaced: String = row.try_get("replaced_tx_hashes")?;
        for hash in current.iter().map(String::as_str).chain(replaced.split_whitespace()) {
            let Ok(hash) = hash.parse() else { continue };
            if rpc
                .receipt(hash)
                .await?
                .is_some_and(|r| r.success && r.block_number.is_some())
            {
                total = total.saturating_add(row.try_get::<i64, _>("amount")?);
                break;
            }
        }
    }
    Ok(total)
}
