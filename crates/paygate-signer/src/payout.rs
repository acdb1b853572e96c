//! Payouts: ERC-20 `transfer(to, amount)` from the hot wallet, decided
//! against the payouts already signed (the payout book) without any I/O, so
//! the whole policy is testable as a pure function.
//!
//! One nonce per payout id: the same id with the same fields gets back the
//! transaction signed before (same bytes, same hash); the same id, token,
//! destination, amount, nonce and gas limit with a higher fee is a
//! replacement (a fee bump); anything else with that id is `payout_conflict`.
//! A payout counts against the daily cap once, at its first signing, however
//! often it is re-asked or bumped.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::eth::{erc20_transfer_data, Address};
use crate::hd::{KeyPath, Seed};
use crate::policy::{integer, positive, Outcome, Policy, Refusal, TxParams};

/// The rolling window of the daily cap.
pub const DAY_SECONDS: i64 = 24 * 60 * 60;

/// The longest payout id.
pub const MAX_PAYOUT_ID: usize = 128;

/// The fields of a `sign_payout` request (as sent, or in the normal form
/// the payout book keeps: checksummed addresses, decimal integers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutIntent {
    pub payout_id: String,
    pub token: String,
    pub to: String,
    pub amount: String,
    pub nonce: u64,
    pub gas_limit: u64,
    pub max_fee_per_gas: String,
    pub max_priority_fee_per_gas: String,
}

/// One signed version of a payout, as the payout book keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRecord {
    /// The request in normal form.
    pub payout: PayoutIntent,
    /// When the payout id was first signed (Unix seconds); a replacement
    /// keeps its first version's time.
    pub first_at: i64,
    pub from: String,
    pub raw_tx: String,
    pub tx_hash: String,
}

impl PayoutRecord {
    /// Whether two versions pay the same thing from the same nonce.
    fn same_terms(&self, other: &PayoutIntent) -> bool {
        let p = &self.payout;
        p.token == other.token
            && p.to == other.to
            && p.amount == other.amount
            && p.nonce == other.nonce
            && p.gas_limit == other.gas_limit
    }

    /// The answer to the caller: the same shape as every signed intent.
    pub fn outcome(&self) -> Option<Outcome> {
        let mut raw = Vec::new();
        let mut hash = [0u8; 32];
        hex::decode_to_slice(self.tx_hash.strip_prefix("0x")?, &mut hash).ok()?;
        raw.extend(hex::decode(self.raw_tx.strip_prefix("0x")?).ok()?);
        Some(Outcome::Signed {
            from: Address::parse(&self.from).ok()?,
            to: Address::parse(&self.payout.token).ok()?,
            raw,
            hash,
        })
    }
}

/// Every payout version signed so far, by payout id (oldest first).
#[derive(Debug, Default, Clone)]
pub struct PayoutBook {
    by_id: HashMap<String, Vec<PayoutRecord>>,
}

impl PayoutBook {
    pub fn insert(&mut self, record: PayoutRecord) {
        self.by_id
            .entry(record.payout.payout_id.clone())
            .or_default()
            .push(record);
    }

    pub fn versions(&self, payout_id: &str) -> &[PayoutRecord] {
        self.by_id.get(payout_id).map(Vec::as_slice).unwrap_or_default()
    }

    /// The amount of `token` paid out by payout ids first signed after
    /// `since` (each id once).
    pub fn spent_since(&self, token: &str, since: i64) -> u128 {
        self.by_id
            .values()
            .filter_map(|versions| versions.first())
            .filter(|first| first.payout.token == token && first.first_at > since)
            .map(|first| first.payout.amount.parse::<u128>().unwrap_or(u128::MAX))
            .fold(0u128, u128::saturating_add)
    }
}

/// What the signer does with an allowed payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutDecision {
    /// Asked again with the same fields: the version signed before.
    Replay(PayoutRecord),
    /// Newly signed (a first version or a fee bump): to be persisted before
    /// it is answered.
    Signed { record: PayoutRecord, replacement: bool },
}

