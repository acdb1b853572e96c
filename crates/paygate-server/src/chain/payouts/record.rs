//! The payout record (a `chain_payouts` row): what is paid, from which
//! nonce, the signed transaction, where it was sent and what the chain said.
//! It is generic over what asked for the payout (`source_type`: a withdrawal
//! now, a refund later).

use paygate_proto::money::Currency;
use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row as _;

use crate::store::{StoreError, StoreResult};

/// A payout's state. `queued -> signing -> signed -> sent -> paid | failed`;
/// `signing` and `queued` may also end `failed` (the signer refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayoutState {
    /// Waiting for a nonce.
    Queued,
    /// Holds its nonce and fees; the signer is being asked.
    Signing,
    /// The signed transaction is stored, not yet sent.
    Signed,
    /// Sent; settled from its receipt.
    Sent,
    Paid,
    Failed,
}

impl PayoutState {
    pub const fn as_str(self) -> &'static str {
        match self {
            PayoutState::Queued => "queued",
            PayoutState::Signing => "signing",
            PayoutState::Signed => "signed",
            PayoutState::Sent => "sent",
            PayoutState::Paid => "paid",
            PayoutState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            PayoutState::Queued,
            PayoutState::Signing,
            PayoutState::Signed,
            PayoutState::Sent,
            PayoutState::Paid,
            PayoutState::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether `self -> to` is a transition a payout may make.
    pub fn may_become(self, to: PayoutState) -> bool {
        use PayoutState::*;
        matches!(
            (self, to),
            (Queued, Signing) | (Signing, Signed) | (Queued | Signing, Failed) | (Signed, Sent) | (Sent, Paid | Failed)
        )
    }
}

/// Where the signed transaction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The protected relay (`private_rpc_url`).
    Private,
    /// The public node after the relay did not get it mined in time,
    /// refused it or could not be reached.
    PublicFallback,
    /// The public node, no relay being configured.
    Public,
}

impl Route {
    pub const fn as_str(self) -> &'static str {
        match self {
            Route::Private => "private",
            Route::PublicFallback => "public_fallback",
            Route::Public => "public",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Route::Private, Route::PublicFallback, Route::Public]
            .into_iter()
            .find(|r| r.as_str() == text)
    }
}

/// Why a payout left the relay for the public node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackReason {
    Timeout,
    RelayRefused,
    RelayUnreachable,
}

impl FallbackReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            FallbackReason::Timeout => "timeout",
            FallbackReason::RelayRefused => "relay_refused",
            FallbackReason::RelayUnreachable => "relay_unreachable",
        }
    }
}

pub const COLUMNS: &str = "id, env, chain_id, source_type, source_id, merchant_id, currency, token, destination, \
     amount, hot_wallet, nonce, max_fee_per_gas, max_priority_fee_per_gas, raw_tx, tx_hash, replaced_tx_hashes, \
     route, fallback_reason, sent_block, mined_block, state, failure_code";

#[derive(Debug, Clone)]
pub struct Payout {
    pub id: String,
    pub env: Environment,
    pub chain_id: i64,
    pub source_type: String,
    pub source_id: String,
    pub merchant: MerchantId,
    pub currency: Currency,
    pub token: String,
    pub destination: String,
    pub amount: i64,
    pub hot_wallet: Option<String>,
    pub nonce: Option<i64>,
    pub max_fee_per_gas: Option<i64>,
    pub max_priority_fee_per_gas: Option<i64>,
    pub raw_tx: Option<String>,
    pub tx_hash: Option<String>,
    /// Earlier versions' hashes (fee bumps of the same nonce).
    pub replaced: Vec<String>,
    pub route: Option<Route>,
    pub fallback_reason: Option<String>,
    pub sent_block: Option<i64>,
    pub mined_block: Option<i64>,
    pub state: PayoutState,
    pub failure_code: Option<String>,
}

impl Payout {
    pub fn from_row(row: &AnyRow) -> StoreResult<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("chain_payouts.{what}"));
        let env: String = row.try_get("env")?;
        let merchant: String = row.try_get("merchant_id")?;
        let currency: String = row.try_get("currency")?;
        let route: Option<String> = row.try_get("route")?;
        let state: String = row.try_get("state")?;
        let replaced: String = row.try_get("replaced_tx_hashes")?;
        Ok(Payout {
            id: row.try_get("id")?,
            env: Environment::parse(&env).ok_or_else(|| corrupt("env"))?,
            chain_id: row.try_get("chain_id")?,
            source_type: row.try_get("source_type")?,
            source_id: row.try_get("source_id")?,
            merchant: MerchantId::parse(&merchant).map_err(|_| corrupt("merchant_id"))?,
            currency: Currency::parse(&currency).ok_or_else(|| corrupt("currency"))?,
            token: row.try_get("token")?,
            destination: row.try_get("destination")?,
            amount: row.try_get("amount")?,
            hot_wallet: row.try_get("hot_wallet")?,
            nonce: row.try_get("nonce")?,
            max_fee_per_gas: row.try_get("max_fee_per_gas")?,
            max_priority_fee_per_gas: row.try_get("max_priority_fee_per_gas")?,
            raw_tx: row.try_get("raw_tx")?,
            tx_hash: row.try_get("tx_hash")?,
            replaced: replaced.split_whitespace().map(str::to_owned).collect(),
            route: match route {
                Some(r) => Some(Route::parse(&r).ok_or_else(|| corrupt("route"))?),
                None => None,
            },
            fallback_reason: row.try_get("fallback_reason")?,
            sent_block: row.try_get("sent_block")?,
            mined_block: row.try_get("mined_block")?,
            state: PayoutState::parse(&state).ok_or_else(|| corrupt("state"))?,
            failure_code: row.try_get("failure_code")?,
        })
    }

    /// Every version's hash, the current one first.
    pub fn hashes(&self) -> Vec<String> {
        self.tx_hash.iter().chain(self.replaced.iter().rev()).cloned().collect()
    }

    /// The `chain` object of the withdrawal (or refund) this payout pays:
    /// null until signed; `block` null until mined; `confirmations` how deep
    /// its block is (0 until mined).
    pub fn chain_object(&self, head: Option<i64>, planned: Route) -> Value {
        let Some(tx_hash) = &self.tx_hash else {
            return Value::Null;
        };
        let confirmations = match (self.mined_block, head) {
            (Some(block), Some(head)) => (head - block + 1).max(0),
            _ => 0,
        };
        let mut chain = json!({
            "tx_hash": tx_hash,
            "route": self.route.unwrap_or(planned).as_str(),
            "block": self.mined_block,
            "confirmations": confirmations,
        });
        if self.route == Some(Route::PublicFallback) {
            chain["fallback_reason"] = json!(self.fallback_reason);
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payout_moves_only_forward_and_settles_once() {
        use PayoutState::*;
        let all = [Queued, Signing, Signed, Sent, Paid, Failed];
        for s in all {
            assert_eq!(PayoutState::parse(s.as_str()), Some(s));
            assert!(!s.may_become(s));
        }
        assert!(Queued.may_become(Signing) && Signing.may_become(Signed) && Signed.may_become(Sent));
        assert!(Sent.may_become(Paid) && Sent.may_become(Failed) && Signing.may_become(Failed));
        for end in [Paid, Failed] {
            assert!(all.iter().all(|to| !end.may_become(*to)), "{end:?} is final");
        }
        assert!(!Signed.may_become(Failed), "a signed transaction may still be mined");
        assert!(!Queued.may_become(Sent) && !Signing.may_become(Sent));
    }
}
