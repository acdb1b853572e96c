//! The chain client (docs/stablecoins.md): the few JSON-RPC calls the
//! watcher, the sweeps and the status commands make, over alloy's HTTP
//! transport. Errors never carry the node's URL (a hosted RPC URL often
//! holds an API key): they say whether the node could not be reached or
//! what it answered.

use std::time::Duration;

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_provider::{Provider, ProviderBuilder, RootProvider};
use alloy_rpc_types_eth::{BlockNumberOrTag, Filter, TransactionInput, TransactionRequest};
use alloy_sol_types::{sol, SolCall as _, SolEvent as _};

sol! {
    /// The ERC-20 event and calls Paygate reads.
    event Transfer(address indexed from, address indexed to, uint256 value);
    function balanceOf(address owner) external view returns (uint256);
    function decimals() external view returns (uint8);
}

/// What went wrong talking to the node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RpcError {
    /// The node could not be reached or did not answer in time.
    #[error("the chain's RPC could not be reached")]
    Unreachable,
    /// The node answered with a JSON-RPC error.
    #[error("the chain's RPC refused the call: {0}")]
    Refused(String),
    /// The node answered something that is not what the call returns.
    #[error("the chain's RPC answered something unexpected: {0}")]
    Malformed(String),
    /// The URL is not a URL.
    #[error("the RPC URL is not a valid URL")]
    BadUrl,
}

pub type RpcResult<T> = Result<T, RpcError>;

fn classify(err: alloy_provider::transport::TransportError) -> RpcError {
    use alloy_provider::transport::RpcError as E;
    match err {
        E::ErrorResp(payload) => RpcError::Refused(format!("{} {}", payload.code, payload.message)),
        E::DeserError { .. } | E::NullResp | E::UnsupportedFeature(_) | E::LocalUsageError(_) => {
            RpcError::Malformed(err.to_string().chars().take(200).collect())
        }
        _ => RpcError::Unreachable,
    }
}

/// A block as the watcher remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockRef {
    pub number: u64,
    pub hash: B256,
    pub parent: B256,
}

/// One `Transfer` log of a token contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferLog {
    pub token: Address,
    pub from: Address,
    pub to: Address,
    pub amount: U256,
    pub block_number: u64,
    pub block_hash: B256,
    pub tx_hash: B256,
    pub log_index: u64,
}

/// A transaction's receipt, as far as Paygate cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub success: bool,
    pub block_number: Option<u64>,
}

/// Suggested EIP-1559 fees, in wei per gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
}

/// A client of one node.
#[derive(Clone)]
pub struct ChainRpc {
    provider: RootProvider,
}

impl std::fmt::Debug for ChainRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainRpc").finish_non_exhaustive()
    }
}

