//! Sweeps (docs/stablecoins.md): confirmed deposits move from their
//! deposit address to the hot wallet, with a gas top-up from the hot wallet
//! first when the address has too little ether. Each step's signed
//! transaction is stored before it is sent, so a restart resends the same
//! transaction (the same hash: the chain takes it once) and never signs a
//! second move of the same funds. Every state change is conditional on the
//! state it leaves, so of several instances one moves a sweep on.

use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use paygate_proto::money::Currency;
use sqlx::Row as _;

use crate::app::AppState;
use crate::chain::metrics as chain_metrics;
use crate::chain::nonces::{self, Wallet};
use crate::chain::rpc::{ChainRpc, RpcError};
use crate::chain::signer_client::{Signed, SignerClient, SignerError, SweepIntent, TopupIntent};

mod topup;
use crate::chain::watcher::store::Scope;
use crate::chain::watcher::{Settings, WatchError};
use crate::http::ApiError;
use crate::ids;
use paygate_proto::ErrorCode;

/// Gas a token transfer may use (the signer allows up to its own ceiling).
pub const SWEEP_GAS: u64 = 100_000;
const TOPUP_GAS: u64 = 21_000;

#[derive(Debug, Clone)]
struct Sweep {
    id: String,
    index: u32,
    address: Address,
    token: String,
    amount: i64,
    state: String,
    topup_tx: Option<String>,
    topup_raw: Option<String>,
    sweep_tx: Option<String>,
    sweep_raw: Option<String>,
}

/// One round: opens sweeps for addresses with unswept confirmed deposits
/// (one open sweep per address, so its nonces never collide; the next
/// token waits for the round after), then moves every open sweep on by
/// one step.
pub async fn run_once(
    state: &AppState,
    rpc: &ChainRpc,
    signer: &Arc<SignerClient>,
    settings: &Settings,
) -> Result<usize, WatchError> {
    open_sweeps(state, rpc, settings).await?;
    let open = load_open(state, settings.scope()).await?;
    chain_metrics::sweeps_pending(settings.env, open.len());
    for sweep in &open {
        if let Err(err) = step(state, rpc, signer, settings, sweep).await {
            match err {
                StepError::Refused(code) => {
                    chain_metrics::signer_refusal(&code);
                    tracing::warn!(sweep = %sweep.id, code = %code, "the signer refused a sweep step");
                    set_state(state, &sweep.id, &sweep.state, "failed", Some(code)).await?;
                }
                // One sweep's trouble (a hot wallet without ether, a node
                // refusing) waits for the next round; the others go on.
                StepError::Watch(err) => tracing::warn!(sweep = %sweep.id, error = %err, "a sweep step failed"),
            }
        }
    }
    Ok(open.len())
}

enum StepError {
    Refused(String),
    Watch(WatchError),
}

impl<E: Into<WatchError>> From<E> for StepError {
    fn from(err: E) -> Self {
        StepError::Watch(err.into())
    }
}

fn signer_err(err: SignerError) -> StepError {
    match err {
        SignerError::Refused(code) => StepError::Refused(code),
        other => StepError::Watch(WatchError::Signer(other.to_string())),
    }
}

