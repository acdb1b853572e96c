//! A sent payout until it settles: its receipts (any version's: a fee bump
//! keeps the nonce, so whichever is mined counts) settle it once
//! `confirmations` deep, `paid` on status 1 and `failed` (`reverted`) on
//! status 0. Without a receipt, the relay's timeout sends the same
//! transaction to the public node; on the public node, a transaction below
//! the market (the next block's base fee above its max fee) is replaced
//! with the same nonce at a higher fee, never above the ceiling, and one
//! that is not is sent again.

use alloy_primitives::B256;

use super::record::{Payout, PayoutState, Route};
use super::submit::{mark_sent, send};
use super::{settle, store, Runner, PAYOUT_GAS};
use crate::chain::metrics as chain_metrics;
use crate::chain::rpc::Receipt;
use crate::chain::signer_client::{PayoutIntent, SignerError};
use crate::chain::watcher::WatchError;
use crate::http::ApiError;

/// Blocks a transaction on the public node may go without a receipt before
/// it is replaced (market above it) or sent again.
pub const STUCK_BLOCKS: u64 = 3;

pub async fn track(runner: &Runner, payout: &Payout, head: u64) -> Result<(), WatchError> {
    match mined_receipt(runner, payout).await? {
        Some((receipt, block)) => settle_when_deep(runner, payout, head, receipt, block).await,
        None => {
            if payout.mined_block.is_some() {
                // A reorganisation took its block: it waits to be mined again.
                show_mined(runner, payout, None, head).await?;
            }
            let sent = u64::try_from(payout.sent_block.unwrap_or(0)).unwrap_or(0);
            let raw = payout.raw_tx.as_deref().unwrap_or_default();
            match payout.route {
                Some(Route::Private) if head >= sent + runner.private_timeout_blocks => {
                    tracing::info!(payout = %payout.id, "no receipt within the relay's timeout: public node");
                    send(&runner.rpc, raw).await?;
                    mark_sent(runner, payout, Route::PublicFallback, Some("timeout".to_owned()), head).await
                }
                Some(Route::Private) => Ok(()),
                route if head >= sent + STUCK_BLOCKS => {
                    let max_fee = u128::try_from(payout.max_fee_per_gas.unwrap_or(0)).unwrap_or(0);
                    if runner.rpc.next_base_fee().await? > max_fee {
                        return replace(runner, payout, head).await;
                    }
                    send(&runner.rpc, raw).await?;
                    let route = route.unwrap_or(Route::Public);
                    mark_sent(runner, payout, route, payout.fallback_reason.clone(), head).await
                }
                _ => Ok(()),
            }
        }
    }
}

/// The receipt of whichever version of the transaction is in a block.
async fn mined_receipt(runner: &Runner, payout: &Payout) -> Result<Option<(Receipt, u64)>, WatchError> {
    for hash in payout.hashes() {
        let Ok(hash) = hash.parse::<B256>() else { continue };
        if let Some(receipt) = runner.rpc.receipt(hash).await? {
            if let Some(block) = receipt.block_number {
                return Ok(Some((receipt, block)));
            }
        }
    }
    Ok(None)
}

async fn settle_when_deep(
    runner: &Runner,
    payout: &Payout,
    head: u64,
    receipt: Receipt,
    block: u64,
) -> Result<(), WatchError> {
    let depth = head.saturating_sub(block) + 1;
    if depth < runner.settings.confirmations {
        return show_mined(runner, payout, Some(block), head).await;
    }
    let mut shown = payout.clone();
    shown.mined_block = i64::try_from(block).ok();
    let chain = shown.chain_object(i64::try_from(head).ok(), runner.planned_route());
    let outcome = if receipt.success { Ok(()) } else { Err("reverted") };
    if settle(runner, payout, &[PayoutState::Sent], outcome, chain, None).await? {
        let route = payout.route.unwrap_or(runner.planned_route()).as_str();
        let result = if receipt.success { "paid" } else { "failed" };
        chain_metrics::payout_settled(payout.env, route, result);
        tracing::info!(payout = %payout.id, block, route, result, "payout settled");
    }
    Ok(())
}

/// Records the block the receipt names (or none) and shows the depth.
async fn show_mined(runner: &Runner, payout: &Payout, block: Option<u64>, head: u64) -> Result<(), WatchError> {
    let mut shown = payout.clone();
    shown.mined_block = block.and_then(|b| i64::try_from(b).ok());
    let chain = shown.chain_object(i64::try_from(head).ok(), runner.planned_route());
    let (now, shown) = (runner.state.now(), shown);
    runner
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                store::set_mined(&mut *conn, &shown.id, block, now).await?;
                store::publish(&mut *conn, &shown, &chain).await?;
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(())
}

/// A fee 12.5% above `fee` (and at least 1 wei more): what a node takes
/// as a replacement.
fn bumped(fee: u128) -> u128 {
    fee.saturating_add(fee / 8).saturating_add(1)
}

/// Replaces a transaction stuck below the market: same payout id, nonce,
/// destination and amount, a higher fee within the ceiling; stored before
/// it is sent. At the ceiling already, it waits for the market to come down.
async fn replace(runner: &Runner, payout: &Payout, head: u64) -> Result<(), WatchError> {
    let old_max = u128::try_from(payout.max_fee_per_gas.unwrap_or(0)).unwrap_or(0);
    let old_priority = u128::try_from(payout.max_priority_fee_per_gas.unwrap_or(0)).unwrap_or(0);
    let (estimate, estimate_priority) = runner.fees().await?;
    let max_fee = estimate.max(bumped(old_max)).min(runner.ceiling);
    if max_fee <= old_max {
        tracing::warn!(payout = %payout.id, "a payout is below the market at the fee ceiling: it waits");
        return Ok(());
    }
    let priority = estimate_priority.max(bumped(old_priority)).min(max_fee);
    let intent = PayoutIntent {
        payout_id: payout.id.clone(),
        token: payout.token.clone(),
        to: payout.destination.clone(),
        amount: u128::try_from(payout.amount).unwrap_or(0),
        nonce: u64::try_from(payout.nonce.unwrap_or(0)).unwrap_or(0),
        gas_limit: PAYOUT_GAS,
        max_fee_per_gas: max_fee,
        max_priority_fee_per_gas: priority,
    };
    let signed = match runner.signer.sign_payout(&intent).await {
        Ok(signed) => signed,
        Err(SignerError::Refused(code)) => {
            // The version sent stays valid: the payout waits, it does not fail.
            chain_metrics::signer_refusal(&code);
            tracing::warn!(payout = %payout.id, code = %code, "the signer refused a fee bump");
            return Ok(());
        }
        Err(err) => return Err(WatchError::Signer(err.to_string())),
    };
    let (stored, now, planned) = (payout.clone(), runner.state.now(), runner.planned_route());
    let raw = signed.raw_tx.clone();
    let kept = runner
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                if !store::keep_replacement(&mut *conn, &stored, &signed, (max_fee, priority), head, now).await? {
                    return Ok::<_, ApiError>(false);
                }
                if let Some(fresh) = store::load(&mut *conn, &stored.id).await? {
                    store::publish(
                        &mut *conn,
                        &fresh,
                        &fresh.chain_object(i64::try_from(head).ok(), planned),
                    )
                    .await?;
                }
                Ok(true)
            })
        })
        .await?;
    if kept {
        tracing::info!(payout = %payout.id, max_fee, "a stuck payout was replaced with a higher fee");
        send(&runner.rpc, &raw).await?;
    }
    Ok(())
}
