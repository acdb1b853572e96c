//! A payout's nonce and signature: the nonce is taken from the hot wallet's
//! allocator and recorded on the payout with its fees (`signing`) before the
//! signer is asked, so asking again after a crash gets the same transaction;
//! the signed transaction is stored (`signed`) in the same database
//! transaction that frees the allocator for the next nonce. A refusal fails
//! the payout and gives the nonce back.

use std::time::Duration;

use paygate_proto::ErrorCode;

use super::record::{Payout, PayoutState};
use super::{settle, store, Failpoint, Runner, PAYOUT_GAS};
use crate::chain::metrics as chain_metrics;
use crate::chain::nonces::{self, Take, Wallet};
use crate::chain::signer_client::{PayoutIntent, Signed, SignerError};
use crate::chain::watcher::WatchError;
use crate::http::ApiError;

/// How often, and how long apart, a payout asks for the nonce another holds.
const BUSY_TRIES: u32 = 200;
const BUSY_WAIT: Duration = Duration::from_millis(25);

/// What signing a payout came to.
#[derive(Debug)]
pub enum Signing {
    /// Signed and stored: the payout as stored.
    Signed(Payout),
    /// Refused, or moved on by another instance.
    Done,
    /// Another payout or top-up kept the next nonce: the queue waits for
    /// the next round.
    Busy,
}

/// Signs a `queued` or `signing` payout.
pub async fn sign(runner: &Runner, payout: Payout, head: u64, wallet: &Wallet) -> Result<Signing, WatchError> {
    let payout = match payout.state {
        PayoutState::Queued => match take_nonce(runner, &payout, wallet).await? {
            Took::Payout(payout) => payout,
            Took::Moved => return Ok(Signing::Done),
            Took::Busy => return Ok(Signing::Busy),
        },
        _ => payout,
    };
    let (Some(nonce), Some(max_fee), Some(priority)) =
        (payout.nonce, payout.max_fee_per_gas, payout.max_priority_fee_per_gas)
    else {
        return Err(WatchError::Signer(format!(
            "payout {} is signing without its nonce",
            payout.id
        )));
    };
    let intent = PayoutIntent {
        payout_id: payout.id.clone(),
        token: payout.token.clone(),
        to: payout.destination.clone(),
        amount: u128::try_from(payout.amount).unwrap_or(0),
        nonce: u64::try_from(nonce).unwrap_or(0),
        gas_limit: PAYOUT_GAS,
        max_fee_per_gas: u128::try_from(max_fee).unwrap_or(0),
        max_priority_fee_per_gas: u128::try_from(priority).unwrap_or(0),
    };
    // The nonce's holder: the wallet it was taken from.
    let wallet = Wallet {
        address: payout.hot_wallet.clone().unwrap_or_else(|| wallet.address.clone()),
        ..wallet.clone()
    };
    match runner.signer.sign_payout(&intent).await {
        Ok(signed) => Ok(match keep(runner, payout, signed, head, wallet).await? {
            Some(stored) => Signing::Signed(stored),
            None => Signing::Done,
        }),
        Err(SignerError::Refused(code)) => {
            chain_metrics::signer_refusal(&code);
            tracing::warn!(payout = %payout.id, code = %code, "the signer refused a payout");
            if settle(
                runner,
                &payout,
                &[PayoutState::Signing],
                Err("signer_refused"),
                serde_json::Value::Null,
                Some(wallet),
            )
            .await?
            {
                chain_metrics::payout_settled(payout.env, "none", "failed");
            }
            Ok(Signing::Done)
        }
        Err(err) => Err(WatchError::Signer(err.to_string())),
    }
}

enum Took {
    Payout(Payout),
    Moved,
    Busy,
}

/// Takes the hot wallet's next nonce for `payout` and records it with the
/// fees (`queued -> signing`), waiting a little while another payout or a
/// gas top-up holds it.
async fn take_nonce(runner: &Runner, payout: &Payout, wallet: &Wallet) -> Result<Took, WatchError> {
    let fees = runner.fees().await?;
    let hot = wallet
        .address
        .parse()
        .map_err(|_| WatchError::Signer("the hot wallet is not an address".to_owned()))?;
    let mined = runner.rpc.mined_nonce(hot).await?;
    for _ in 0..BUSY_TRIES {
        let (id, wallet, now) = (payout.id.clone(), wallet.clone(), runner.state.now());
        let taken = runner
            .state
            .store()
            .write(move |conn| {
                Box::pin(async move {
                    let Take::Nonce(nonce) = nonces::take(&mut *conn, &wallet, &id, mined, now).await? else {
                        return Ok(None);
                    };
                    if !store::start_signing(&mut *conn, &id, &wallet.address, nonce, fees, now).await? {
                        // Another instance moved it on: roll the nonce back.
                        return Err(ApiError::new(ErrorCode::InvalidState));
                    }
                    Ok::<_, ApiError>(store::load(conn, &id).await?)
                })
            })
            .await;
        match taken {
            Ok(Some(payout)) => return Ok(Took::Payout(payout)),
            Ok(None) => tokio::time::sleep(BUSY_WAIT).await,
            Err(err) if err.code() == ErrorCode::InvalidState => return Ok(Took::Moved),
            Err(err) => return Err(err.into()),
        }
    }
    Ok(Took::Busy)
}

/// Stores the signed transaction (`signing -> signed`), frees the nonce's
/// hold and shows the transaction on the withdrawal, in one transaction.
async fn keep(
    runner: &Runner,
    payout: Payout,
    signed: Signed,
    head: u64,
    wallet: Wallet,
) -> Result<Option<Payout>, WatchError> {
    let (now, planned) = (runner.state.now(), runner.planned_route());
    let head = i64::try_from(head).ok();
    let kept = runner
        .state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                if !store::keep_signed(&mut *conn, &payout.id, &signed, now).await? {
                    return Ok::<_, ApiError>(None);
                }
                nonces::used(&mut *conn, &wallet, &payout.id, now).await?;
                let Some(stored) = store::load(&mut *conn, &payout.id).await? else {
                    return Ok(None);
                };
                store::publish(&mut *conn, &stored, &stored.chain_object(head, planned)).await?;
                Ok(Some(stored))
            })
        })
        .await?;
    if kept.is_some() {
        runner.fail_at(Failpoint::AfterSign);
    }
    Ok(kept)
}
