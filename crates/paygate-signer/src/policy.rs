//! The intents the signer accepts and its default-deny policy: anything not
//! an intent below, or outside the policy's limits, is refused. The signer
//! builds every transaction itself; no intent signs given bytes or returns a
//! key.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::eth::{erc20_transfer_data, Address, Eip1559Tx};
use crate::hd::{KeyPath, Seed};
use crate::payout::PayoutIntent;
use secp256k1::SecretKey;

/// The gas of a plain ETH transfer, the only gas a top-up may use.
pub const TRANSFER_GAS: u64 = 21_000;

/// The policy, fixed for the process's life; `attest` prints its hash.
#[derive(Debug, Clone, Serialize, clap::Args)]
pub struct Policy {
    /// The chain id every transaction is signed for.
    #[arg(long, env = "PAYGATE_SIGNER_CHAIN_ID")]
    pub chain_id: u64,
    /// A token contract deposits may be swept from (repeat per token).
    #[arg(long = "token", value_parser = parse_address)]
    #[serde(serialize_with = "addresses")]
    pub tokens: Vec<Address>,
    /// Ceiling on the fee per gas, in gwei.
    #[arg(long, env = "PAYGATE_SIGNER__MAX_FEE_PER_GAS_GWEI", default_value_t = 500)]
    pub max_fee_per_gas_gwei: u64,
    /// Ceiling on one payout, in minor units of its token (0: no payout is
    /// signed).
    #[arg(long, env = "PAYGATE_SIGNER__PAYOUT_CAP", default_value_t = 0)]
    pub payout_cap: u128,
    /// Ceiling on the payouts of one token over a rolling 24 hours, in minor
    /// units (0: no payout is signed).
    #[arg(long, env = "PAYGATE_SIGNER__DAILY_CAP", default_value_t = 0)]
    pub daily_cap: u128,
    /// Pay out only to addresses allowed with `paygate-signer allow`.
    #[arg(
        long,
        env = "PAYGATE_SIGNER__ALLOWLIST_ONLY",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allowlist_only: bool,
    /// Ceiling on a sweep's gas limit.
    #[arg(long, default_value_t = 200_000)]
    pub max_gas_limit: u64,
    /// Ceiling on one gas top-up, in wei (default 0.01 ETH).
    #[arg(long, default_value_t = 10_000_000_000_000_000)]
    pub max_topup_wei: u128,
    /// A uid besides the signer's own that may connect (repeat per uid).
    #[arg(long = "allow-uid")]
    pub allowed_uids: Vec<u32>,
}

fn parse_address(text: &str) -> Result<Address, String> {
    Address::parse(text).map_err(|e| e.to_string())
}

fn addresses<S: serde::Serializer>(list: &[Address], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(list.iter().map(Address::checksummed))
}

impl Policy {
    /// The hash `attest` prints: the policy's flags and the payout
    /// allowlist in force.
    pub fn sha256(&self, allowlist: &[Address]) -> String {
        let allowlist: Vec<String> = allowlist.iter().map(Address::checksummed).collect();
        let text = serde_json::json!({"policy": self, "allowlist": allowlist}).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

/// Fees and nonce of a transaction the signer builds, chosen by the caller
/// (which reads the chain) within the policy's ceilings.
pub(crate) struct TxParams<'a> {
    pub nonce: u64,
    pub gas_limit: u64,
    pub max_fee_per_gas: &'a str,
    pub max_priority_fee_per_gas: &'a str,
}

/// One request line.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Intent {
    /// The address of deposit key `index`.
    DeriveAddress { index: u32 },
    /// The hot wallet's address.
    HotWallet,
    /// ERC-20 `transfer(hot wallet, amount)` of `token` from deposit `index`.
    SignSweep {
        index: u32,
        token: String,
        amount: String,
        nonce: u64,
        gas_limit: u64,
        max_fee_per_gas: String,
        max_priority_fee_per_gas: String,
    },
    /// ETH `value_wei` from the hot wallet to deposit `index`, for its gas.
    SignGasTopup {
        index: u32,
        value_wei: String,
        nonce: u64,
        gas_limit: u64,
        max_fee_per_gas: String,
        max_priority_fee_per_gas: String,
    },
    /// ERC-20 `transfer(to, amount)` of `token` from the hot wallet, once per
    /// `payout_id` (decided by `payout::decide` against the payout book).
    SignPayout(PayoutIntent),
}

impl Intent {
    pub fn name(&self) -> &'static str {
        match self {
            Intent::DeriveAddress { .. } => "derive_address",
            Intent::HotWallet => "hot_wallet",
            Intent::SignSweep { .. } => "sign_sweep",
            Intent::SignGasTopup { .. } => "sign_gas_topup",
            Intent::SignPayout(_) => "sign_payout",
        }
    }
}

/// What the signer answers to an allowed intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Address(Address),
    Signed {
        from: Address,
        to: Address,
        raw: Vec<u8>,
        hash: [u8; 32],
    },
}

