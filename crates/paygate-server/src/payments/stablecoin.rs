//! Payments in USDC and USDT on the environment's chain (docs/stablecoins.md):
//! a fresh custodial address from the signer, the token contract and the
//! confirmations the payment waits for, all fixed at creation. The watcher
//! moves the payment on from `requires_payment`.

use std::sync::Arc;

use paygate_proto::{Environment, MerchantId};
use sqlx::AnyConnection;

use super::record::Record;
use super::validate::{Method, NewPayment};
use crate::app::AppState;
use crate::chain::deposit_addresses::{self, NETWORK};
use crate::chain::rail;
use crate::chain::signer_client::SignerClient;
use crate::http::ApiResult;

/// Where a stablecoin payment is paid.
pub(super) struct Target {
    signer: Arc<SignerClient>,
    token_contract: String,
    confirmations: u64,
}

/// For a crypto payment in USDC or USDT: the chain's target, or
/// `422 network_unavailable`. None for every other payment.
pub(super) fn target(state: &AppState, env: Environment, new: &NewPayment) -> ApiResult<Option<Target>> {
    if new.method != Method::Crypto || crate::chain::config::Token::from_currency(new.currency).is_none() {
        return Ok(None);
    }
    let (chain, signer) = rail::chain_of(state, env)?;
    let (_, token_contract) = rail::token_on(chain, env, new.currency)?;
    Ok(Some(Target {
        signer,
        token_contract,
        confirmations: chain.confirmations,
    }))
}

/// Gives the payment its deposit address, in the caller's transaction.
pub(super) async fn assign(
    conn: &mut AnyConnection,
    target: &Target,
    merchant: &MerchantId,
    record: &mut Record,
    now: i64,
) -> ApiResult<()> {
    let address =
        deposit_addresses::allocate(conn, &target.signer, merchant, record.env, Some(&record.id), now).await?;
    record.crypto_network = Some(NETWORK.to_owned());
    record.crypto_address = Some(address.address);
    record.crypto_token_contract = Some(target.token_contract.clone());
    record.crypto_confirmations = Some(i64::try_from(target.confirmations).unwrap_or(i64::MAX));
    Ok(())
}
