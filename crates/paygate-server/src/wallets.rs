//! Wallets: the merchant's BIP32 account key (`xpub`/`zpub` live,
//! `tpub`/`vpub` test), BIP84 derivation of fresh P2WPKH addresses on the
//! external chain (`m/0/i` below the account key), and the test helper that
//! simulates a confirmed deposit. The server only ever stores public keys.

use std::str::FromStr as _;

use axum::extract::State;
use axum::response::Response;
use bitcoin::bip32::{ChildNumber, DerivationPath, Xpriv, Xpub};
use bitcoin::secp256k1::Secp256k1;
use bitcoin::{Address, CompressedPublicKey, Network};
use paygate_proto::money::{check_amount, Currency};
use paygate_proto::payments::{Deposit, GenerateAddress, TestDeposit, Wallet, WalletAddress, WalletConfig};
use paygate_proto::{Environment, ErrorCode, FieldError, MerchantId, Scope};
use rand::RngCore as _;
use serde_json::json;
use sqlx::{AnyConnection, Row as _};
use zeroize::Zeroize as _;

use crate::app::AppState;
use crate::auth::Caller;
use crate::chain::deposit_addresses;
use crate::clock::rfc3339;
use crate::http::{ApiError, ApiResult};
use crate::idempotency::{self, IdempotentJson};
use crate::ledger::{self, Account};
use crate::{ids, outbox, payments};

/// The one network wallets support.
pub const NETWORK: &str = "bitcoin";
/// Addresses tried past used ones before giving up (a gap far beyond BIP44's 20).
const MAX_SKIP: u32 = 1000;

const XPUB: [u8; 4] = [0x04, 0x88, 0xB2, 0x1E];
const ZPUB: [u8; 4] = [0x04, 0xB2, 0x47, 0x46];
const TPUB: [u8; 4] = [0x04, 0x35, 0x87, 0xCF];
const VPUB: [u8; 4] = [0x04, 0x5F, 0x1C, 0xF6];

/// The Bitcoin network of an environment: mainnet live, testnet in test.
pub fn network_of(env: Environment) -> Network {
    match env {
        Environment::Live => Network::Bitcoin,
        Environment::Test => Network::Testnet,
    }
}

/// Parses an account key for `env`: `xpub`/`zpub` live, `tpub`/`vpub` test.
/// SLIP-132 prefixes (`zpub`, `vpub`) are read as the same key.
pub fn parse_account_key(text: &str, env: Environment) -> Result<Xpub, &'static str> {
    let mut bytes = bitcoin::base58::decode_check(text.trim()).map_err(|_| "is not an extended public key")?;
    if bytes.len() != 78 {
        return Err("is not an extended public key");
    }
    let version: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
    let canonical = match (env, version) {
        (Environment::Live, XPUB | ZPUB) => XPUB,
        (Environment::Test, TPUB | VPUB) => TPUB,
        (Environment::Live, TPUB | VPUB) => return Err("is a test network key: live mode takes an xpub or zpub"),
        (Environment::Test, XPUB | ZPUB) => return Err("is a main network key: test mode takes a tpub or vpub"),
        _ => return Err("must be an xpub or zpub (live) or a tpub or vpub (test); private keys are refused"),
    };
    bytes[..4].copy_from_slice(&canonical);
    Xpub::decode(&bytes).map_err(|_| "is not a valid extended public key")
}

/// The P2WPKH address at `m/0/index` below the account key.
pub fn derive_address(account: &Xpub, index: u32, network: Network) -> Result<Address, &'static str> {
    let secp = Secp256k1::verification_only();
    let path = [
        ChildNumber::from_normal_idx(0).map_err(|_| "bad index")?,
        ChildNumber::from_normal_idx(index).map_err(|_| "bad index")?,
    ];
    let child = account.derive_pub(&secp, &path).map_err(|_| "derivation failed")?;
    Ok(Address::p2wpkh(&CompressedPublicKey(child.public_key), network))
}

/// A fresh BIP84 testnet account key (`vpub`) for a test merchant that set
/// none. The seed and private keys exist only inside this function.
fn sandbox_vpub() -> Result<String, ApiError> {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(Network::Testnet, &seed);
    seed.zeroize();
    let path = DerivationPath::from_str("m/84'/1'/0'").map_err(ApiError::internal)?;
    let account = master
        .map_err(ApiError::internal)?
        .derive_priv(&secp, &path)
        .map_err(ApiError::internal)?;
    let mut bytes = Xpub::from_priv(&secp, &account).encode();
    bytes[..4].copy_from_slice(&VPUB);
    Ok(bitcoin::base58::encode_check(&bytes))
}

struct WalletRow {
    xpub: String,
    sandbox: bool,
    next_index: i64,
}

