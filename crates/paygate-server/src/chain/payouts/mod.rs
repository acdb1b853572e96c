//! Stablecoin payouts from the hot wallet (docs/stablecoins.md): one runner
//! per environment with a configured chain, beside the watcher. Each round
//! it queues a payout for every approved withdrawal to an Ethereum address,
//! claims the open payouts no other instance is working on, and moves each
//! on by what it needs:
//!
//! - `queued`: a nonce from the hot wallet's allocator (`chain::nonces`) and
//!   fees (the node's estimate, capped at the signer's ceiling), recorded on
//!   the payout; then `sign_payout` to the signer (`sign`);
//! - `signed`: the stored transaction to the relay, else the public node
//!   (`submit`);
//! - `sent`: receipts settle it `confirmations` deep; the relay's timeout
//!   sends the same transaction to the public node; a transaction stuck
//!   below the market is replaced with the same nonce (`track`).
//!
//! The signed transaction and its nonce are committed before anything is
//! sent, so a restart resends that one; a payout is settled only from the
//! chain's receipts.

pub mod record;
mod sign;
pub mod store;
mod submit;
mod track;

use std::sync::Arc;
use std::time::{Duration, Instant};

use paygate_proto::Environment;
use tokio::sync::watch;

use self::record::{Payout, PayoutState, Route};
use crate::app::AppState;
use crate::chain::config::{EvmChain, Token};
use crate::chain::metrics as chain_metrics;
use crate::chain::nonces::Wallet;
use crate::chain::rpc::ChainRpc;
use crate::chain::signer_client::SignerClient;
use crate::chain::watcher::{Settings, WatchError};
use crate::http::ApiError;

/// How long one RPC call may take (the relay's included).
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Gas a payout's token transfer may use.
pub const PAYOUT_GAS: u64 = 100_000;

/// The test-only failpoints of `PAYGATE_TEST_FAILPOINT` (honoured in the
/// test environment only): the process aborts at that point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// Right after the signed transaction and its nonce are committed.
    AfterSign,
    /// Right after the node accepted the transaction, before anything else is written.
    AfterSend,
}

impl Failpoint {
    fn from_env(env: Environment) -> Option<Failpoint> {
        if env != Environment::Test {
            return None;
        }
        match std::env::var("PAYGATE_TEST_FAILPOINT").ok()?.as_str() {
            "payout_after_sign" => Some(Failpoint::AfterSign),
            "payout_after_send" => Some(Failpoint::AfterSend),
            _ => None,
        }
    }
}

/// One environment's payout runner.
pub struct Runner {
    state: AppState,
    settings: Settings,
    rpc: ChainRpc,
    /// The protected relay, when configured.
    relay: Option<ChainRpc>,
    private_timeout_blocks: u64,
    signer: Arc<SignerClient>,
    /// The signer's fee ceiling, in wei per gas.
    ceiling: u128,
    failpoint: Option<Failpoint>,
    chain: EvmChain,
    wallet: Option<Wallet>,
}

/// Starts a runner for every environment with a configured chain.
pub fn spawn_all(state: &AppState, shutdown: &watch::Receiver<bool>) {
    let Some(signer) = state.signer().cloned() else { return };
    for (env, chain) in state.config().chains.iter() {
        match Runner::new(state, env, chain, signer.clone()) {
            Ok(runner) => {
                tokio::spawn(runner.run(shutdown.clone()));
            }
            Err(err) => tracing::error!(env = env.as_str(), error = %err, "the payout runner cannot start"),
        }
    }
}