async fn open_sweeps(state: &AppState, rpc: &ChainRpc, settings: &Settings) -> Result<(), WatchError> {
    let scope = settings.scope();
    let rows = sqlx::query(
        "SELECT DISTINCT t.address_id, t.derivation_index, t.to_address, t.token, t.currency FROM chain_transfers t \
         WHERE t.env = $1 AND t.chain_id = $2 AND t.state = 'confirmed' AND t.sweep_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM chain_sweeps s WHERE s.address_id = t.address_id \
           AND s.state IN ('pending', 'topping_up', 'sweeping')) LIMIT 200",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .fetch_all(state.store().pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    for row in rows {
        let address_id: String = row.try_get("address_id").map_err(crate::store::StoreError::from)?;
        let index: i64 = row
            .try_get("derivation_index")
            .map_err(crate::store::StoreError::from)?;
        let address: String = row.try_get("to_address").map_err(crate::store::StoreError::from)?;
        let token: String = row.try_get("token").map_err(crate::store::StoreError::from)?;
        let currency: String = row.try_get("currency").map_err(crate::store::StoreError::from)?;
        let (Ok(holder), Ok(contract)) = (address.parse::<Address>(), token.parse::<Address>()) else {
            continue;
        };
        let balance = rpc.token_balance(contract, holder).await?;
        let Ok(amount) = i64::try_from(balance) else { continue };
        let (now, id) = (state.now(), ids::new_id("swp"));
        let currency = Currency::parse(&currency).unwrap_or(Currency::USDC);
        state
            .store()
            .write(move |conn| {
                Box::pin(async move {
                    if amount > 0 {
                        let made = sqlx::query(
                            "INSERT INTO chain_sweeps (id, env, chain_id, address_id, derivation_index, address, token, \
                             currency, amount, state, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $10) ON CONFLICT DO NOTHING",
                        )
                        .bind(&id)
                        .bind(scope.env.as_str())
                        .bind(scope.chain_id)
                        .bind(&address_id)
                        .bind(index)
                        .bind(&address)
                        .bind(&token)
                        .bind(currency.as_str())
                        .bind(amount)
                        .bind(now)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        if made == 0 {
                            return Ok(());
                        }
                    }
                    // The confirmed deposits this sweep moves (none left when the balance is already gone).
                    sqlx::query(
                        "UPDATE chain_transfers SET sweep_id = $1 WHERE address_id = $2 AND token = $3 \
                         AND state = 'confirmed' AND sweep_id IS NULL",
                    )
                    .bind(if amount > 0 { id.clone() } else { "none".to_owned() })
                    .bind(&address_id)
                    .bind(&token)
                    .execute(&mut *conn)
                    .await?;
                    Ok::<_, ApiError>(())
                })
            })
            .await?;
    }
    Ok(())
}

async fn load_open(state: &AppState, scope: Scope) -> Result<Vec<Sweep>, WatchError> {
    let rows = sqlx::query(
        "SELECT id, derivation_index, address, token, amount, state, topup_tx, topup_raw, sweep_tx, sweep_raw \
         FROM chain_sweeps WHERE env = $1 AND chain_id = $2 AND state IN ('pending', 'topping_up', 'sweeping') \
         ORDER BY created_at LIMIT 200",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .fetch_all(state.store().pool())
    .await
    .map_err(crate::store::StoreError::from)?;
    let mut out = Vec::new();
    for row in rows {
        let get = |name: &str| -> Result<Option<String>, sqlx::Error> { row.try_get(name) };
        let index: i64 = row
            .try_get("derivation_index")
            .map_err(crate::store::StoreError::from)?;
        let address: String = row.try_get("address").map_err(crate::store::StoreError::from)?;
        let (Ok(index), Ok(address)) = (u32::try_from(index), address.parse()) else {
            continue;
        };
        out.push(Sweep {
            id: row.try_get("id").map_err(crate::store::StoreError::from)?,
            index,
            address,
            token: row.try_get("token").map_err(crate::store::StoreError::from)?,
            amount: row.try_get("amount").map_err(crate::store::StoreError::from)?,
            state: row.try_get("state").map_err(crate::store::StoreError::from)?,
            topup_tx: get("topup_tx").map_err(crate::store::StoreError::from)?,
            topup_raw: get("topup_raw").map_err(crate::store::StoreError::from)?,
            sweep_tx: get("sweep_tx").map_err(crate::store::StoreError::from)?,
            sweep_raw: get("sweep_raw").map_err(crate::store::StoreError::from)?,
        });
    }
    Ok(out)
}

async fn set_state(
    state: &AppState,
    id: &str,
    from: &str,
    to: &str,
    failure: Option<String>,
) -> Result<bool, WatchError> {
    let (id, from, to, now) = (id.to_owned(), from.to_owned(), to.to_owned(), state.now());
    let changed = state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE chain_sweeps SET state = $1, failure = $2, updated_at = $3 WHERE id = $4 AND state = $5",
                )
                .bind(&to)
                .bind(failure)
                .bind(now)
                .bind(&id)
                .bind(&from)
                .execute(conn)
                .await?
                .rows_affected();
                Ok::<_, ApiError>(done == 1)
            })
        })
        .await?;
    Ok(changed)
}

