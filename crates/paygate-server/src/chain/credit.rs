//! Crediting a confirmed transfer and compensating a credited one that a
//! reorganisation removed (docs/stablecoins.md). Each runs inside one
//! database transaction with everything it writes: the transfer row's state
//! change (the idempotency of (chain id, tx hash, log index): the change is
//! conditional on the state it leaves, so whoever makes it first credits,
//! and nobody again), the ledger entries, the payment and the events.

use paygate_proto::money::Currency;
use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use crate::alerts::{self, Alert};
use crate::clock::rfc3339;
use crate::http::ApiResult;
use crate::ledger::{self, Account};
use crate::store::{StoreError, StoreResult};
use crate::{outbox, payments};

/// The network name of EVM-chain addresses and payments.
pub const NETWORK: &str = "ethereum";

/// One observed transfer (a `chain_transfers` row).
#[derive(Debug, Clone)]
pub struct Observed {
    pub id: String,
    pub env: Environment,
    pub chain_id: i64,
    pub tx_hash: String,
    pub log_index: i64,
    pub block_number: i64,
    pub block_hash: String,
    pub token: String,
    pub currency: Currency,
    pub to_address: String,
    pub amount: i64,
    pub merchant: MerchantId,
    pub address_id: String,
    pub derivation_index: i64,
    pub payment_id: Option<String>,
    pub state: String,
}

pub const OBSERVED_COLUMNS: &str = "id, env, chain_id, tx_hash, log_index, block_number, block_hash, token, currency, \
     to_address, amount, merchant_id, address_id, derivation_index, payment_id, state";

impl Observed {
    pub fn from_row(row: &AnyRow) -> StoreResult<Self> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("chain_transfers.{what}"));
        let env: String = row.try_get("env")?;
        let currency: String = row.try_get("currency")?;
        let merchant: String = row.try_get("merchant_id")?;
        Ok(Observed {
            id: row.try_get("id")?,
            env: Environment::parse(&env).ok_or_else(|| corrupt("env"))?,
            chain_id: row.try_get("chain_id")?,
            tx_hash: row.try_get("tx_hash")?,
            log_index: row.try_get("log_index")?,
            block_number: row.try_get("block_number")?,
            block_hash: row.try_get("block_hash")?,
            token: row.try_get("token")?,
            currency: Currency::parse(&currency).ok_or_else(|| corrupt("currency"))?,
            to_address: row.try_get("to_address")?,
            amount: row.try_get("amount")?,
            merchant: MerchantId::parse(&merchant).map_err(|_| corrupt("merchant_id"))?,
            address_id: row.try_get("address_id")?,
            derivation_index: row.try_get("derivation_index")?,
            payment_id: row.try_get("payment_id")?,
            state: row.try_get("state")?,
        })
    }

    /// What the events say about this transfer.
    fn details(&self, now: i64) -> Value {
        json!({
            "object": "deposit",
            "env": self.env.as_str(),
            "network": NETWORK,
            "address": self.to_address,
            "amount": self.amount,
            "currency": self.currency.as_str(),
            "token": self.currency.as_str(),
            "token_contract": self.token,
            "chain_id": self.chain_id,
            "tx_hash": self.tx_hash,
            "log_index": self.log_index,
            "block_number": self.block_number,
            "payment": self.payment_id,
            "created_at": rfc3339(now),
        })
    }

    fn source(&self) -> ledger::Source<'_> {
        match &self.payment_id {
            Some(payment) => ledger::Source::new("payment", payment),
            None => ledger::Source::new("deposit", &self.address_id),
        }
    }
}

/// Moves the transfer from `from` (one of the listed states) to `to`;
/// whether this call made the change.
async fn take(conn: &mut AnyConnection, id: &str, from: &[&str], to: &str, now: i64) -> StoreResult<bool> {
    let column = match to {
        "confirmed" => ", credited_at = $2",
        "reversed" => ", reversed_at = $2",
        _ => "",
    };
    let states: Vec<String> = (0..from.len()).map(|i| format!("${}", 4 + i)).collect();
    let sql = format!(
        "UPDATE chain_transfers SET state = $1, updated_at = $2{column} WHERE id = $3 AND state IN ({})",
        states.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(to).bind(now).bind(id);
    for state in from {
        query = query.bind(*state);
    }
    Ok(query.execute(conn).await?.rows_affected() == 1)
}

/// Credits a confirmed transfer: `available` from the chain, the payment's
/// `amount_received` (which succeeds it once covered), `wallet.deposit` for
/// an address that pays no payment. Returns whether this call credited it
/// (false: another scan or instance did already, or it left the chain).
pub async fn credit(conn: &mut AnyConnection, transfer: &Observed, now: i64) -> ApiResult<bool> {
    if !take(&mut *conn, &transfer.id, &["seen", "confirming"], "confirmed", now).await? {
        return Ok(false);
    }
    ledger::transfer(
        &mut *conn,
        &transfer.merchant,
        transfer.env,
        transfer.currency,
        transfer.amount,
        Account::ExternalEthereum,
        Account::Available,
        transfer.source(),
        now,
    )
    .await?;
    match &transfer.payment_id {
        Some(payment) => {
            payments::receive(
                &mut *conn,
                &transfer.merchant,
                transfer.env,
                payment,
                transfer.amount,
                now,
            )
            .await?
        }
        None => {
            outbox::record_event(
                &mut *conn,
                &transfer.merchant,
                transfer.env,
                "wallet.deposit",
                transfer.details(now),
                now,
            )
            .await?;
        }
    }
    Ok(true)
}

/// Compensates a credited transfer that a reorganisation removed: the
/// credit's reverse on the ledger (as much as `available` still holds; the
/// rest is named in the alert as the shortfall), the payment's
/// `amount_received` back down, `wallet.deposit_reversed` and a
/// `security.alert` (`deposit_reorged`). Returns whether this call did it.
pub async fn reverse(conn: &mut AnyConnection, transfer: &Observed, now: i64) -> ApiResult<bool> {
    if !take(&mut *conn, &transfer.id, &["confirmed"], "reversed", now).await? {
        return Ok(false);
    }
    let available = ledger::balance(
        &mut *conn,
        &transfer.merchant,
        transfer.env,
        Account::Available,
        transfer.currency,
    )
    .await?;
    let taken = transfer.amount.min(available.max(0));
    if taken > 0 {
        ledger::transfer(
            &mut *conn,
            &transfer.merchant,
            transfer.env,
            transfer.currency,
            taken,
            Account::Available,
            Account::ExternalEthereum,
            ledger::Source::new("reversal", &transfer.id),
            now,
        )
        .await?;
    }
    if let Some(payment) = &transfer.payment_id {
        payments::receive(
            &mut *conn,
            &transfer.merchant,
            transfer.env,
            payment,
            -transfer.amount,
            now,
        )
        .await?;
    }
    let mut details = transfer.details(now);
    details["reason"] = json!("reorg");
    details["shortfall"] = json!(transfer.amount - taken);
    outbox::record_event(
        &mut *conn,
        &transfer.merchant,
        transfer.env,
        "wallet.deposit_reversed",
        details.clone(),
        now,
    )
    .await?;
    alerts::raise(
        &mut *conn,
        Alert {
            merchant: &transfer.merchant,
            env: transfer.env,
            kind: "deposit_reorged",
            actor: "chain_watcher",
            ip: None,
            details,
        },
        now,
    )
    .await?;
    Ok(true)
}
