//! The double-entry ledger: every movement of money is one transaction of
//! entries that sum to zero, written in the same database transaction as the
//! change that caused it, with running balances kept beside the entries.
//! [`verify`] is what `paygate ledger verify` runs.
//!
//! A merchant's own accounts are `available`, `pending` and `reserved`; the
//! world outside is `external:card`, `external:bitcoin`, `external:ethereum`
//! and `external:payout`.

use paygate_proto::money::Currency;
use paygate_proto::{Environment, MerchantId};
use serde::Serialize;
use sqlx::{AnyConnection, Row as _};

use crate::ids;
use crate::store::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    Available,
    Pending,
    Reserved,
    /// Card networks: money paid in by card.
    ExternalCard,
    /// The Bitcoin network: deposits to the merchant's addresses.
    ExternalBitcoin,
    /// An EVM chain: stablecoin deposits to the merchant's custodial addresses.
    ExternalEthereum,
    /// Money paid out to the merchant's destinations.
    ExternalPayout,
}

impl Account {
    pub const fn as_str(self) -> &'static str {
        match self {
            Account::Available => "available",
            Account::Pending => "pending",
            Account::Reserved => "reserved",
            Account::ExternalCard => "external:card",
            Account::ExternalBitcoin => "external:bitcoin",
            Account::ExternalEthereum => "external:ethereum",
            Account::ExternalPayout => "external:payout",
        }
    }
}

/// What moved the money: the kind of movement and the object behind it. A
/// balance transaction (docs/refunds.md) is the entry of a movement on the
/// `available` account, shown with this type and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// `payment`, `deposit`, `refund`, `withdrawal`, `release`, `reversal`.
    pub kind: &'static str,
    /// The object's id (`pay_...`, `re_...`, `wd_...`, an address id).
    pub id: &'a str,
}

impl<'a> Source<'a> {
    pub const fn new(kind: &'static str, id: &'a str) -> Self {
        Source { kind, id }
    }
}

/// Moves `amount` from one account to another: the smallest balanced
/// transaction (`from` is debited, `to` credited).
#[allow(clippy::too_many_arguments)]
pub async fn transfer(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    currency: Currency,
    amount: i64,
    from: Account,
    to: Account,
    source: Source<'_>,
    now: i64,
) -> StoreResult<String> {
    post(
        conn,
        merchant,
        env,
        currency,
        &[(from, -amount), (to, amount)],
        source,
        now,
    )
    .await
}