fn payout_id_valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_PAYOUT_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Decides a payout at time `now` (Unix seconds) against the book and the
/// allowlist; pure.
pub fn decide(
    policy: &Policy,
    seed: &Seed,
    book: &PayoutBook,
    allowlist: &BTreeSet<Address>,
    intent: &PayoutIntent,
    now: i64,
) -> Result<PayoutDecision, Refusal> {
    if !payout_id_valid(&intent.payout_id) {
        return Err(Refusal::PayoutId);
    }
    // The request in normal form first: a repeated request gets the
    // transaction signed before even when the policy has changed since (it
    // exists already, and may be on its way).
    let token = Address::parse(&intent.token).map_err(|_| Refusal::Token)?;
    let amount = positive(&intent.amount)?;
    let to = Address::parse(&intent.to).map_err(|_| Refusal::Destination)?;
    let max_fee = positive(&intent.max_fee_per_gas).map_err(|_| Refusal::Fee)?;
    let priority = integer(&intent.max_priority_fee_per_gas).map_err(|_| Refusal::Fee)?;
    let asked = PayoutIntent {
        payout_id: intent.payout_id.clone(),
        token: token.checksummed(),
        to: to.checksummed(),
        amount: amount.to_string(),
        nonce: intent.nonce,
        gas_limit: intent.gas_limit,
        max_fee_per_gas: max_fee.to_string(),
        max_priority_fee_per_gas: priority.to_string(),
    };
    let versions = book.versions(&intent.payout_id);
    if let Some(before) = versions.iter().find(|v| v.payout == asked) {
        return Ok(PayoutDecision::Replay(before.clone()));
    }

    policy.token(&intent.token)?;
    let hot = seed.address(KeyPath::HotWallet).map_err(|_| Refusal::Key)?;
    if to == Address([0u8; 20]) || to == token || to == hot {
        return Err(Refusal::Destination);
    }
    let tx = TxParams {
        nonce: intent.nonce,
        gas_limit: intent.gas_limit,
        max_fee_per_gas: &asked.max_fee_per_gas,
        max_priority_fee_per_gas: &asked.max_priority_fee_per_gas,
    };
    policy.fees(&tx)?;
    policy.transfer_gas(tx.gas_limit)?;
    let (first_at, replacement) = match (versions.first(), versions.last()) {
        (Some(first), Some(latest)) => {
            let fee = |text: &str| text.parse::<u128>().unwrap_or(u128::MAX);
            let bumped = max_fee > fee(&latest.payout.max_fee_per_gas)
                && priority >= fee(&latest.payout.max_priority_fee_per_gas);
            if !latest.same_terms(&asked) || !bumped {
                return Err(Refusal::Conflict);
            }
            (first.first_at, true)
        }
        _ => (now, false),
    };

    if policy.allowlist_only && !allowlist.contains(&to) {
        return Err(Refusal::NotAllowlisted);
    }
    if amount > policy.payout_cap {
        return Err(Refusal::PayoutCap);
    }
    if !replacement {
        let spent = book.spent_since(&asked.token, now - DAY_SECONDS);
        if spent.checked_add(amount).is_none_or(|total| total > policy.daily_cap) {
            return Err(Refusal::DailyCap);
        }
    }

    let key = seed.secret_key(KeyPath::HotWallet).map_err(|_| Refusal::Key)?;
    let Outcome::Signed { raw, hash, .. } = policy.sign(
        &tx,
        &key,
        token,
        0,
        erc20_transfer_data(&to, amount),
        (max_fee, priority),
    ) else {
        return Err(Refusal::Key);
    };
    let record = PayoutRecord {
        payout: asked,
        first_at,
        from: hot.checksummed(),
        raw_tx: format!("0x{}", hex::encode(raw)),
        tx_hash: format!("0x{}", hex::encode(hash)),
    };
    Ok(PayoutDecision::Signed { record, replacement })
}

#[cfg(test)]
#[path = "payout_tests.rs"]
mod tests;