/// Stores a signed transaction and the state it puts the sweep in; false
/// when another instance moved the sweep on first (its transaction is sent, not ours).
async fn keep_signed(
    state: &AppState,
    sweep: &Sweep,
    to: &str,
    signed: &Signed,
    hold: Option<&Wallet>,
) -> Result<bool, WatchError> {
    let (tx_col, raw_col) = if to == "topping_up" {
        ("topup_tx", "topup_raw")
    } else {
        ("sweep_tx", "sweep_raw")
    };
    let sql = format!(
        "UPDATE chain_sweeps SET state = $1, {tx_col} = $2, {raw_col} = $3, updated_at = $4 WHERE id = $5 AND state = $6"
    );
    let (id, from, to, now) = (sweep.id.clone(), sweep.state.clone(), to.to_owned(), state.now());
    let (hash, raw, hold) = (signed.tx_hash.clone(), signed.raw_tx.clone(), hold.cloned());
    let changed = state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(&sql)
                    .bind(&to)
                    .bind(&hash)
                    .bind(&raw)
                    .bind(now)
                    .bind(&id)
                    .bind(&from)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                if done == 1 {
                    if let Some(wallet) = &hold {
                        if !nonces::used(conn, wallet, &id, now).await? {
                            // Its nonce hold lapsed and went on: this transaction is never kept or sent.
                            return Err(ApiError::new(ErrorCode::InvalidState));
                        }
                    }
                }
                Ok::<_, ApiError>(done == 1)
            })
        })
        .await;
    match changed {
        Err(err) if err.code() == ErrorCode::InvalidState => Ok(false),
        other => Ok(other?),
    }
}

/// What the node said to a stored signed transaction.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    /// Taken now, or known already.
    Taken,
    /// Its nonce was used by another transaction: this one will never be
    /// mined, and the step is taken again with a fresh nonce.
    NonceUsed,
}

/// Sends a stored signed transaction.
async fn send(rpc: &ChainRpc, raw: &str) -> Result<Sent, WatchError> {
    let bytes = hex::decode(raw.trim_start_matches("0x"))
        .map_err(|_| WatchError::Signer("a stored raw transaction is not hex".to_owned()))?;
    match rpc.send_raw(&bytes).await {
        Ok(_) => Ok(Sent::Taken),
        Err(RpcError::Refused(reason)) if reason.contains("already") => Ok(Sent::Taken),
        Err(RpcError::Refused(reason)) if reason.contains("nonce too low") => Ok(Sent::NonceUsed),
        Err(err) => Err(err.into()),
    }
}

/// Resends a step's transaction that has no receipt yet; when its nonce went
/// to another transaction, the sweep goes back to `pending` (checked again
/// from the chain: gas, then the transfer).
async fn resend(state: &AppState, rpc: &ChainRpc, sweep: &Sweep, raw: Option<&str>) -> Result<(), WatchError> {
    let Some(raw) = raw else { return Ok(()) };
    if send(rpc, raw).await? == Sent::NonceUsed {
        // Mined in the meantime? Then its receipt says so on the next round.
        let hash = if sweep.state == "topping_up" {
            &sweep.topup_tx
        } else {
            &sweep.sweep_tx
        };
        if receipt_of(rpc, hash.as_deref()).await?.is_none() {
            set_state(state, &sweep.id, &sweep.state, "pending", None).await?;
        }
    }
    Ok(())
}

