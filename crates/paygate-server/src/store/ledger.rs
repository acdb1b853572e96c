//! Balances, derived from ledger entries (never stored on their own).

use paygate_proto::{Environment, MerchantId};
use sqlx::Row as _;

use super::{Store, StoreResult};

/// The sum of one merchant account in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub account: String,
    pub currency: String,
    pub amount: i64,
}

impl Store {
    /// Sums of the merchant's `available`, `pending` and `reserved` accounts.
    pub async fn balances(&self, merchant: &MerchantId, env: Environment) -> StoreResult<Vec<BalanceRow>> {
        let rows = sqlx::query(
            "SELECT account, currency, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_entries \
             WHERE merchant_id = $1 AND env = $2 AND account IN ('available', 'pending', 'reserved') \
             GROUP BY account, currency ORDER BY currency, account",
        )
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BalanceRow {
                    account: row.try_get("account")?,
                    currency: row.try_get("currency")?,
                    amount: row.try_get("total")?,
                })
            })
            .collect()
    }
}
