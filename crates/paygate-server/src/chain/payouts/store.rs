//! Every SQL statement of the payout pipeline. Each change is conditional
//! on the state it leaves, so of several instances one moves a payout on.

use paygate_proto::money::Currency;
use paygate_proto::payments::Destination;
use paygate_proto::Environment;
use serde_json::Value;
use sqlx::{AnyConnection, AnyPool, Row as _};

use super::record::{Payout, PayoutState, Route, COLUMNS};
use crate::chain::signer_client::Signed;
use crate::chain::watcher::store::Scope;
use crate::ids;
use crate::store::{lock_rows, RowLock, StoreResult};

/// A nonce, fee or block number as the database keeps it (BIGINT).
fn int<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}

/// Most payouts one instance works on per round.
const CLAIM_LIMIT: i64 = 200;
/// How long a claim keeps other instances off a payout (an instance that
/// dies holding it leaves it to the others after this).
pub const CLAIM_SECS: i64 = 10;

/// An approved withdrawal to an Ethereum address that has no payout yet.
#[derive(Debug, Clone)]
pub struct Approved {
    pub id: String,
    pub merchant_id: String,
    pub amount: i64,
    pub currency: Currency,
    pub to: String,
}

/// Approved on-chain withdrawals of `env` without a payout.
pub async fn approved_without_payout(pool: &AnyPool, env: Environment) -> StoreResult<Vec<Approved>> {
    let rows = sqlx::query(
        "SELECT w.id, w.merchant_id, w.amount, w.currency, w.destination FROM withdrawals w \
         WHERE w.env = $1 AND w.status = 'processing' AND w.destination LIKE '{\"type\":\"ethereum\"%' \
         AND NOT EXISTS (SELECT 1 FROM chain_payouts p WHERE p.source_type = 'withdrawal' AND p.source_id = w.id) \
         ORDER BY w.updated_at, w.id LIMIT 500",
    )
    .bind(env.as_str())
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let destination: String = row.try_get("destination")?;
        let currency: String = row.try_get("currency")?;
        let (Ok(Destination::Ethereum { address }), Some(currency)) =
            (serde_json::from_str(&destination), Currency::parse(&currency))
        else {
            continue;
        };
        out.push(Approved {
            id: row.try_get("id")?,
            merchant_id: row.try_get("merchant_id")?,
            amount: row.try_get("amount")?,
            currency,
            to: address,
        });
    }
    Ok(out)
}

