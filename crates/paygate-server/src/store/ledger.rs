//! Balances, derived from ledger entries: the running sums kept beside them
//! in the same transactions (`paygate ledger verify` checks they agree), and
//! the daily figures the dashboard's charts draw.

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
            "SELECT account, currency, amount AS total FROM ledger_balances \
             WHERE merchant_id = $1 AND env = $2 AND account IN ('available', 'pending', 'reserved') \
             ORDER BY currency, account",
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

/// One day's figure for a chart: the day (Unix seconds / 86,400) and a sum
/// or balance in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFigure {
    pub day: i64,
    pub amount: i64,
}

impl Store {
    /// The currencies the merchant's `available` account has moved in.
    pub async fn ledger_currencies(&self, merchant: &MerchantId, env: Environment) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT currency FROM ledger_balances WHERE merchant_id = $1 AND env = $2 AND account = 'available' \
             ORDER BY currency",
        )
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get("currency")?)).collect()
    }

    /// Money paid in (payment movements of `available`) per day since `since`.
    pub async fn daily_volume(
        &self,
        merchant: &MerchantId,
        env: Environment,
        currency: &str,
        since: i64,
    ) -> StoreResult<Vec<DayFigure>> {
        let rows = sqlx::query(
            "SELECT created_at / 86400 AS day, CAST(SUM(amount) AS BIGINT) AS total FROM ledger_entries \
             WHERE merchant_id = $1 AND env = $2 AND account = 'available' AND currency = $3 \
             AND source_type = 'payment' AND created_at >= $4 GROUP BY created_at / 86400 ORDER BY day",
        )
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(currency)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DayFigure {
                    day: row.try_get("day")?,
                    amount: row.try_get("total")?,
                })
            })
            .collect()
    }

    /// `available` at the end of each day since `since` that saw a movement,
    /// and the balance just before `since` (day `since / 86400 - 1`).
    pub async fn daily_balance(
        &self,
        merchant: &MerchantId,
        env: Environment,
        currency: &str,
        since: i64,
    ) -> StoreResult<Vec<DayFigure>> {
        let scope = "merchant_id = $1 AND env = $2 AND account = 'available' AND currency = $3";
        let before = sqlx::query(&format!(
            "SELECT balance_after FROM ledger_entries WHERE {scope} AND created_at < $4 ORDER BY id DESC LIMIT 1"
        ))
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(currency)
        .bind(since)
        .fetch_optional(&self.pool)
        .await?;
        let mut figures = Vec::new();
        if let Some(row) = before {
            let amount: Option<i64> = row.try_get("balance_after")?;
            figures.push(DayFigure {
                day: since.div_euclid(86_400) - 1,
                amount: amount.unwrap_or(0),
            });
        }
        let rows = sqlx::query(&format!(
            "SELECT created_at / 86400 AS day, balance_after FROM ledger_entries WHERE id IN \
             (SELECT MAX(id) FROM ledger_entries WHERE {scope} AND created_at >= $4 GROUP BY created_at / 86400) \
             ORDER BY id"
        ))
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(currency)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        for row in &rows {
            let amount: Option<i64> = row.try_get("balance_after")?;
            figures.push(DayFigure {
                day: row.try_get("day")?,
                amount: amount.unwrap_or(0),
            });
        }
        Ok(figures)
    }
}