impl Runner {
    pub fn new(
        state: &AppState,
        env: Environment,
        chain: &EvmChain,
        signer: Arc<SignerClient>,
    ) -> Result<Runner, WatchError> {
        let relay = match &chain.private_rpc_url {
            Some(url) => Some(ChainRpc::new(url, RPC_TIMEOUT)?),
            None => None,
        };
        Ok(Runner {
            state: state.clone(),
            settings: Settings::from_chain(env, chain),
            rpc: ChainRpc::new(&chain.rpc_url, RPC_TIMEOUT)?,
            relay,
            private_timeout_blocks: chain.private_timeout_blocks.max(1),
            signer,
            ceiling: u128::from(state.config().signer.max_fee_per_gas_gwei).saturating_mul(1_000_000_000),
            failpoint: Failpoint::from_env(env),
            chain: chain.clone(),
            wallet: None,
        })
    }

    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let env = self.settings.env;
        tracing::info!(env = env.as_str(), "payout runner started");
        loop {
            let started = Instant::now();
            if let Err(err) = self.round().await {
                tracing::warn!(env = env.as_str(), error = %err, "payout round failed");
            }
            let wait = self.settings.poll_interval.saturating_sub(started.elapsed());
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// The hot wallet, asked of the signer once.
    async fn wallet(&mut self) -> Result<Wallet, WatchError> {
        if let Some(wallet) = &self.wallet {
            return Ok(wallet.clone());
        }
        let address = self
            .signer
            .hot_wallet()
            .await
            .map_err(|e| WatchError::Signer(e.to_string()))?;
        let wallet = Wallet {
            env: self.settings.env,
            chain_id: self.settings.scope().chain_id,
            address,
        };
        self.wallet = Some(wallet.clone());
        Ok(wallet)
    }

    /// The route a payout takes first.
    fn planned_route(&self) -> Route {
        if self.relay.is_some() {
            Route::Private
        } else {
            Route::Public
        }
    }

    /// One round: queue, claim, move each claimed payout on, let go.
    pub async fn round(&mut self) -> Result<(), WatchError> {
        let scope = self.settings.scope();
        self.enqueue().await?;
        let open = store::open_count(self.state.store().pool(), scope).await?;
        chain_metrics::payouts_pending(self.settings.env, open);
        if open == 0 {
            return Ok(());
        }
        let wallet = self.wallet().await?;
        let head = self.rpc.block_number().await?;
        let now = self.state.now();
        let mut claimed = self
            .state
            .store()
            .write(move |conn| Box::pin(async move { store::claim(conn, scope, now).await }))
            .await?;
        // A payout holding its nonce goes first: no other can sign before it.
        claimed.sort_by_key(|p| p.state != PayoutState::Signing);
        let ids: Vec<String> = claimed.iter().map(|p| p.id.clone()).collect();
        let mut busy = false;
        for payout in claimed {
            if busy && payout.state == PayoutState::Queued {
                continue;
            }
            match self.step(payout, head, &wallet).await {
                Ok(sign::Signing::Busy) => busy = true,
                Ok(_) => {}
                Err(err) => tracing::warn!(env = self.settings.env.as_str(), error = %err, "a payout step failed"),
            }
        }
        self.state
            .store()
            .write(move |conn| Box::pin(async move { store::unclaim(conn, &ids).await }))
            .await?;
        Ok(())
    }

    async fn step(&self, payout: Payout, head: u64, wallet: &Wallet) -> Result<sign::Signing, WatchError> {
        match payout.state {
            PayoutState::Queued | PayoutState::Signing => {
                let signing = sign::sign(self, payout, head, wallet).await?;
                if let sign::Signing::Signed(signed) = &signing {
                    submit::submit(self, signed, head).await?;
                }
                Ok(signing)
            }
            PayoutState::Signed => submit::submit(self, &payout, head).await.map(|()| sign::Signing::Done),
            PayoutState::Sent => track::track(self, &payout, head).await.map(|()| sign::Signing::Done),
            PayoutState::Paid | PayoutState::Failed => Ok(sign::Signing::Done),
        }
    }

    /// Queues a payout for every approved withdrawal to an Ethereum address.
    async fn enqueue(&self) -> Result<(), WatchError> {
        let approved = store::approved_without_payout(self.state.store().pool(), self.settings.env).await?;
        for withdrawal in approved {
            let Some(token) = Token::from_currency(withdrawal.currency)
                .and_then(|t| self.chain.token_contract(t))
                .map(str::to_owned)
            else {
                continue;
            };
            let (scope, now) = (self.settings.scope(), self.state.now());
            self.state
                .store()
                .write(move |conn| Box::pin(async move { store::enqueue(conn, scope, &withdrawal, &token, now).await }))
                .await?;
        }
        Ok(())
    }

    /// Wei per gas a payout offers: the node's estimate within the ceiling.
    async fn fees(&self) -> Result<(u128, u128), WatchError> {
        let estimate = self.rpc.fees().await?;
        let max_fee = estimate.max_fee_per_gas.min(self.ceiling);
        Ok((max_fee, estimate.max_priority_fee_per_gas.min(max_fee)))
    }

    fn fail_at(&self, point: Failpoint) {
        if self.failpoint == Some(point) {
            tracing::error!(?point, "PAYGATE_TEST_FAILPOINT: aborting");
            std::process::abort();
        }
    }
}

/// Settles what a payout pays (its withdrawal) and ends the payout, in one
/// transaction; false when another instance did it first.
async fn settle(
    runner: &Runner,
    payout: &Payout,
    from: &'static [PayoutState],
    outcome: Result<(), &'static str>,
    chain: serde_json::Value,
    give_back: Option<Wallet>,
) -> Result<bool, WatchError> {
    let (payout, now) = (payout.clone(), runner.state.now());
    let done = runner
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                let (to, failure) = match outcome {
                    Ok(()) => (PayoutState::Paid, None),
                    Err(code) => (PayoutState::Failed, Some(code)),
                };
                if !store::finish(&mut *conn, &payout.id, from, to, failure, now).await? {
                    return Ok::<_, ApiError>(false);
                }
                if let Some(wallet) = &give_back {
                    crate::chain::nonces::give_back(&mut *conn, wallet, &payout.id, now).await?;
                }
                if payout.source_type == "withdrawal" {
                    let settlement = match failure {
                        None => crate::withdrawals::Settlement::Paid,
                        Some(code) => crate::withdrawals::Settlement::Failed(code),
                    };
                    crate::withdrawals::settle_payout(
                        &mut *conn,
                        &payout.merchant,
                        payout.env,
                        &payout.source_id,
                        settlement,
                        &chain,
                        now,
                    )
                    .await?;
                }
                Ok(true)
            })
        })
        .await?;
    Ok(done)
}
