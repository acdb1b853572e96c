//! Custodial deposit addresses on the `ethereum` network: the next index of
//! the signer's one seed (global across merchants and environments, taken
//! from `chain_address_counters` in the caller's transaction), the address
//! the signer derives for it, and its `wallet_addresses` row, which the
//! watcher watches. The server never sees the key behind it.

use paygate_proto::payments::WalletAddress;
use paygate_proto::{Environment, ErrorCode, MerchantId};
use sqlx::{AnyConnection, Row as _};

use super::address;
use super::signer_client::{SignerClient, SignerError};
use crate::clock::rfc3339;
use crate::http::{ApiError, ApiResult};

/// The network name of the EVM chain, in the API and in `wallet_addresses`.
pub const NETWORK: &str = "ethereum";
/// The highest BIP32 normal child index.
const MAX_INDEX: i64 = 0x7fff_ffff;

/// What the API says when the signer cannot help: unavailable is a `503`
/// to retry; a refusal is ours to fix (an opaque `500`, the code logged).
pub fn signer_error(err: SignerError) -> ApiError {
    match err {
        SignerError::Unavailable(_) => {
            tracing::warn!(error = %err, "the signer is unavailable");
            ApiError::new(ErrorCode::ServiceUnavailable).with_retry_after(5)
        }
        other => ApiError::internal(other),
    }
}

/// Takes the next deposit index, asks the signer for its address, and
/// records it for `merchant` (and `payment`, when it pays one) inside the
/// caller's transaction; a rollback gives the index back.
pub async fn allocate(
    conn: &mut AnyConnection,
    signer: &SignerClient,
    merchant: &MerchantId,
    env: Environment,
    payment: Option<&str>,
    now: i64,
) -> ApiResult<WalletAddress> {
    // The UPDATE locks the counter's row until the transaction ends, so
    // instances on PostgreSQL take indexes in turn.
    let row = sqlx::query(
        "UPDATE chain_address_counters SET next_index = next_index + 1 WHERE network = $1 RETURNING next_index",
    )
    .bind(NETWORK)
    .fetch_one(&mut *conn)
    .await?;
    let taken: i64 = row.try_get::<i64, _>("next_index")? - 1;
    let index = u32::try_from(taken)
        .ok()
        .filter(|i| i64::from(*i) <= MAX_INDEX)
        .ok_or_else(|| ApiError::internal("every deposit index of the seed is used"))?;
    let answered = signer.derive_address(index).await.map_err(signer_error)?;
    let address = address::checksummed(&answered).map_err(|e| ApiError::internal(format!("signer address {e}")))?;
    let id = crate::wallets::record_address(conn, merchant, env, NETWORK, &address, taken, payment, now).await?;
    Ok(WalletAddress {
        id,
        object: "wallet_address".to_owned(),
        network: NETWORK.to_owned(),
        address,
        derivation_path: format!("m/44'/60'/0'/0/{index}"),
        payment: payment.map(str::to_owned),
        created_at: rfc3339(now),
    })
}
