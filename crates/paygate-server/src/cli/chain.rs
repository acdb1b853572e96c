//! `paygate chain status --env E` and `paygate chain reconcile --env E`.

use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use clap::Subcommand;
use paygate_proto::Environment;
use serde_json::json;

use super::{master_key_from_env, print};
use crate::chain::reconcile;
use crate::chain::signer_client::SignerClient;
use crate::clock::Clock;
use crate::config::Config;
use crate::serve;

#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// The hot wallet, the head and the watcher's lag, the hot wallet's
    /// balances and the sweeps not finished.
    Status {
        #[arg(long)]
        env: String,
    },
    /// Compares what the ledger holds for merchants with what the chain
    /// holds at the hot wallet and the deposit addresses; exits non-zero
    /// naming any difference.
    Reconcile {
        #[arg(long)]
        env: String,
    },
}

pub(super) async fn run(
    command: ChainCommand,
    as_json: bool,
    config: Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    let (ChainCommand::Status { env } | ChainCommand::Reconcile { env }) = &command;
    let env = Environment::parse(env).ok_or_else(|| anyhow!("--env must be test or live"))?;
    let chain = config
        .chains
        .get(env)
        .cloned()
        .ok_or_else(|| anyhow!("no chain is configured for {env} ([chains.{env}.ethereum])"))?;
    let socket = config
        .signer
        .socket
        .clone()
        .unwrap_or_else(|| config.data_dir.join("signer").join("signer.sock"));
    let signer = SignerClient::connect(&socket)
        .await
        .with_context(|| format!("no signer answers on {}", socket.display()))?;
    let state = serve::open_state(config, master_key_from_env(), clock).await?;
    match command {
        ChainCommand::Status { .. } => {
            let status = reconcile::status(&state, env, &chain, &signer).await?;
            let text = format!(
                "hot wallet {}\nblock {} (watcher {} blocks behind)\nbalances {}\npending sweeps {}",
                status["hot_wallet"].as_str().unwrap_or_default(),
                status["block"],
                status["lag_blocks"],
                status["balances"],
                status["pending_sweeps"]
            );
            print(as_json, status, &text);
            Ok(())
        }
        ChainCommand::Reconcile { .. } => {
            let custody = reconcile::reconcile(&state, env, &chain, &signer).await?;
            let differences: Vec<_> = custody.iter().filter(|c| c.difference != 0).collect();
            let mut text = String::new();
            for c in &custody {
                text.push_str(&format!(
                    "{}: ledger {} chain {} difference {}\n",
                    c.currency, c.ledger, c.chain, c.difference
                ));
            }
            print(
                as_json,
                json!({ "env": env.as_str(), "ok": differences.is_empty(), "custody": custody }),
                text.trim_end(),
            );
            if !differences.is_empty() {
                let named: Vec<String> = differences
                    .iter()
                    .map(|c| format!("{} ({:+})", c.currency, c.difference))
                    .collect();
                bail!("the chain and the ledger differ: {}", named.join(", "));
            }
            Ok(())
        }
    }
}