/// Queues a payout of `withdrawal` (nothing if it has one already).
pub async fn enqueue(conn: &mut AnyConnection, scope: Scope, w: &Approved, token: &str, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chain_payouts (id, env, chain_id, source_type, source_id, merchant_id, currency, token, \
         destination, amount, state, created_at, updated_at) \
         VALUES ($1, $2, $3, 'withdrawal', $4, $5, $6, $7, $8, $9, 'queued', $10, $10) ON CONFLICT DO NOTHING",
    )
    .bind(ids::new_id("po"))
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .bind(&w.id)
    .bind(&w.merchant_id)
    .bind(w.currency.as_str())
    .bind(token)
    .bind(&w.to)
    .bind(w.amount)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the open payouts no other instance is working on (rows another
/// transaction has locked are passed over on PostgreSQL).
pub async fn claim(conn: &mut AnyConnection, scope: Scope, now: i64) -> StoreResult<Vec<Payout>> {
    let lock = lock_rows(conn, RowLock::SkipLocked);
    let sql = format!(
        "UPDATE chain_payouts SET claimed_until = $1 WHERE id IN (SELECT id FROM chain_payouts \
         WHERE env = $2 AND chain_id = $3 AND state IN ('queued', 'signing', 'signed', 'sent') \
         AND claimed_until <= $4 ORDER BY created_at, id LIMIT $5{lock}) RETURNING {COLUMNS}"
    );
    let rows = sqlx::query(&sql)
        .bind(now + CLAIM_SECS)
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .bind(now)
        .bind(CLAIM_LIMIT)
        .fetch_all(conn)
        .await?;
    rows.iter().map(Payout::from_row).collect()
}

/// Lets other instances have these payouts again.
pub async fn unclaim(conn: &mut AnyConnection, ids: &[String]) -> StoreResult<()> {
    for id in ids {
        sqlx::query("UPDATE chain_payouts SET claimed_until = 0 WHERE id = $1")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Open payouts of `scope` (for the pending gauge).
pub async fn open_count(pool: &AnyPool, scope: Scope) -> StoreResult<i64> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM chain_payouts WHERE env = $1 AND chain_id = $2 \
         AND state IN ('queued', 'signing', 'signed', 'sent')",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("n")?)
}

pub async fn load(conn: &mut AnyConnection, id: &str) -> StoreResult<Option<Payout>> {
    let sql = format!("SELECT {COLUMNS} FROM chain_payouts WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(Payout::from_row).transpose()
}

/// `queued -> signing` with the nonce, wallet and fees it will be signed
/// with (a `signing` payout keeps them: asked again, the signer answers the
/// same transaction).
pub async fn start_signing(
    conn: &mut AnyConnection,
    id: &str,
    hot_wallet: &str,
    nonce: u64,
    fees: (u128, u128),
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE chain_payouts SET state = 'signing', hot_wallet = $1, nonce = $2, max_fee_per_gas = $3, \
         max_priority_fee_per_gas = $4, updated_at = $5 WHERE id = $6 AND state = 'queued'",
    )
    .bind(hot_wallet)
    .bind(int(nonce))
    .bind(int(fees.0))
    .bind(int(fees.1))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// `signing -> signed`: the signed transaction, before it is sent.
pub async fn keep_signed(conn: &mut AnyConnection, id: &str, signed: &Signed, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE chain_payouts SET state = 'signed', raw_tx = $1, tx_hash = $2, updated_at = $3 \
         WHERE id = $4 AND state = 'signing'",
    )
    .bind(&signed.raw_tx)
    .bind(signed.tx_hash.to_ascii_lowercase())
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// A fee bump of a sent payout: the new version (same nonce) replaces the
/// current one, which is kept among the replaced hashes.
pub async fn keep_replacement(
    conn: &mut AnyConnection,
    payout: &Payout,
    signed: &Signed,
    fees: (u128, u128),
    head: u64,
    now: i64,
) -> StoreResult<bool> {
    let mut replaced = payout.replaced.clone();
    replaced.extend(payout.tx_hash.clone());
    let done = sqlx::query(
        "UPDATE chain_payouts SET raw_tx = $1, tx_hash = $2, replaced_tx_hashes = $3, max_fee_per_gas = $4, \
         max_priority_fee_per_gas = $5, sent_block = $6, updated_at = $7 WHERE id = $8 AND state = 'sent' AND tx_hash = $9",
    )
    .bind(&signed.raw_tx)
    .bind(signed.tx_hash.to_ascii_lowercase())
    .bind(replaced.join(" "))
    .bind(int(fees.0))
    .bind(int(fees.1))
    .bind(int(head))
    .bind(now)
    .bind(&payout.id)
    .bind(payout.tx_hash.as_deref().unwrap_or_default())
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// `signed -> sent` (or a `sent` payout sent again on another route).
pub async fn mark_sent(
    conn: &mut AnyConnection,
    id: &str,
    route: Route,
    reason: Option<&str>,
    head: u64,
    now: i64,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE chain_payouts SET state = 'sent', route = $1, fallback_reason = $2, sent_block = $3, updated_at = $4 \
         WHERE id = $5 AND state IN ('signed', 'sent')",
    )
    .bind(route.as_str())
    .bind(reason)
    .bind(int(head))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Records the block a receipt names (None: the receipt is gone, a
/// reorganisation took the block).
pub async fn set_mined(conn: &mut AnyConnection, id: &str, block: Option<u64>, now: i64) -> StoreResult<()> {
    sqlx::query("UPDATE chain_payouts SET mined_block = $1, updated_at = $2 WHERE id = $3 AND state = 'sent'")
        .bind(block.map(int))
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ends a payout: `paid`, or `failed` with its code. A payout the signer
/// refused gives up its nonce (another payout signs with it).
pub async fn finish(
    conn: &mut AnyConnection,
    id: &str,
    from: &[PayoutState],
    to: PayoutState,
    failure: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    let states: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    let clear_nonce = if failure == Some("signer_refused") {
        ", nonce = NULL"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE chain_payouts SET state = $1, failure_code = $2, updated_at = $3{clear_nonce} \
         WHERE id = $4 AND state IN ({})",
        states.join(", ")
    );
    let done = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(failure)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected();
    Ok(done == 1)
}

/// Shows the payout on what it pays (the withdrawal's `chain` object).
pub async fn publish(conn: &mut AnyConnection, payout: &Payout, chain: &Value) -> StoreResult<()> {
    if payout.source_type == "withdrawal" {
        sqlx::query("UPDATE withdrawals SET chain = $1 WHERE id = $2")
            .bind((!chain.is_null()).then(|| chain.to_string()))
            .bind(&payout.source_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}