/// The merchant's wallet, locked until the caller's transaction ends on
/// PostgreSQL, so instances deriving addresses at once take turns on its
/// next index.
async fn wallet_row(conn: &mut AnyConnection, merchant: &MerchantId, env: Environment) -> ApiResult<Option<WalletRow>> {
    let sql = format!(
        "SELECT xpub, sandbox, next_index FROM wallets WHERE merchant_id = $1 AND env = $2 AND network = $3{}",
        crate::store::lock_rows(conn, crate::store::RowLock::Wait)
    );
    let row = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(NETWORK)
        .fetch_optional(conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let sandbox: i64 = row.try_get("sandbox")?;
    Ok(Some(WalletRow {
        xpub: row.try_get("xpub")?,
        sandbox: sandbox != 0,
        next_index: row.try_get("next_index")?,
    }))
}

async fn save_wallet(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    xpub: &str,
    sandbox: bool,
    now: i64,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO wallets (merchant_id, env, network, xpub, sandbox, next_index, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6) ON CONFLICT (merchant_id, env, network) DO UPDATE SET \
         xpub = excluded.xpub, sandbox = excluded.sandbox, updated_at = excluded.updated_at, \
         next_index = CASE WHEN wallets.xpub = excluded.xpub THEN wallets.next_index ELSE 0 END",
    )
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(NETWORK)
    .bind(xpub)
    .bind(i64::from(sandbox))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Derives, records and returns the next unused address of the merchant's
/// wallet, making a sandbox key first for a test merchant that has none.
/// `field` names the request field to blame when a live merchant has none.
pub async fn next_address(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    payment: Option<&str>,
    field: &str,
    now: i64,
) -> ApiResult<WalletAddress> {
    let wallet = match wallet_row(&mut *conn, merchant, env).await? {
        Some(wallet) => wallet,
        None if env == Environment::Test => {
            let vpub = sandbox_vpub()?;
            save_wallet(&mut *conn, merchant, env, &vpub, true, now).await?;
            WalletRow {
                xpub: vpub,
                sandbox: true,
                next_index: 0,
            }
        }
        None => {
            return Err(ApiError::field(
                field,
                "needs a wallet: set the account key with POST /v1/wallet/config first",
            ))
        }
    };
    let account = parse_account_key(&wallet.xpub, env).map_err(ApiError::internal)?;
    let start = u32::try_from(wallet.next_index).map_err(ApiError::internal)?;
    for index in start..start.saturating_add(MAX_SKIP) {
        let address = derive_address(&account, index, network_of(env))
            .map_err(ApiError::internal)?
            .to_string();
        let taken = sqlx::query("SELECT 1 AS one FROM wallet_addresses WHERE env = $1 AND address = $2")
            .bind(env.as_str())
            .bind(&address)
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_some() {
            continue;
        }
        let id = record_address(
            &mut *conn,
            merchant,
            env,
            NETWORK,
            &address,
            i64::from(index),
            payment,
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE wallets SET next_index = $1, updated_at = $2 WHERE merchant_id = $3 AND env = $4 AND network = $5",
        )
        .bind(i64::from(index) + 1)
        .bind(now)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(NETWORK)
        .execute(&mut *conn)
        .await?;
        return Ok(WalletAddress {
            id,
            object: "wallet_address".to_owned(),
            network: NETWORK.to_owned(),
            address,
            derivation_path: format!("m/0/{index}"),
            payment: payment.map(str::to_owned),
            created_at: rfc3339(now),
        });
    }
    Err(ApiError::new(ErrorCode::InvalidState).with_detail("No unused address is left near this wallet's next index."))
}

/// Records an address handed out to `merchant` (for `payment`, when it
/// pays one) and returns the row's id.
#[allow(clippy::too_many_arguments)]
pub async fn record_address(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    network: &str,
    address: &str,
    index: i64,
    payment: Option<&str>,
    now: i64,
) -> ApiResult<String> {
    let id = ids::new_id("wal");
    sqlx::query(
        "INSERT INTO wallet_addresses (id, merchant_id, env, network, address, derivation_index, payment_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(network)
    .bind(address)
    .bind(index)
    .bind(payment)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(id)
}

fn check_network(network: &str, errors: &mut Vec<FieldError>) {
    if network != NETWORK {
        errors.push(FieldError::new("network", "must be bitcoin"));
    }
}

#[utoipa::path(post, path = "/v1/wallet/config", operation_id = "configureWallet", tag = "wallets", request_body = WalletConfig,
    responses((status = 200, body = Wallet), (status = 400, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn configure(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<WalletConfig>,
) -> ApiResult<Response> {
    caller.require(Scope::WalletsWrite)?;
    let mut errors = Vec::new();
    check_network(&body.network, &mut errors);
    if let Err(message) = parse_account_key(&body.xpub, caller.env) {
        errors.push(FieldError::new("xpub", message));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let xpub = body.xpub.trim().to_owned();
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move {
            save_wallet(&mut *conn, &merchant, env, &xpub, false, now).await?;
            let saved = wallet_row(&mut *conn, &merchant, env)
                .await?
                .ok_or_else(|| ApiError::internal("wallet vanished"))?;
            Ok(Wallet {
                object: "wallet".to_owned(),
                env,
                network: NETWORK.to_owned(),
                xpub: saved.xpub,
                sandbox: saved.sandbox,
                next_index: saved.next_index,
            })
        })
    })
    .await
}

#[utoipa::path(post, path = "/v1/wallet/generate", operation_id = "generateWalletAddress", tag = "wallets", request_body = GenerateAddress,
    responses((status = 200, body = WalletAddress), (status = 400, body = paygate_proto::Problem),
        (status = 422, description = "`network_unavailable`: `ethereum` without a chain in this environment", body = paygate_proto::Problem),
        (status = 503, description = "The signer did not answer; retry", body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn generate(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<GenerateAddress>,
) -> ApiResult<Response> {
    caller.require(Scope::WalletsWrite)?;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    if body.network == deposit_addresses::NETWORK {
        let (_, signer) = crate::chain::rail::chain_of(&state, env)?;
        return idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
            Box::pin(async move { deposit_addresses::allocate(conn, &signer, &merchant, env, None, now).await })
        })
        .await;
    }
    if body.network != NETWORK {
        return Err(ApiError::field("network", "must be bitcoin or ethereum"));
    }
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { next_address(conn, &merchant, env, None, "network", now).await })
    })
    .await
}

