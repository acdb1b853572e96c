//! The hot wallet's nonce allocator (docs/stablecoins.md): one row per
//! (environment, chain, hot wallet) in the database, from which every
//! transaction the hot wallet sends (payouts, gas top-ups) takes its nonce,
//! in order and without gaps, whatever instance or restart asks.
//!
//! A nonce is *held* by the payout or sweep signing with it until that one
//! either stores its signed transaction ([`used`], in the same database
//! transaction) or gives the nonce back ([`give_back`], on a signer
//! refusal): no other nonce is given out meanwhile, so a refusal leaves no
//! gap. The row is read with `FOR UPDATE` on PostgreSQL; SQLite's single
//! writer serialises it there.
//!
//! A payout's hold never lapses: its nonce is recorded on the payout, which
//! the signer pins to that id, so whoever picks the payout up again signs
//! with the same nonce. A sweep's hold lapses after [`SWEEP_HOLD_SECS`] (a
//! top-up is stored before it is sent, so a lapsed one was never sent).

use paygate_proto::Environment;
use sqlx::{AnyConnection, Row as _};

use crate::store::{lock_rows, RowLock, StoreResult};

/// How long a sweep may hold a nonce before another holder takes it over.
pub const SWEEP_HOLD_SECS: i64 = 60;

/// One hot wallet on one chain of one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub env: Environment,
    pub chain_id: i64,
    /// The address, as the signer gives it.
    pub address: String,
}

/// What [`take`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// The nonce to sign with (the same one again for the same holder).
    Nonce(u64),
    /// Another payout or sweep holds the next nonce: try again shortly.
    Busy,
}

fn lapses(holder: &str, held_at: Option<i64>, now: i64) -> bool {
    holder.starts_with("swp_") && held_at.is_none_or(|at| now - at >= SWEEP_HOLD_SECS)
}

/// Gives `holder` the next nonce of `wallet` (or the one it holds already).
/// `mined` is the number of the wallet's transactions the chain has mined:
/// the allocator never hands out less (a transaction sent from the wallet
/// by other means moves it on). Run it in a write transaction with
/// whatever records the nonce on the holder.
pub async fn take(conn: &mut AnyConnection, wallet: &Wallet, holder: &str, mined: u64, now: i64) -> StoreResult<Take> {
    sqlx::query(
        "INSERT INTO chain_nonces (env, chain_id, address, next_nonce, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(wallet.env.as_str())
    .bind(wallet.chain_id)
    .bind(&wallet.address)
    .bind(i64::try_from(mined).unwrap_or(i64::MAX))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let lock = lock_rows(conn, RowLock::Wait);
    let sql = format!(
        "SELECT next_nonce, holder, held_at FROM chain_nonces WHERE env = $1 AND chain_id = $2 AND address = $3{lock}"
    );
    let row = sqlx::query(&sql)
        .bind(wallet.env.as_str())
        .bind(wallet.chain_id)
        .bind(&wallet.address)
        .fetch_one(&mut *conn)
        .await?;
    let mut next: i64 = row.try_get("next_nonce")?;
    let current: Option<String> = row.try_get("holder")?;
    let held_at: Option<i64> = row.try_get("held_at")?;
    match current.as_deref() {
        Some(h) if h == holder => return Ok(Take::Nonce(u64::try_from(next - 1).unwrap_or(0))),
        Some(h) if lapses(h, held_at, now) => {
            tracing::warn!(holder = h, "a sweep's lapsed nonce hold was taken over");
            next -= 1;
        }
        Some(_) => return Ok(Take::Busy),
        None => {}
    }
    let nonce = next.max(i64::try_from(mined).unwrap_or(i64::MAX));
    sqlx::query(
        "UPDATE chain_nonces SET next_nonce = $1, holder = $2, held_at = $3, updated_at = $3 \
         WHERE env = $4 AND chain_id = $5 AND address = $6",
    )
    .bind(nonce + 1)
    .bind(holder)
    .bind(now)
    .bind(wallet.env.as_str())
    .bind(wallet.chain_id)
    .bind(&wallet.address)
    .execute(&mut *conn)
    .await?;
    Ok(Take::Nonce(u64::try_from(nonce).unwrap_or(0)))
}

/// `holder` stored its signed transaction: its nonce stays used and the
/// next one is free. False when `holder` no longer held it (a lapsed sweep
/// hold taken over): the caller must then not keep its transaction.
pub async fn used(conn: &mut AnyConnection, wallet: &Wallet, holder: &str, now: i64) -> StoreResult<bool> {
    release(conn, wallet, holder, 0, now).await
}

/// `holder` will not sign with its nonce (the signer refused, or no
/// transaction is needed any more): the nonce goes to the next holder.
/// False when `holder` held none.
pub async fn give_back(conn: &mut AnyConnection, wallet: &Wallet, holder: &str, now: i64) -> StoreResult<bool> {
    release(conn, wallet, holder, 1, now).await
}

async fn release(conn: &mut AnyConnection, wallet: &Wallet, holder: &str, back: i64, now: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE chain_nonces SET next_nonce = next_nonce - $1, holder = NULL, held_at = NULL, updated_at = $2 \
         WHERE env = $3 AND chain_id = $4 AND address = $5 AND holder = $6",
    )
    .bind(back)
    .bind(now)
    .bind(wallet.env.as_str())
    .bind(wallet.chain_id)
    .bind(&wallet.address)
    .bind(holder)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Whether `holder` holds a nonce of any wallet.
pub async fn held_by(pool: &sqlx::AnyPool, holder: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS one FROM chain_nonces WHERE holder = $1")
        .bind(holder)
        .fetch_optional(pool)
        .await?;
    Ok(row.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn nonces_go_out_in_order_and_a_refusal_leaves_no_gap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open("", dir.path()).await.unwrap();
        let wallet = Wallet {
            env: Environment::Test,
            chain_id: 31337,
            address: "0x0000000000000000000000000000000000000001".to_owned(),
        };
        let mut conn = store.pool().acquire().await.unwrap();
        let c = &mut *conn;
        assert_eq!(take(c, &wallet, "po_a", 5, 100).await.unwrap(), Take::Nonce(5));
        assert_eq!(
            take(c, &wallet, "po_a", 5, 101).await.unwrap(),
            Take::Nonce(5),
            "the same again"
        );
        assert_eq!(take(c, &wallet, "po_b", 5, 102).await.unwrap(), Take::Busy);
        assert!(give_back(c, &wallet, "po_a", 103).await.unwrap());
        assert!(!give_back(c, &wallet, "po_a", 103).await.unwrap(), "once");
        assert_eq!(
            take(c, &wallet, "po_b", 5, 104).await.unwrap(),
            Take::Nonce(5),
            "no gap"
        );
        assert!(used(c, &wallet, "po_b", 105).await.unwrap());
        assert_eq!(take(c, &wallet, "swp_c", 5, 106).await.unwrap(), Take::Nonce(6));
        assert_eq!(take(c, &wallet, "po_d", 5, 107).await.unwrap(), Take::Busy);
        // A sweep's hold lapses; the nonce goes to the next holder.
        let later = 106 + SWEEP_HOLD_SECS;
        assert_eq!(take(c, &wallet, "po_d", 5, later).await.unwrap(), Take::Nonce(6));
        assert!(!used(c, &wallet, "swp_c", later).await.unwrap(), "its hold is gone");
        assert!(used(c, &wallet, "po_d", later).await.unwrap());
        // Transactions mined from the wallet by other means move it on.
        assert_eq!(take(c, &wallet, "po_e", 20, later).await.unwrap(), Take::Nonce(20));
    }
}