impl ChainRpc {
    /// A client of the node at `url`; every call gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration) -> RpcResult<Self> {
        let url: url::Url = url.parse().map_err(|_| RpcError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RpcError::BadUrl);
        }
        // The transport takes the process's TLS provider: ring, as everywhere in Paygate.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A node answers where it is asked: a redirect could carry the URL's
        // key elsewhere. An https node is verified against the system's roots
        // (SSL_CERT_FILE / SSL_CERT_DIR replace them: docs/stablecoins.md).
        let client = reqwest13::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest13::redirect::Policy::none())
            .build()
            .map_err(|_| RpcError::Unreachable)?;
        let provider = ProviderBuilder::default().connect_reqwest(client, url);
        Ok(Self { provider })
    }

    pub async fn chain_id(&self) -> RpcResult<u64> {
        self.provider.get_chain_id().await.map_err(classify)
    }

    /// The number of the newest block.
    pub async fn block_number(&self) -> RpcResult<u64> {
        self.provider.get_block_number().await.map_err(classify)
    }

    /// Block `number`'s hash and parent; `None` past the head.
    pub async fn block(&self, number: u64) -> RpcResult<Option<BlockRef>> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(classify)?;
        Ok(block.map(|b| BlockRef {
            number: b.header.number,
            hash: b.header.hash,
            parent: b.header.parent_hash,
        }))
    }

    /// Every `Transfer` log of the `tokens` contracts in blocks `from..=to`
    /// (the node filters by contract, so a look-alike contract's log never
    /// comes back), in chain order.
    pub async fn transfers(&self, tokens: &[Address], from: u64, to: u64) -> RpcResult<Vec<TransferLog>> {
        if tokens.is_empty() || from > to {
            return Ok(Vec::new());
        }
        let filter = Filter::new()
            .address(tokens.to_vec())
            .event_signature(Transfer::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(classify)?;
        let mut out = Vec::with_capacity(logs.len());
        for log in logs {
            // The node was asked for these contracts only; check anyway.
            if !tokens.contains(&log.address()) {
                continue;
            }
            let (Some(block_number), Some(block_hash), Some(tx_hash), Some(log_index)) =
                (log.block_number, log.block_hash, log.transaction_hash, log.log_index)
            else {
                // A pending log: not in a block yet.
                continue;
            };
            let Ok(decoded) = Transfer::decode_log(&log.inner) else {
                // Same topic, other shape (an ERC-721 Transfer): not a token transfer.
                continue;
            };
            out.push(TransferLog {
                token: log.address(),
                from: decoded.data.from,
                to: decoded.data.to,
                amount: decoded.data.value,
                block_number,
                block_hash,
                tx_hash,
                log_index,
            });
        }
        out.sort_by_key(|t| (t.block_number, t.log_index));
        Ok(out)
    }

    async fn call(&self, to: Address, data: Vec<u8>) -> RpcResult<Bytes> {
        let request = TransactionRequest::default()
            .to(to)
            .input(TransactionInput::new(Bytes::from(data)));
        self.provider.call(request).await.map_err(classify)
    }

    /// `holder`'s balance of the token at `token`, in its minor units.
    pub async fn token_balance(&self, token: Address, holder: Address) -> RpcResult<U256> {
        let out = self.call(token, balanceOfCall { owner: holder }.abi_encode()).await?;
        balanceOfCall::abi_decode_returns(&out).map_err(|e| RpcError::Malformed(e.to_string()))
    }

    /// The token's `decimals()`.
    pub async fn decimals(&self, token: Address) -> RpcResult<u8> {
        let out = self.call(token, decimalsCall {}.abi_encode()).await?;
        decimalsCall::abi_decode_returns(&out).map_err(|e| RpcError::Malformed(e.to_string()))
    }

    /// `holder`'s ether, in wei.
    pub async fn eth_balance(&self, holder: Address) -> RpcResult<U256> {
        self.provider.get_balance(holder).await.map_err(classify)
    }

    /// The next nonce of `holder`, counting its pending transactions.
    pub async fn nonce(&self, holder: Address) -> RpcResult<u64> {
        self.provider
            .get_transaction_count(holder)
            .pending()
            .await
            .map_err(classify)
    }

    /// How many transactions of `holder` are mined (its next nonce, not
    /// counting pending ones).
    pub async fn mined_nonce(&self, holder: Address) -> RpcResult<u64> {
        self.provider
            .get_transaction_count(holder)
            .latest()
            .await
            .map_err(classify)
    }

    /// The base fee of the next block, in wei per gas.
    pub async fn next_base_fee(&self) -> RpcResult<u128> {
        let history = self
            .provider
            .get_fee_history(1, BlockNumberOrTag::Latest, &[])
            .await
            .map_err(classify)?;
        history
            .base_fee_per_gas
            .last()
            .copied()
            .ok_or_else(|| RpcError::Malformed("no base fee in the fee history".to_owned()))
    }

    pub async fn fees(&self) -> RpcResult<Fees> {
        let estimate = self.provider.estimate_eip1559_fees().await.map_err(classify)?;
        Ok(Fees {
            max_fee_per_gas: estimate.max_fee_per_gas,
            max_priority_fee_per_gas: estimate.max_priority_fee_per_gas,
        })
    }

    /// Sends a signed transaction; returns its hash.
    pub async fn send_raw(&self, raw: &[u8]) -> RpcResult<B256> {
        let pending = self.provider.send_raw_transaction(raw).await.map_err(classify)?;
        Ok(*pending.tx_hash())
    }

    /// The receipt of `tx`, once it is mined.
    pub async fn receipt(&self, tx: B256) -> RpcResult<Option<Receipt>> {
        let receipt = self.provider.get_transaction_receipt(tx).await.map_err(classify)?;
        Ok(receipt.map(|r| Receipt {
            success: r.status(),
            block_number: r.block_number,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_topic_is_the_erc20_one() {
        assert_eq!(
            format!("{:x}", Transfer::SIGNATURE_HASH),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
        );
        assert_eq!(hex::encode(balanceOfCall::SELECTOR), "70a08231");
    }

    #[test]
    fn only_http_urls_make_a_client() {
        assert_eq!(
            ChainRpc::new("ftp://node", Duration::from_secs(1)).err(),
            Some(RpcError::BadUrl)
        );
        assert_eq!(
            ChainRpc::new("not a url", Duration::from_secs(1)).err(),
            Some(RpcError::BadUrl)
        );
        assert!(ChainRpc::new("http://127.0.0.1:1", Duration::from_secs(1)).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_node_says_so_without_its_url() {
        let rpc = ChainRpc::new("http://127.0.0.1:1/secret-key", Duration::from_secs(1)).unwrap();
        let err = rpc.block_number().await.unwrap_err();
        assert_eq!(err, RpcError::Unreachable);
        assert!(!err.to_string().contains("secret-key"));
    }
}
