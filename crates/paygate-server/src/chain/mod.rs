//! The stablecoin rail on an EVM chain (docs/stablecoins.md): configuration,
//! the checks made at start, the signer's client and the sandbox signer.

pub mod address;
pub mod config;
pub mod credit;
pub mod deposit_addresses;
pub mod metrics;
pub mod nonces;
pub mod payouts;
pub mod preflight;
pub mod rail;
pub mod reconcile;
pub mod rpc;
pub mod sandbox;
pub mod signer_client;
pub mod sweeps;
pub mod watcher;

use std::sync::Arc;

use anyhow::Context as _;

use self::sandbox::SandboxSigner;
use self::signer_client::SignerClient;
use crate::config::Config;

/// What `paygate serve` runs for the chains.
#[derive(Debug, Default)]
pub struct ChainRuntime {
    /// The signer's client; None when no chain is configured.
    pub signer: Option<Arc<SignerClient>>,
    /// The sandbox signer this process started, stopped when dropped.
    pub sandbox: Option<SandboxSigner>,
}

/// Checks each configured chain's node (chain id, token decimals) and
/// reaches the signer: the one at `[signer].socket`, else a sandbox signer
/// started for the test chain. Nothing starts when no chain is configured.
pub async fn start(config: &Config) -> anyhow::Result<ChainRuntime> {
    if !config.chains.any() {
        return Ok(ChainRuntime::default());
    }
    preflight::check(&config.chains).await?;
    if let Some(socket) = &config.signer.socket {
        let client = SignerClient::connect(socket)
            .await
            .with_context(|| format!("signer.socket: no signer answers on {}", socket.display()))?;
        return Ok(ChainRuntime {
            signer: Some(Arc::new(client)),
            sandbox: None,
        });
    }
    // Validation lets only a test chain go without a socket.
    let chain = config
        .chains
        .test
        .as_ref()
        .context("signer.socket: a live chain needs its own signer")?;
    crate::serve::ensure_private_dir(&config.data_dir)?;
    let (sandbox, client) = SandboxSigner::start(&config.data_dir, chain, &config.signer).await?;
    Ok(ChainRuntime {
        signer: Some(Arc::new(client)),
        sandbox: Some(sandbox),
    })
}