/// Wei per gas the sweep offers: the node's estimate, within the signer's ceiling.
async fn fees(state: &AppState, rpc: &ChainRpc) -> Result<(u128, u128), WatchError> {
    let estimate = rpc.fees().await?;
    let ceiling = u128::from(state.config().signer.max_fee_per_gas_gwei).saturating_mul(1_000_000_000);
    let max_fee = estimate.max_fee_per_gas.min(ceiling);
    Ok((max_fee, estimate.max_priority_fee_per_gas.min(max_fee)))
}

async fn step(
    state: &AppState,
    rpc: &ChainRpc,
    signer: &Arc<SignerClient>,
    settings: &Settings,
    sweep: &Sweep,
) -> Result<(), StepError> {
    match sweep.state.as_str() {
        "pending" => {
            let (max_fee, priority) = fees(state, rpc).await?;
            let needed = U256::from(SWEEP_GAS) * U256::from(max_fee);
            let has = rpc.eth_balance(sweep.address).await?;
            if has < needed {
                let intent = TopupIntent {
                    index: sweep.index,
                    value_wei: u128::try_from(needed - has).unwrap_or(u128::MAX),
                    nonce: 0,
                    gas_limit: TOPUP_GAS,
                    max_fee_per_gas: max_fee,
                    max_priority_fee_per_gas: priority,
                };
                return topup::top_up(state, rpc, signer, settings, sweep, intent).await;
            }
            topup::give_back_if_held(state, signer, settings, sweep).await?;
            sign_and_send_sweep(state, rpc, signer, sweep, max_fee, priority).await
        }
        "topping_up" => {
            let Some(receipt) = receipt_of(rpc, sweep.topup_tx.as_deref()).await? else {
                resend(state, rpc, sweep, sweep.topup_raw.as_deref()).await?;
                return Ok(());
            };
            if !receipt.success {
                set_state(
                    state,
                    &sweep.id,
                    "topping_up",
                    "failed",
                    Some("topup_reverted".to_owned()),
                )
                .await?;
                return Ok(());
            }
            let (max_fee, priority) = fees(state, rpc).await?;
            sign_and_send_sweep(state, rpc, signer, sweep, max_fee, priority).await
        }
        "sweeping" => {
            match receipt_of(rpc, sweep.sweep_tx.as_deref()).await? {
                None => resend(state, rpc, sweep, sweep.sweep_raw.as_deref()).await?,
                Some(r) if r.success => {
                    set_state(state, &sweep.id, "sweeping", "done", None).await?;
                }
                Some(_) => {
                    set_state(state, &sweep.id, "sweeping", "failed", Some("reverted".to_owned())).await?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn receipt_of(rpc: &ChainRpc, tx: Option<&str>) -> Result<Option<crate::chain::rpc::Receipt>, WatchError> {
    let Some(hash) = tx.and_then(|t| t.parse::<B256>().ok()) else {
        return Ok(None);
    };
    Ok(rpc.receipt(hash).await?)
}

async fn sign_and_send_sweep(
    state: &AppState,
    rpc: &ChainRpc,
    signer: &Arc<SignerClient>,
    sweep: &Sweep,
    max_fee: u128,
    priority: u128,
) -> Result<(), StepError> {
    let intent = SweepIntent {
        index: sweep.index,
        token: sweep.token.clone(),
        amount: u128::try_from(sweep.amount).unwrap_or(0),
        nonce: rpc.nonce(sweep.address).await?,
        gas_limit: SWEEP_GAS,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
    };
    let signed = signer.sign_sweep(&intent).await.map_err(signer_err)?;
    if keep_signed(state, sweep, "sweeping", &signed, None).await? {
        send(rpc, &signed.raw_tx).await?;
    }
    Ok(())
}