/// Why an intent was refused (the reason goes back to the caller and into
/// the audit log; nothing secret is in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("token_not_allowed")]
    Token,
    #[error("amount_invalid")]
    Amount,
    #[error("fee_too_high")]
    Fee,
    #[error("gas_limit_invalid")]
    GasLimit,
    #[error("topup_above_cap")]
    Topup,
    #[error("index_out_of_range")]
    Index,
    #[error("key_unavailable")]
    Key,
    #[error("payout_id_invalid")]
    PayoutId,
    #[error("destination_invalid")]
    Destination,
    #[error("not_allowlisted")]
    NotAllowlisted,
    #[error("over_payout_cap")]
    PayoutCap,
    #[error("over_daily_cap")]
    DailyCap,
    #[error("payout_conflict")]
    Conflict,
    #[error("allowlist_unreadable")]
    Allowlist,
    /// A payout reached the stateless `decide` instead of the payout book.
    #[error("unknown_intent")]
    NotHere,
}

/// A decimal integer: digits only (no sign, no point).
pub(crate) fn integer(text: &str) -> Result<u128, Refusal> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::Amount);
    }
    text.parse::<u128>().map_err(|_| Refusal::Amount)
}

pub(crate) fn positive(text: &str) -> Result<u128, Refusal> {
    integer(text).and_then(|n| if n > 0 { Ok(n) } else { Err(Refusal::Amount) })
}

impl Policy {
    pub(crate) fn fees(&self, tx: &TxParams<'_>) -> Result<(u128, u128), Refusal> {
        let max_fee = positive(tx.max_fee_per_gas).map_err(|_| Refusal::Fee)?;
        let priority = integer(tx.max_priority_fee_per_gas).map_err(|_| Refusal::Fee)?;
        let ceiling = u128::from(self.max_fee_per_gas_gwei) * 1_000_000_000;
        if max_fee > ceiling || priority > max_fee {
            return Err(Refusal::Fee);
        }
        Ok((max_fee, priority))
    }

    /// Whether a gas limit is one a token transfer may use.
    pub(crate) fn transfer_gas(&self, gas_limit: u64) -> Result<(), Refusal> {
        if gas_limit < TRANSFER_GAS || gas_limit > self.max_gas_limit {
            return Err(Refusal::GasLimit);
        }
        Ok(())
    }

    /// A configured token contract.
    pub(crate) fn token(&self, text: &str) -> Result<Address, Refusal> {
        let token = Address::parse(text).map_err(|_| Refusal::Token)?;
        if !self.tokens.contains(&token) {
            return Err(Refusal::Token);
        }
        Ok(token)
    }

    /// Decides a stateless intent and, when allowed, carries it out (a payout
    /// goes to `payout::decide`, which knows the payouts already signed).
    pub fn decide(&self, seed: &Seed, intent: &Intent) -> Result<Outcome, Refusal> {
        let hot = || seed.address(KeyPath::HotWallet).map_err(|_| Refusal::Key);
        let deposit_key = |index: u32| seed.secret_key(KeyPath::Deposit(index)).map_err(|_| Refusal::Index);
        match intent {
            Intent::DeriveAddress { index } => seed
                .address(KeyPath::Deposit(*index))
                .map(Outcome::Address)
                .map_err(|_| Refusal::Index),
            Intent::HotWallet => hot().map(Outcome::Address),
            Intent::SignSweep {
                index,
                token,
                amount,
                nonce,
                gas_limit,
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => {
                let tx = &TxParams {
                    nonce: *nonce,
                    gas_limit: *gas_limit,
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                };
                let token = self.token(token)?;
                let amount = positive(amount)?;
                let (max_fee, priority) = self.fees(tx)?;
                self.transfer_gas(tx.gas_limit)?;
                let key = deposit_key(*index)?;
                Ok(self.sign(
                    tx,
                    &key,
                    token,
                    0,
                    erc20_transfer_data(&hot()?, amount),
                    (max_fee, priority),
                ))
            }
            Intent::SignGasTopup {
                index,
                value_wei,
                nonce,
                gas_limit,
                max_fee_per_gas,
                max_priority_fee_per_gas,
            } => {
                let tx = &TxParams {
                    nonce: *nonce,
                    gas_limit: *gas_limit,
                    max_fee_per_gas,
                    max_priority_fee_per_gas,
                };
                let value = positive(value_wei)?;
                if value > self.max_topup_wei {
                    return Err(Refusal::Topup);
                }
                let (max_fee, priority) = self.fees(tx)?;
                if tx.gas_limit != TRANSFER_GAS {
                    return Err(Refusal::GasLimit);
                }
                let to = seed.address(KeyPath::Deposit(*index)).map_err(|_| Refusal::Index)?;
                let key = seed.secret_key(KeyPath::HotWallet).map_err(|_| Refusal::Key)?;
                Ok(self.sign(tx, &key, to, value, Vec::new(), (max_fee, priority)))
            }
            Intent::SignPayout(_) => Err(Refusal::NotHere),
        }
    }

    /// Builds the transaction on the pinned chain and signs it with `key`.
    pub(crate) fn sign(
        &self,
        tx: &TxParams<'_>,
        key: &SecretKey,
        to: Address,
        value: u128,
        data: Vec<u8>,
        fees: (u128, u128),
    ) -> Outcome {
        let built = Eip1559Tx {
            chain_id: self.chain_id,
            nonce: tx.nonce,
            max_priority_fee_per_gas: fees.1,
            max_fee_per_gas: fees.0,
            gas_limit: tx.gas_limit,
            to,
            value,
            data,
        };
        let signed = built.sign(key);
        Outcome::Signed {
            from: Address::from_secret_key(key),
            to,
            raw: signed.raw,
            hash: signed.hash,
        }
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
