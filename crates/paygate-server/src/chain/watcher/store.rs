//! The watcher's rows: remembered blocks, the scan cursor, watched
//! addresses and observed transfers. Every write is idempotent, so two
//! instances scanning the same blocks write the same rows once.

use std::collections::HashMap;

use alloy_primitives::{Address, B256};
use paygate_proto::money::Currency;
use paygate_proto::{Environment, MerchantId};
use sqlx::{AnyConnection, AnyPool, Row as _};

use crate::chain::credit::{Observed, NETWORK, OBSERVED_COLUMNS};
use crate::chain::rpc::{BlockRef, TransferLog};
use crate::ids;
use crate::store::{StoreError, StoreResult};

/// Which environment and chain a row belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub env: Environment,
    pub chain_id: i64,
}

/// A deposit address the watcher watches.
#[derive(Debug, Clone)]
pub struct Watched {
    pub id: String,
    pub merchant: MerchantId,
    pub address: String,
    pub derivation_index: i64,
    pub payment_id: Option<String>,
}

pub fn hex(hash: &B256) -> String {
    format!("{hash:#x}")
}

fn parse_hash(text: &str) -> StoreResult<B256> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("chain_blocks.hash".to_owned()))
}

fn to_i64(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Corrupt("a block number beyond i64".to_owned()))
}

/// Every `ethereum` address of the environment, by parsed address (so
/// comparisons ignore the checksum's case).
pub async fn watched(pool: &AnyPool, env: Environment) -> StoreResult<HashMap<Address, Watched>> {
    let rows = sqlx::query(
        "SELECT id, merchant_id, address, derivation_index, payment_id FROM wallet_addresses \
         WHERE env = $1 AND network = $2",
    )
    .bind(env.as_str())
    .bind(NETWORK)
    .fetch_all(pool)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let address: String = row.try_get("address")?;
        let Ok(parsed) = address.parse::<Address>() else {
            continue;
        };
        let merchant: String = row.try_get("merchant_id")?;
        out.insert(
            parsed,
            Watched {
                id: row.try_get("id")?,
                merchant: MerchantId::parse(&merchant)
                    .map_err(|_| StoreError::Corrupt("wallet_addresses.merchant_id".to_owned()))?,
                address,
                derivation_index: row.try_get("derivation_index")?,
                payment_id: row.try_get("payment_id")?,
            },
        );
    }
    Ok(out)
}

/// The next block to scan, if the watcher ever scanned this chain.
pub async fn cursor(pool: &AnyPool, scope: Scope) -> StoreResult<Option<u64>> {
    let row = sqlx::query("SELECT next_block FROM chain_cursors WHERE env = $1 AND chain_id = $2")
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get::<i64, _>("next_block").map(|n| n.max(0) as u64))
        .transpose()
        .map_err(Into::into)
}

/// The head the last scan saw and when, for `paygate chain status`.
pub async fn last_head(pool: &AnyPool, scope: Scope) -> StoreResult<Option<(u64, i64)>> {
    let row = sqlx::query("SELECT head, updated_at FROM chain_cursors WHERE env = $1 AND chain_id = $2")
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .fetch_optional(pool)
        .await?;
    match row {
        Some(r) => Ok(Some((
            r.try_get::<i64, _>("head")?.max(0) as u64,
            r.try_get("updated_at")?,
        ))),
        None => Ok(None),
    }
}

pub async fn set_cursor(conn: &mut AnyConnection, scope: Scope, next: u64, head: u64, now: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chain_cursors (env, chain_id, next_block, head, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (env, chain_id) DO UPDATE SET next_block = excluded.next_block, head = excluded.head, \
         updated_at = excluded.updated_at",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .bind(to_i64(next)?)
    .bind(to_i64(head)?)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The remembered blocks, newest first.
pub async fn blocks(pool: &AnyPool, scope: Scope) -> StoreResult<Vec<BlockRef>> {
    let rows = sqlx::query(
        "SELECT number, hash, parent_hash FROM chain_blocks WHERE env = $1 AND chain_id = $2 ORDER BY number DESC",
    )
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let number: i64 = r.try_get("number")?;
            let hash: String = r.try_get("hash")?;
            let parent: String = r.try_get("parent_hash")?;
            Ok(BlockRef {
                number: number.max(0) as u64,
                hash: parse_hash(&hash)?,
                parent: parse_hash(&parent)?,
            })
        })
        .collect()
}

