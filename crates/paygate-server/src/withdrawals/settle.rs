//! Settling a withdrawal from its payout's outcome on the chain
//! (docs/api.md): `processing -> paid` (reserved funds leave to the
//! external payout account, `withdrawal.paid`) or `processing -> failed`
//! (reserved funds back to available, `withdrawal.failed` with its
//! `failure_code`), with an audit row, in the caller's transaction.

use paygate_proto::{Environment, MerchantId};
use serde_json::{json, Value};
use sqlx::AnyConnection;

use super::{load_or_404, set_status};
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::ApiResult;
use crate::ledger::{self, Account};
use crate::store::{lock_rows, RowLock};

/// What the chain said of a withdrawal's payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement<'a> {
    Paid,
    /// `signer_refused` or `reverted`.
    Failed(&'a str),
}

/// Settles a `processing` withdrawal; false (nothing written) when it is
/// not `processing` any more.
pub async fn settle_payout(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    id: &str,
    settlement: Settlement<'_>,
    chain: &Value,
    now: i64,
) -> ApiResult<bool> {
    let lock = lock_rows(conn, RowLock::Wait);
    let mut record = load_or_404(&mut *conn, merchant, env, id, lock).await?;
    if record.status != "processing" {
        return Ok(false);
    }
    let currency = record.currency()?;
    let amount = record.amount;
    record.chain = (!chain.is_null()).then(|| chain.to_string());
    let (to, source, status, event, action) = match settlement {
        Settlement::Paid => (
            Account::ExternalPayout,
            "payout",
            "paid",
            "withdrawal.paid",
            "payout.paid",
        ),
        Settlement::Failed(code) => {
            record.failure_code = Some(code.to_owned());
            (
                Account::Available,
                "release",
                "failed",
                "withdrawal.failed",
                "payout.failed",
            )
        }
    };
    ledger::transfer(
        &mut *conn,
        merchant,
        env,
        currency,
        amount,
        Account::Reserved,
        to,
        ledger::Source::new(source, id),
        now,
    )
    .await?;
    set_status(&mut *conn, merchant, &mut record, status, event, now).await?;
    let entry = AuditEntry::new(action, Outcome::Success)
        .merchant(merchant, env)
        .actor("chain_payouts")
        .details(json!({
            "withdrawal_id": id,
            "amount": amount,
            "currency": currency.as_str(),
            "tx_hash": chain.get("tx_hash"),
            "route": chain.get("route"),
            "failure_code": record.failure_code,
        }));
    audit::record(conn, &entry, now).await?;
    Ok(true)
}
