//! The chain watcher (docs/stablecoins.md): one task per environment with a
//! configured chain. Each poll it checks that the newest block it remembers
//! is still on the chain, scans the new blocks' `Transfer` logs of the
//! configured token contracts in one `eth_getLogs` range, records those to
//! watched addresses, moves them seen -> confirming -> confirmed and credits
//! the confirmed ones. A parent mismatch (or a remembered block replaced)
//! is a reorganisation: transfers above the fork are dropped, or reversed
//! if credited. Every write is idempotent, so a restart rescans safely and
//! several instances may watch at once (see `credit`).

pub mod state;
pub mod store;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256};
use paygate_proto::money::Currency;
use paygate_proto::Environment;
use tokio::sync::watch;

use self::state::{advance, first_break, fork_point, on_reorg, TransferState};
use self::store::{Scope, Watched};
use crate::app::AppState;
use crate::chain::config::EvmChain;
use crate::chain::credit::{self, Observed};
use crate::chain::metrics as chain_metrics;
use crate::chain::rpc::{BlockRef, ChainRpc, RpcError, TransferLog};
use crate::http::ApiError;
use crate::payments;

/// Blocks scanned by one `eth_getLogs` call at most.
const MAX_RANGE: u64 = 500;
/// How long one RPC call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// What one environment's watcher needs to know.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: Environment,
    pub rpc_url: String,
    pub chain_id: u64,
    pub confirmations: u64,
    pub poll_interval: Duration,
    /// The configured token contracts and the currency each one is.
    pub tokens: Vec<(Currency, Address)>,
}

impl Settings {
    pub fn from_chain(env: Environment, chain: &EvmChain) -> Self {
        let tokens = chain
            .tokens
            .iter()
            .filter_map(|(token, contract)| Some((token.currency(), contract.parse().ok()?)))
            .collect();
        Settings {
            env,
            rpc_url: chain.rpc_url.clone(),
            chain_id: chain.chain_id,
            confirmations: chain.confirmations.max(1),
            poll_interval: chain.poll_interval,
            tokens,
        }
    }

    pub fn scope(&self) -> Scope {
        Scope {
            env: self.env,
            chain_id: i64::try_from(self.chain_id).unwrap_or(i64::MAX),
        }
    }

    /// How many recent blocks are remembered: a reorganisation deeper than
    /// this is not seen.
    fn window(&self) -> u64 {
        self.confirmations.saturating_mul(2).max(64)
    }

    /// How long the node may stay unreachable before `chain_rpc_unreachable`.
    fn unreachable_after(&self) -> Duration {
        self.poll_interval.saturating_mul(30).max(Duration::from_secs(5))
    }

    fn currency_of(&self, contract: Address) -> Option<Currency> {
        self.tokens.iter().find(|(_, a)| *a == contract).map(|(c, _)| *c)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error("{0:?}")]
    Store(ApiError),
    #[error("the signer: {0}")]
    Signer(String),
}

impl From<ApiError> for WatchError {
    fn from(err: ApiError) -> Self {
        WatchError::Store(err)
    }
}