/// Writes one balanced transaction and updates the running balances; each
/// entry records its source and its account's balance right after it.
/// Refuses (as corruption) a transaction that does not sum to zero.
pub async fn post(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    currency: Currency,
    entries: &[(Account, i64)],
    source: Source<'_>,
    now: i64,
) -> StoreResult<String> {
    let sum = entries
        .iter()
        .try_fold(0i64, |acc, (_, amount)| acc.checked_add(*amount))
        .ok_or_else(|| StoreError::Corrupt("ledger amounts overflow".to_owned()))?;
    if sum != 0 || entries.len() < 2 {
        return Err(StoreError::Corrupt(
            "an unbalanced ledger transaction was refused".to_owned(),
        ));
    }
    let distinct = entries
        .iter()
        .enumerate()
        .all(|(i, (account, _))| entries[..i].iter().all(|(other, _)| other != account));
    if !distinct {
        return Err(StoreError::Corrupt(
            "a ledger transaction names an account twice".to_owned(),
        ));
    }
    let transaction_id = ids::new_id("ltx");
    // On PostgreSQL, where instances post at once, the balance rows are
    // locked in one order (by account name) before they change, so two
    // postings over the same accounts never wait on each other in a cycle.
    let lock = crate::store::lock_rows(conn, crate::store::RowLock::Wait);
    if !lock.is_empty() {
        let names: Vec<String> = (0..entries.len()).map(|i| format!("${}", 4 + i)).collect();
        let sql = format!(
            "SELECT account FROM ledger_balances WHERE merchant_id = $1 AND env = $2 AND currency = $3 \
             AND account IN ({}) ORDER BY account{lock}",
            names.join(", ")
        );
        let mut select = sqlx::query(&sql)
            .bind(merchant.as_str())
            .bind(env.as_str())
            .bind(currency.as_str());
        for (account, _) in entries {
            select = select.bind(account.as_str());
        }
        select.fetch_all(&mut *conn).await?;
    }

    let cases: Vec<String> = (0..entries.len())
        .map(|i| format!("WHEN ${} THEN ${}", 4 + 2 * i, 5 + 2 * i))
        .collect();
    let names: Vec<String> = (0..entries.len()).map(|i| format!("${}", 4 + 2 * i)).collect();
    let sql = format!(
        "UPDATE ledger_balances SET amount = amount + CASE account {} END \
         WHERE merchant_id = $1 AND env = $2 AND currency = $3 AND account IN ({}) RETURNING account, amount",
        cases.join(" "),
        names.join(", ")
    );
    let mut update = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(currency.as_str());
    for (account, amount) in entries {
        update = update.bind(account.as_str()).bind(*amount);
    }
    let mut after: Vec<(String, i64)> = update
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("account")?, row.try_get("amount")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    if after.len() < entries.len() {
        // First movement of some account: the ones that existed were just
        // updated; the others start at this entry's amount. (Inserting the
        // delta keeps the no-negative CHECK meaningful for new accounts.) On
        // PostgreSQL another instance may create the same account at the
        // same moment: the insert then waits for it and adds to its row.
        let mut missing: Vec<_> = entries
            .iter()
            .filter(|(account, _)| !after.iter().any(|(u, _)| u == account.as_str()))
            .collect();
        missing.sort_by_key(|(account, _)| account.as_str());
        for (account, amount) in missing {
            let row = sqlx::query(
                "INSERT INTO ledger_balances (merchant_id, env, account, currency, amount) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, env, account, currency) \
                 DO UPDATE SET amount = ledger_balances.amount + excluded.amount RETURNING amount",
            )
            .bind(merchant.as_str())
            .bind(env.as_str())
            .bind(account.as_str())
            .bind(currency.as_str())
            .bind(*amount)
            .fetch_one(&mut *conn)
            .await?;
            after.push((account.as_str().to_owned(), row.try_get("amount")?));
        }
    }
    // One statement for the entries, written once the balances moved so
    // each carries its account's balance after it (the balance rows are
    // locked, or the writer is alone, so no other posting interleaves).
    let rows: Vec<String> = (0..entries.len())
        .map(|i| {
            let b = i * 4;
            format!(
                "($1, $2, $3, $4, $5, $6, ${}, ${}, ${}, ${})",
                b + 7,
                b + 8,
                b + 9,
                b + 10
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO ledger_entries (merchant_id, env, transaction_id, created_at, source_type, source_id, \
         account, currency, amount, balance_after) VALUES {}",
        rows.join(", ")
    );
    let mut insert = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(&transaction_id)
        .bind(now)
        .bind(source.kind)
        .bind(source.id);
    for (account, amount) in entries {
        let balance = after
            .iter()
            .find(|(name, _)| name == account.as_str())
            .map(|(_, balance)| *balance)
            .ok_or_else(|| StoreError::Corrupt("a ledger balance was not updated".to_owned()))?;
        insert = insert
            .bind(account.as_str())
            .bind(currency.as_str())
            .bind(*amount)
            .bind(balance);
    }
    insert.execute(&mut *conn).await?;
    Ok(transaction_id)
}

/// One account's balance, read inside the caller's transaction (so a
/// withdrawal sees every write committed or batched before it) and locked
/// until it ends, so a withdrawal on another instance waits for it rather
/// than reading the same funds.
pub async fn balance(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    account: Account,
    currency: Currency,
) -> StoreResult<i64> {
    let sql = format!(
        "SELECT amount FROM ledger_balances WHERE merchant_id = $1 AND env = $2 AND account = $3 AND currency = $4{}",
        crate::store::lock_rows(conn, crate::store::RowLock::Wait)
    );
    let row = sqlx::query(&sql)
        .bind(merchant.as_str())
        .bind(env.as_str())
        .bind(account.as_str())
        .bind(currency.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(match row {
        Some(row) => row.try_get("amount")?,
        None => 0,
    })
}

/// What `paygate ledger verify` found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub entries: i64,
    pub transactions: i64,
    /// Transactions whose entries do not sum to zero in a currency.
    pub unbalanced_transactions: Vec<String>,
    /// Accounts whose running balance differs from the sum of their entries.
    pub mismatched_balances: Vec<String>,
    /// Merchant accounts below zero.
    pub negative_balances: Vec<String>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.unbalanced_transactions.is_empty()
            && self.mismatched_balances.is_empty()
            && self.negative_balances.is_empty()
    }
}

/// Checks the whole ledger: every transaction sums to zero per currency,
/// every running balance equals the sum of its entries, and no merchant
/// account is negative.
pub async fn verify(store: &Store) -> StoreResult<Report> {
    let pool = store.pool();
    let mut report = Report::default();
    let counts = sqlx::query("SELECT COUNT(*) AS n, COUNT(DISTINCT transaction_id) AS t FROM ledger_entries")
        .fetch_one(pool)
        .await?;
    report.entries = counts.try_get("n")?;
    report.transactions = counts.try_get("t")?;
    let unbalanced = sqlx::query(
        "SELECT transaction_id, currency FROM ledger_entries GROUP BY transaction_id, currency \
         HAVING SUM(amount) <> 0 ORDER BY transaction_id LIMIT 100",
    )
    .fetch_all(pool)
    .await?;
    for row in unbalanced {
        let id: String = row.try_get("transaction_id")?;
        let currency: String = row.try_get("currency")?;
        report.unbalanced_transactions.push(format!("{id} ({currency})"));
    }
    // Both directions: a balance without entries, and entries without a balance.
    let mismatched = sqlx::query(
        "SELECT b.merchant_id, b.env, b.account, b.currency, b.amount, \
                CAST(COALESCE((SELECT SUM(e.amount) FROM ledger_entries e WHERE e.merchant_id = b.merchant_id \
                  AND e.env = b.env AND e.account = b.account AND e.currency = b.currency), 0) AS BIGINT) AS total \
         FROM ledger_balances b \
         UNION ALL \
         SELECT e.merchant_id, e.env, e.account, e.currency, CAST(0 AS BIGINT) AS amount, CAST(SUM(e.amount) AS BIGINT) AS total \
         FROM ledger_entries e WHERE NOT EXISTS (SELECT 1 FROM ledger_balances b WHERE b.merchant_id = e.merchant_id \
           AND b.env = e.env AND b.account = e.account AND b.currency = e.currency) \
         GROUP BY e.merchant_id, e.env, e.account, e.currency",
    )
    .fetch_all(pool)
    .await?;
    for row in mismatched {
        let merchant: String = row.try_get("merchant_id")?;
        let env: String = row.try_get("env")?;
        let account: String = row.try_get("account")?;
        let currency: String = row.try_get("currency")?;
        let amount: i64 = row.try_get("amount")?;
        let total: i64 = row.try_get("total")?;
        let name = format!("{merchant}/{env}/{account}/{currency}");
        if amount != total {
            report
                .mismatched_balances
                .push(format!("{name}: balance {amount}, entries {total}"));
        }
        if total < 0 && !account.starts_with("external:") {
            report.negative_balances.push(format!("{name}: {total}"));
        }
    }
    Ok(report)
}
