//! Suspending a merchant (docs/api.md section 14): the operator's switch that
//! makes every request of that merchant answer `403 account_suspended` (API
//! key, token, token exchange, payor, realtime, dashboard) and holds its
//! webhook deliveries until it is lifted; nothing is lost meanwhile.
//!
//! The change bumps the revocation epoch in its own transaction, so cached
//! credentials on every instance drop on their next request. The payor,
//! realtime and dashboard paths read the merchant's status from the store.
//! A `security.alert` (`account_suspended`, then `account_restored`) tells
//! the merchant, and closes its open sockets; like every delivery, the
//! alert's webhook waits until the suspension is lifted.

use paygate_proto::{Environment, MerchantId};
use serde_json::json;
use sqlx::{AnyConnection, Row as _};

use crate::alerts::{self, Alert};
use crate::audit::{self, AuditEntry, Outcome};
use crate::store::auth::bump_epoch;
use crate::store::{Store, StoreResult};

/// The `type` of the `security.alert` a suspension raises; sockets close on it.
pub const ALERT_SUSPENDED: &str = "account_suspended";
/// The `type` of the `security.alert` raised when a suspension is lifted.
pub const ALERT_RESTORED: &str = "account_restored";

/// Whether the merchant is to be suspended or restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Suspend,
    Unsuspend,
}

/// What a suspension change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The status changed.
    Changed,
    /// The merchant was already in that state.
    Unchanged,
    /// There is no such merchant.
    NoSuchMerchant,
}

/// Suspends or restores `merchant`, with an audit row naming `actor` and
/// `reason`. Webhooks wake up by themselves once restored (the worker polls).
pub async fn set(
    store: &Store,
    merchant: &MerchantId,
    change: Change,
    reason: &str,
    actor: &str,
    now: i64,
) -> StoreResult<Applied> {
    let (status, action, reason_column, at_column) = match change {
        Change::Suspend => ("suspended", "merchant.suspended", Some(reason), Some(now)),
        Change::Unsuspend => ("active", "merchant.unsuspended", None, None),
    };
    let mut tx = store.begin_write().await?;
    // The write comes first: on SQLite a read before it could make the
    // transaction's upgrade fail against another process's commit.
    let updated = sqlx::query(
        "UPDATE merchants SET status = $1, suspension_reason = $2, suspended_at = $3 WHERE id = $4 AND status <> $1",
    )
    .bind(status)
    .bind(reason_column)
    .bind(at_column)
    .bind(merchant.as_str())
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        drop(tx);
        return Ok(match store.merchant(merchant).await? {
            Some(_) => Applied::Unchanged,
            None => Applied::NoSuchMerchant,
        });
    }
    bump_epoch(tx.conn()).await?;
    let mut entry = AuditEntry::new(action, Outcome::Success)
        .actor(actor)
        .reason(reason)
        .details(json!({ "merchant_id": merchant.as_str(), "reason": reason }));
    entry.merchant_id = Some(merchant.clone());
    audit::record(tx.conn(), &entry, now).await?;
    // The merchant hears of it in both environments; the reason stays in the
    // operator's audit row. Its open sockets close on the suspension alert.
    let kind = match change {
        Change::Suspend => ALERT_SUSPENDED,
        Change::Unsuspend => ALERT_RESTORED,
    };
    for env in [Environment::Test, Environment::Live] {
        let alert = Alert {
            merchant,
            env,
            kind,
            actor,
            ip: None,
            details: json!({ "merchant_id": merchant.as_str() }),
        };
        alerts::raise(tx.conn(), alert, now).await?;
    }
    tx.commit().await?;
    tracing::warn!(merchant = merchant.as_str(), action, "merchant status changed");
    Ok(Applied::Changed)
}

/// Whether `merchant` is suspended now, read through `conn` (no cache: the
/// payor, realtime and dashboard paths see a change on their next request).
pub async fn is_suspended(conn: &mut AnyConnection, merchant: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT status FROM merchants WHERE id = $1")
        .bind(merchant)
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<String, _>("status")? == "suspended",
        None => false,
    })
}