impl From<crate::store::StoreError> for WatchError {
    fn from(err: crate::store::StoreError) -> Self {
        WatchError::Store(err.into())
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub head: u64,
    /// The blocks scanned, if any.
    pub scanned: Option<(u64, u64)>,
    pub observed: usize,
    pub credited: usize,
    pub reversed: usize,
    pub dropped: usize,
    /// The fork point of a reorganisation handled in this poll.
    pub reorg_fork: Option<u64>,
    /// Sweeps not finished at the start of this poll's sweep round.
    pub sweeps_open: usize,
}

/// Starts a watcher for every environment with a configured chain.
pub fn spawn_all(state: &AppState, shutdown: &watch::Receiver<bool>) {
    for (env, chain) in state.config().chains.iter() {
        let settings = Settings::from_chain(env, chain);
        tokio::spawn(run(state.clone(), settings, shutdown.clone()));
    }
}

async fn run(state: AppState, settings: Settings, mut shutdown: watch::Receiver<bool>) {
    let rpc = match ChainRpc::new(&settings.rpc_url, RPC_TIMEOUT) {
        Ok(rpc) => rpc,
        Err(err) => {
            tracing::error!(env = settings.env.as_str(), error = %err, "the chain watcher cannot start");
            return;
        }
    };
    tracing::info!(
        env = settings.env.as_str(),
        chain_id = settings.chain_id,
        "chain watcher started"
    );
    let mut outage = chain_metrics::Outage::default();
    loop {
        let started = Instant::now();
        match tick(&state, &rpc, &settings).await {
            Ok(report) => {
                outage.recovered();
                let scanned_to = report.scanned.map_or(report.head, |(_, to)| to);
                chain_metrics::head_lag(settings.env, report.head.saturating_sub(scanned_to));
                if report.observed + report.credited + report.reversed + report.dropped > 0 {
                    tracing::info!(env = settings.env.as_str(), ?report, "chain watcher");
                }
            }
            Err(WatchError::Rpc(RpcError::Unreachable)) => {
                chain_metrics::rpc_failure(settings.env);
                tracing::warn!(env = settings.env.as_str(), "the chain's RPC could not be reached");
                if outage.failed(started, settings.unreachable_after()) {
                    let secs = outage.duration(started).as_secs();
                    if let Err(err) =
                        chain_metrics::alert_unreachable(&state, settings.env, settings.chain_id, secs).await
                    {
                        tracing::warn!(error = ?err, "the RPC outage alert could not be written");
                    }
                }
            }
            Err(err) => tracing::warn!(env = settings.env.as_str(), error = %err, "chain watcher poll failed"),
        }
        let wait = settings.poll_interval.saturating_sub(started.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One poll: reorganisation check, scan, confirmations, credits.
pub async fn tick(state: &AppState, rpc: &ChainRpc, settings: &Settings) -> Result<Report, WatchError> {
    let scope = settings.scope();
    let pool = state.store().pool().clone();
    let head = rpc.block_number().await?;
    let mut report = Report {
        head,
        ..Report::default()
    };
    let remembered = store::blocks(&pool, scope).await?;
    if let Some(tip) = remembered.first() {
        let canonical = rpc.block(tip.number).await?;
        if canonical.map(|b| b.hash) != Some(tip.hash) {
            unwind(state, rpc, settings, &remembered, head, &mut report).await?;
            return Ok(report);
        }
    }
    let next = match store::cursor(&pool, scope).await? {
        Some(next) => next,
        None => head.saturating_sub(settings.confirmations),
    };
    if next <= head {
        let to = head.min(next.saturating_add(MAX_RANGE - 1));
        if !scan(state, rpc, settings, &remembered, next, to, &mut report).await? {
            return Ok(report);
        }
    }
    confirm(state, rpc, settings, head, &mut report).await?;
    let now = state.now();
    for (merchant, payment) in store::underpaid_due(&pool, settings.env, now).await? {
        let env = settings.env;
        state
            .store()
            .write(move |conn| {
                Box::pin(async move { payments::expire_processing(conn, &merchant, env, &payment, now).await })
            })
            .await?;
    }
    if let Some(signer) = state.signer() {
        report.sweeps_open = crate::chain::sweeps::run_once(state, rpc, signer, settings).await?;
    }
    Ok(report)
}

/// Scans blocks `from..=to`; false when the chain moved under the scan (a
/// reorganisation, handled, or a race: the next poll scans again).
async fn scan(
    state: &AppState,
    rpc: &ChainRpc,
    settings: &Settings,
    remembered: &[BlockRef],
    from: u64,
    to: u64,
    report: &mut Report,
) -> Result<bool, WatchError> {
    let window_start = report.head.saturating_sub(settings.window());
    let mut headers = Vec::new();
    for number in from.max(window_start)..=to {
        match rpc.block(number).await? {
            Some(block) => headers.push(block),
            None => return Ok(false),
        }
    }
    let below = headers
        .first()
        .and_then(|first| remembered.iter().find(|b| b.number + 1 == first.number))
        .map(|b| b.hash);
    let links: Vec<(u64, B256, B256)> = headers.iter().map(|b| (b.number, b.hash, b.parent)).collect();
    if first_break(below, &links).is_some() {
        unwind(state, rpc, settings, remembered, report.head, report).await?;
        return Ok(false);
    }
    let tokens: Vec<Address> = settings.tokens.iter().map(|(_, a)| *a).collect();
    let logs = rpc.transfers(&tokens, from, to).await?;
    let moved = logs.iter().any(|l| {
        headers
            .iter()
            .any(|h| h.number == l.block_number && h.hash != l.block_hash)
    });
    if moved {
        return Ok(false);
    }
    let watched = store::watched(state.store().pool(), settings.env).await?;
    let found: Vec<(TransferLog, Currency, i64, Watched)> = logs
        .into_iter()
        .filter_map(|log| {
            let to = watched.get(&log.to)?.clone();
            let currency = settings.currency_of(log.token)?;
            let amount = i64::try_from(log.amount).ok().filter(|a| *a > 0);
            if amount.is_none() {
                tracing::warn!(tx = %log.tx_hash, "a transfer amount out of range was not recorded");
            }
            Some((log, currency, amount?, to))
        })
        .collect();
    let scope = settings.scope();
    let (head, keep_from, now) = (report.head, window_start, state.now());
    let observed = state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                let mut observed = 0;
                for (log, currency, amount, to) in &found {
                    let Some(row) = store::observe(&mut *conn, scope, log, *currency, *amount, to, now).await? else {
                        continue;
                    };
                    observed += 1;
                    if let Some(payment) = &row.payment_id {
                        payments::mark_processing(&mut *conn, &row.merchant, row.env, payment, now).await?;
                    }
                }
                store::remember(&mut *conn, scope, &headers, keep_from).await?;
                store::set_cursor(&mut *conn, scope, to + 1, head, now).await?;
                Ok::<_, ApiError>(observed)
            })
        })
        .await?;
    report.observed += observed;
    report.scanned = Some((from, to));
    Ok(true)
}