/// Remembers `blocks` (replacing what was remembered at their numbers) and
/// forgets blocks below `keep_from`.
pub async fn remember(conn: &mut AnyConnection, scope: Scope, blocks: &[BlockRef], keep_from: u64) -> StoreResult<()> {
    for block in blocks {
        sqlx::query(
            "INSERT INTO chain_blocks (env, chain_id, number, hash, parent_hash) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (env, chain_id, number) DO UPDATE SET hash = excluded.hash, parent_hash = excluded.parent_hash",
        )
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .bind(to_i64(block.number)?)
        .bind(hex(&block.hash))
        .bind(hex(&block.parent))
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM chain_blocks WHERE env = $1 AND chain_id = $2 AND number < $3")
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .bind(to_i64(keep_from)?)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets the remembered blocks above `fork`.
pub async fn forget_above(conn: &mut AnyConnection, scope: Scope, fork: u64) -> StoreResult<()> {
    sqlx::query("DELETE FROM chain_blocks WHERE env = $1 AND chain_id = $2 AND number > $3")
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .bind(to_i64(fork)?)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a transfer to a watched address. Returns the row when this call
/// created it (first sight) or brought a reorganised-away one back (seen
/// again on the chain); `None` when it was known already.
pub async fn observe(
    conn: &mut AnyConnection,
    scope: Scope,
    log: &TransferLog,
    currency: Currency,
    amount: i64,
    to: &Watched,
    now: i64,
) -> StoreResult<Option<Observed>> {
    let tx_hash = hex(&log.tx_hash);
    let log_index = to_i64(log.log_index)?;
    let inserted = sqlx::query(
        "INSERT INTO chain_transfers (id, env, chain_id, tx_hash, log_index, block_number, block_hash, token, currency, \
         from_address, to_address, amount, merchant_id, address_id, derivation_index, payment_id, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'seen', $17, $17) \
         ON CONFLICT (chain_id, tx_hash, log_index) DO NOTHING",
    )
    .bind(ids::new_id("ctr"))
    .bind(scope.env.as_str())
    .bind(scope.chain_id)
    .bind(&tx_hash)
    .bind(log_index)
    .bind(to_i64(log.block_number)?)
    .bind(hex(&log.block_hash))
    .bind(format!("{:#x}", log.token))
    .bind(currency.as_str())
    .bind(format!("{:#x}", log.from))
    .bind(&to.address)
    .bind(amount)
    .bind(to.merchant.as_str())
    .bind(&to.id)
    .bind(to.derivation_index)
    .bind(to.payment_id.clone())
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        // Known: brought back only if a reorganisation had taken it away.
        let revived = sqlx::query(
            "UPDATE chain_transfers SET state = 'seen', block_number = $1, block_hash = $2, updated_at = $3 \
             WHERE chain_id = $4 AND tx_hash = $5 AND log_index = $6 AND state IN ('reversed', 'dropped')",
        )
        .bind(to_i64(log.block_number)?)
        .bind(hex(&log.block_hash))
        .bind(now)
        .bind(scope.chain_id)
        .bind(&tx_hash)
        .bind(log_index)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !revived {
            // A reorganisation may have moved it to another block: follow it.
            sqlx::query(
                "UPDATE chain_transfers SET block_number = $1, block_hash = $2, updated_at = $3 \
                 WHERE chain_id = $4 AND tx_hash = $5 AND log_index = $6 AND state IN ('seen', 'confirming') \
                 AND block_hash <> $2",
            )
            .bind(to_i64(log.block_number)?)
            .bind(hex(&log.block_hash))
            .bind(now)
            .bind(scope.chain_id)
            .bind(&tx_hash)
            .bind(log_index)
            .execute(&mut *conn)
            .await?;
            return Ok(None);
        }
    }
    let sql = format!(
        "SELECT {OBSERVED_COLUMNS} FROM chain_transfers WHERE chain_id = $1 AND tx_hash = $2 AND log_index = $3"
    );
    let row = sqlx::query(&sql)
        .bind(scope.chain_id)
        .bind(&tx_hash)
        .bind(log_index)
        .fetch_one(conn)
        .await?;
    Observed::from_row(&row).map(Some)
}

/// Transfers of this chain in the listed states, optionally only above a block.
pub async fn transfers(
    pool: &AnyPool,
    scope: Scope,
    states: &[&str],
    above: Option<u64>,
) -> StoreResult<Vec<Observed>> {
    let placeholders: Vec<String> = (0..states.len()).map(|i| format!("${}", 4 + i)).collect();
    let sql = format!(
        "SELECT {OBSERVED_COLUMNS} FROM chain_transfers WHERE env = $1 AND chain_id = $2 AND block_number > $3 \
         AND state IN ({}) ORDER BY block_number, log_index",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql)
        .bind(scope.env.as_str())
        .bind(scope.chain_id)
        .bind(match above {
            Some(n) => to_i64(n)?,
            None => -1,
        });
    for state in states {
        query = query.bind(*state);
    }
    query.fetch_all(pool).await?.iter().map(Observed::from_row).collect()
}

/// Moves open transfers to `to` (seen or confirming; never a credit).
pub async fn set_open_state(conn: &mut AnyConnection, ids: &[String], to: &str, now: i64) -> StoreResult<()> {
    for id in ids {
        sqlx::query(
            "UPDATE chain_transfers SET state = $1, updated_at = $2 WHERE id = $3 AND state IN ('seen', 'confirming')",
        )
        .bind(to)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Crypto payments on this environment's chain that are `processing`,
/// past their expiry, not covered, with no transfer awaiting
/// confirmations: `(merchant, payment)`.
pub async fn underpaid_due(pool: &AnyPool, env: Environment, now: i64) -> StoreResult<Vec<(MerchantId, String)>> {
    let rows = sqlx::query(
        "SELECT p.merchant_id, p.id FROM payments p WHERE p.env = $1 AND p.status = 'processing' \
         AND p.crypto_network = $2 AND p.expires_at <= $3 AND p.amount_received < p.amount \
         AND NOT EXISTS (SELECT 1 FROM chain_transfers t WHERE t.payment_id = p.id AND t.state IN ('seen', 'confirming')) \
         LIMIT 500",
    )
    .bind(env.as_str())
    .bind(NETWORK)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            let merchant: String = r.try_get("merchant_id")?;
            let merchant =
                MerchantId::parse(&merchant).map_err(|_| StoreError::Corrupt("payments.merchant_id".to_owned()))?;
            Ok((merchant, r.try_get("id")?))
        })
        .collect()
}