#[utoipa::path(post, path = "/v1/test/deposits", operation_id = "createTestDeposit", tag = "test helpers", request_body = TestDeposit,
    responses((status = 200, body = Deposit), (status = 400, body = paygate_proto::Problem), (status = 403, body = paygate_proto::Problem)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn test_deposit(
    State(state): State<AppState>,
    caller: Caller,
    IdempotentJson { body, key }: IdempotentJson<TestDeposit>,
) -> ApiResult<Response> {
    if caller.env != Environment::Test {
        return Err(ApiError::new(ErrorCode::TestModeOnly));
    }
    caller.require(Scope::PaymentsWrite)?;
    let mut errors = Vec::new();
    check_amount("amount", body.amount, &mut errors);
    let address = body.address.trim().to_owned();
    if address.is_empty() {
        errors.push(FieldError::new("address", "is required"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let amount = body.amount;
    let (merchant, env, now) = (caller.merchant_id.clone(), caller.env, state.now());
    idempotency::run(&state, &caller, key, move |conn: &mut AnyConnection| {
        Box::pin(async move { credit_deposit(conn, &merchant, env, &address, amount, now).await })
    })
    .await
}

/// A confirmed deposit of `amount` satoshis to one of the merchant's
/// addresses: credits `available` and pays the payment that owns the address.
pub async fn credit_deposit(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    address: &str,
    amount: i64,
    now: i64,
) -> ApiResult<Deposit> {
    let row = sqlx::query(
        "SELECT id, payment_id, network FROM wallet_addresses WHERE merchant_id = $1 AND env = $2 AND address = $3",
    )
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(address)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::field("address", "is not an address generated for this merchant"))?;
    let network: String = row.try_get("network")?;
    if network != NETWORK {
        return Err(ApiError::field(
            "address",
            "is an ethereum deposit address: its deposits come from the chain (docs/stablecoins.md)",
        ));
    }
    let payment: Option<String> = row.try_get("payment_id")?;
    let address_id: String = row.try_get("id")?;
    // A deposit that pays a payment is that payment's movement of the balance.
    let source = match &payment {
        Some(payment_id) => ledger::Source::new("payment", payment_id),
        None => ledger::Source::new("deposit", &address_id),
    };
    ledger::transfer(
        &mut *conn,
        merchant,
        env,
        Currency::BTC,
        amount,
        Account::ExternalBitcoin,
        Account::Available,
        source,
        now,
    )
    .await?;
    if let Some(payment_id) = &payment {
        payments::receive(&mut *conn, merchant, env, payment_id, amount, now).await?;
    }
    let deposit = Deposit {
        object: "deposit".to_owned(),
        env,
        network: NETWORK.to_owned(),
        address: address.to_owned(),
        amount,
        currency: Currency::BTC.as_str().to_owned(),
        payment,
        created_at: rfc3339(now),
    };
    outbox::record_event(&mut *conn, merchant, env, "wallet.deposit", json!(deposit), now).await?;
    Ok(deposit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// BIP84's test vector: the account key of "abandon ... about".
    const BIP84_ZPUB: &str = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs";

    #[test]
    fn bip84_vector_derives_the_published_addresses() {
        let account = parse_account_key(BIP84_ZPUB, Environment::Live).unwrap();
        let first = derive_address(&account, 0, Network::Bitcoin).unwrap();
        let second = derive_address(&account, 1, Network::Bitcoin).unwrap();
        assert_eq!(first.to_string(), "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu");
        assert_eq!(second.to_string(), "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g");
    }

    #[test]
    fn keys_belong_to_their_environment() {
        assert!(parse_account_key(BIP84_ZPUB, Environment::Test).is_err());
        let vpub = sandbox_vpub().unwrap();
        assert!(vpub.starts_with("vpub"));
        let account = parse_account_key(&vpub, Environment::Test).unwrap();
        assert!(parse_account_key(&vpub, Environment::Live).is_err());
        let address = derive_address(&account, 0, Network::Testnet).unwrap().to_string();
        assert!(address.starts_with("tb1q"), "{address}");
        assert!(parse_account_key("xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi", Environment::Live).is_err());
        assert!(parse_account_key("not a key", Environment::Live).is_err());
    }
}