/// Moves open transfers on by depth and credits those confirmed, each in
/// its own transaction, after checking its block is still the chain's.
async fn confirm(
    state: &AppState,
    rpc: &ChainRpc,
    settings: &Settings,
    head: u64,
    report: &mut Report,
) -> Result<(), WatchError> {
    let open = store::transfers(state.store().pool(), settings.scope(), &["seen", "confirming"], None).await?;
    let mut confirming = Vec::new();
    let mut canonical: HashMap<u64, Option<B256>> = HashMap::new();
    for transfer in open {
        let current = TransferState::parse(&transfer.state).unwrap_or(TransferState::Seen);
        let block = u64::try_from(transfer.block_number).unwrap_or(0);
        match advance(current, block, head, settings.confirmations) {
            Some(TransferState::Confirmed) => {
                let on_chain = match canonical.get(&block) {
                    Some(known) => *known,
                    None => {
                        let hash = rpc.block(block).await?.map(|b| b.hash);
                        canonical.insert(block, hash);
                        hash
                    }
                };
                if on_chain.map(|h| store::hex(&h)) != Some(transfer.block_hash.clone()) {
                    // Its block left the chain: the next poll unwinds it.
                    continue;
                }
                let now = state.now();
                let credited = state
                    .store()
                    .write(move |conn| Box::pin(async move { credit::credit(conn, &transfer, now).await }))
                    .await?;
                if credited {
                    report.credited += 1;
                    chain_metrics::deposit_credited(settings.env);
                }
            }
            Some(TransferState::Confirming) => confirming.push(transfer.id),
            _ => {}
        }
    }
    if !confirming.is_empty() {
        let now = state.now();
        state
            .store()
            .write(move |conn| {
                Box::pin(async move { store::set_open_state(conn, &confirming, "confirming", now).await })
            })
            .await?;
    }
    Ok(())
}

/// Handles a reorganisation: finds the fork among the remembered blocks,
/// drops the open transfers above it, reverses the credited ones, forgets
/// the blocks above it and rescans from there.
async fn unwind(
    state: &AppState,
    rpc: &ChainRpc,
    settings: &Settings,
    remembered: &[BlockRef],
    head: u64,
    report: &mut Report,
) -> Result<(), WatchError> {
    let mut chain = Vec::new();
    for block in remembered {
        let canonical = rpc.block(block.number).await?.map(|b| b.hash);
        chain.push((block.number, canonical));
        if canonical == Some(block.hash) {
            break;
        }
    }
    let ours: Vec<(u64, B256)> = remembered.iter().map(|b| (b.number, b.hash)).collect();
    let fork = fork_point(&ours, &chain).unwrap_or_else(|| remembered.last().map_or(0, |b| b.number.saturating_sub(1)));
    tracing::warn!(env = settings.env.as_str(), fork, head, "chain reorganisation");
    let scope = settings.scope();
    let affected: Vec<Observed> = store::transfers(
        state.store().pool(),
        scope,
        &["seen", "confirming", "confirmed"],
        Some(fork),
    )
    .await?;
    let mut dropped = Vec::new();
    for transfer in affected {
        let current = TransferState::parse(&transfer.state).unwrap_or(TransferState::Seen);
        match on_reorg(current) {
            Some(TransferState::Dropped) => dropped.push(transfer.id),
            Some(TransferState::Reversed) => {
                let now = state.now();
                let reversed = state
                    .store()
                    .write(move |conn| Box::pin(async move { credit::reverse(conn, &transfer, now).await }))
                    .await?;
                if reversed {
                    report.reversed += 1;
                    chain_metrics::deposit_reversed(settings.env);
                }
            }
            _ => {}
        }
    }
    report.dropped += dropped.len();
    let now = state.now();
    state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                store::set_open_state(&mut *conn, &dropped, "dropped", now).await?;
                store::forget_above(&mut *conn, scope, fork).await?;
                store::set_cursor(&mut *conn, scope, fork + 1, head, now).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    report.reorg_fork = Some(fork);
    Ok(())
}
