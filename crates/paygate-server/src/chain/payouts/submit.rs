//! Sending a stored signed transaction: to the protected relay first (route
//! `private`), to the public node when the relay refuses it or cannot be
//! reached (route `public_fallback` with the reason), or straight to the
//! public node when no relay is configured (route `public`). What a node
//! says on taking it settles nothing: only receipts do (`track`).

use super::record::{FallbackReason, Payout, Route};
use super::{store, Failpoint, Runner};
use crate::chain::rpc::{ChainRpc, RpcError};
use crate::chain::watcher::WatchError;
use crate::http::ApiError;

/// Sends `raw` (0x-hex) to `rpc`. A node that knows the transaction
/// already, or whose account nonce is past it (mined meanwhile: its
/// receipt says so), has it: that is a success.
pub async fn send(rpc: &ChainRpc, raw: &str) -> Result<(), RpcError> {
    let bytes = hex::decode(raw.trim_start_matches("0x")).map_err(|_| RpcError::Malformed("raw tx".to_owned()))?;
    match rpc.send_raw(&bytes).await {
        Ok(_) => Ok(()),
        Err(RpcError::Refused(reason)) if reason.contains("already") || reason.contains("nonce too low") => Ok(()),
        Err(err) => Err(err),
    }
}

/// Sends a `signed` payout's transaction on its route and marks it `sent`.
pub async fn submit(runner: &Runner, payout: &Payout, head: u64) -> Result<(), WatchError> {
    let Some(raw) = payout.raw_tx.as_deref() else {
        return Ok(());
    };
    let (route, reason) = match (&runner.relay, payout.route) {
        (Some(relay), None | Some(Route::Private)) => match send(relay, raw).await {
            Ok(()) => (Route::Private, None),
            Err(err) => {
                let reason = match err {
                    RpcError::Unreachable | RpcError::BadUrl => FallbackReason::RelayUnreachable,
                    RpcError::Refused(_) | RpcError::Malformed(_) => FallbackReason::RelayRefused,
                };
                tracing::info!(payout = %payout.id, reason = reason.as_str(), "the relay did not take a payout: public node");
                send(&runner.rpc, raw).await?;
                (Route::PublicFallback, Some(reason.as_str()))
            }
        },
        (_, Some(Route::PublicFallback)) => {
            send(&runner.rpc, raw).await?;
            (Route::PublicFallback, payout.fallback_reason.as_deref())
        }
        _ => {
            send(&runner.rpc, raw).await?;
            (Route::Public, None)
        }
    };
    runner.fail_at(Failpoint::AfterSend);
    mark_sent(runner, payout, route, reason.map(str::to_owned), head).await
}

/// Records where the transaction went and from which head its timeouts
/// count, and shows it on the withdrawal.
pub async fn mark_sent(
    runner: &Runner,
    payout: &Payout,
    route: Route,
    reason: Option<String>,
    head: u64,
) -> Result<(), WatchError> {
    let (id, now, planned) = (payout.id.clone(), runner.state.now(), runner.planned_route());
    let shown = i64::try_from(head).ok();
    runner
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                if store::mark_sent(&mut *conn, &id, route, reason.as_deref(), head, now).await? {
                    if let Some(stored) = store::load(&mut *conn, &id).await? {
                        store::publish(&mut *conn, &stored, &stored.chain_object(shown, planned)).await?;
                    }
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(())
}
