//! Gas top-ups from the hot wallet to a deposit address, with the nonce
//! the hot wallet's allocator gives (`chain::nonces`, shared with payouts,
//! so no two transactions of the wallet take one nonce, whatever instance
//! sends them). The top-up is stored with the sweep, in the transaction
//! that frees the allocator, before it is sent.

use std::sync::Arc;

use alloy_primitives::Address;

use super::{keep_signed, send, signer_err, StepError, Sweep};
use crate::app::AppState;
use crate::chain::nonces::{self, Take, Wallet};
use crate::chain::rpc::ChainRpc;
use crate::chain::signer_client::{SignerClient, SignerError, TopupIntent};
use crate::chain::watcher::{Settings, WatchError};
use crate::http::ApiError;

/// The hot wallet of `settings`' chain, as the nonce allocator keys it.
async fn hot_wallet(signer: &SignerClient, settings: &Settings) -> Result<Wallet, StepError> {
    let address = signer.hot_wallet().await.map_err(signer_err)?;
    Ok(Wallet {
        env: settings.env,
        chain_id: settings.scope().chain_id,
        address,
    })
}

/// Tops up a deposit address's gas from the hot wallet, with the nonce the
/// hot wallet's allocator gives (shared with payouts, so no two
/// transactions of the wallet take one nonce, whatever instance sends
/// them). A busy allocator waits for the next round; a refusal gives the
/// nonce back.
pub(super) async fn top_up(
    state: &AppState,
    rpc: &ChainRpc,
    signer: &Arc<SignerClient>,
    settings: &Settings,
    sweep: &Sweep,
    mut intent: TopupIntent,
) -> Result<(), StepError> {
    let wallet = hot_wallet(signer, settings).await?;
    let hot: Address = wallet
        .address
        .parse()
        .map_err(|_| StepError::Watch(WatchError::Signer("the hot wallet is not an address".to_owned())))?;
    let mined = rpc.mined_nonce(hot).await?;
    let (id, held, now) = (sweep.id.clone(), wallet.clone(), state.now());
    let taken = state
        .store()
        .write(move |conn| {
            Box::pin(async move { nonces::take(conn, &held, &id, mined, now).await.map_err(ApiError::from) })
        })
        .await?;
    let Take::Nonce(nonce) = taken else {
        return Ok(());
    };
    intent.nonce = nonce;
    let signed = match signer.sign_gas_topup(&intent).await {
        Ok(signed) => signed,
        Err(SignerError::Refused(code)) => {
            let (id, now) = (sweep.id.clone(), state.now());
            state
                .store()
                .write(move |conn| {
                    Box::pin(async move { nonces::give_back(conn, &wallet, &id, now).await.map_err(ApiError::from) })
                })
                .await?;
            return Err(StepError::Refused(code));
        }
        Err(err) => return Err(signer_err(err)),
    };
    if keep_signed(state, sweep, "topping_up", &signed, Some(&wallet)).await? {
        send(rpc, &signed.raw_tx).await?;
    }
    Ok(())
}

/// A sweep that needs no top-up any more gives back a nonce it took in an
/// earlier round and never stored a top-up with.
pub(super) async fn give_back_if_held(
    state: &AppState,
    signer: &SignerClient,
    settings: &Settings,
    sweep: &Sweep,
) -> Result<(), StepError> {
    if !nonces::held_by(state.store().pool(), &sweep.id).await? {
        return Ok(());
    }
    let wallet = hot_wallet(signer, settings).await?;
    let (id, now) = (sweep.id.clone(), state.now());
    state
        .store()
        .write(move |conn| {
            Box::pin(async move { nonces::give_back(conn, &wallet, &id, now).await.map_err(ApiError::from) })
        })
        .await?;
    Ok(())
}
