//! API key rows: the key's SHA-256, its sealed secret, scopes and allowlist.

use paygate_proto::{Environment, MerchantId};
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{Store, StoreError, StoreResult};
use crate::crypto::Sealed;

/// What is stored when a key is issued. The key itself is not.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub id: String,
    pub merchant_id: MerchantId,
    pub env: Environment,
    pub name: String,
    pub key_hash: String,
    pub prefix: String,
    pub secret: Sealed,
    pub scopes: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub id: String,
    pub merchant_id: MerchantId,
    pub env: Environment,
    pub name: String,
    pub prefix: String,
    pub secret: Sealed,
    pub scopes: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub merchant_suspended: bool,
}

impl KeyRecord {
    /// Usable at `now`: not revoked and not past its expiry.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|expiry| now < expiry)
    }
}

const KEY_COLUMNS: &str = "k.id, k.merchant_id, k.env, k.name, k.prefix, k.secret_key_id, k.secret_sealed, \
    k.scopes, k.allowed_ips, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.last_used_ip, m.status";

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn key_from_row(row: &AnyRow) -> StoreResult<KeyRecord> {
    let merchant: String = row.try_get("merchant_id")?;
    let env: String = row.try_get("env")?;
    let scopes: String = row.try_get("scopes")?;
    let allowed_ips: String = row.try_get("allowed_ips")?;
    Ok(KeyRecord {
        id: row.try_get("id")?,
        merchant_id: MerchantId::parse(&merchant).map_err(|_| corrupt("api_keys.merchant_id"))?,
        env: Environment::parse(&env).ok_or_else(|| corrupt("api_keys.env"))?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        secret: Sealed {
            key_id: row.try_get("secret_key_id")?,
            bytes: row.try_get("secret_sealed")?,
        },
        scopes: serde_json::from_str(&scopes).map_err(|_| corrupt("api_keys.scopes"))?,
        allowed_ips: serde_json::from_str(&allowed_ips).map_err(|_| corrupt("api_keys.allowed_ips"))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_used_at: row.try_get("last_used_at")?,
        last_used_ip: row.try_get("last_used_ip")?,
        merchant_suspended: row.try_get::<String, _>("status")? == "suspended",
    })
}

impl Store {
    pub async fn insert_key(&self, key: &NewKey) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        insert_key(tx.conn(), key).await?;
        tx.commit().await
    }

    /// The key stored under `key_hash`, whatever its state.
    pub async fn key_by_hash(&self, key_hash: &str) -> StoreResult<Option<KeyRecord>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.key_hash = $1"
        );
        let row = sqlx::query(&sql).bind(key_hash).fetch_optional(&self.pool).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    pub async fn key_by_id(&self, id: &str) -> StoreResult<Option<KeyRecord>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(key_from_row).transpose()
    }

    /// One page of the keys of `merchant` in `env` that still work at `now`
    /// (made after `made_after`, the maximum age's bound), in `created_at`
    /// order (keyset pagination, see `http::list`).
    pub async fn keys_page(
        &self,
        merchant: &MerchantId,
        env: Environment,
        page: &crate::http::list::Page,
        now: i64,
        made_after: i64,
    ) -> StoreResult<Vec<KeyRecord>> {
        let order = page.order.sql();
        let after = match &page.after {
            Some(_) => format!("AND (k.created_at, k.id) {} ($6, $7)", page.order.after_operator()),
            None => String::new(),
        };
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id \
             WHERE k.merchant_id = $1 AND k.env = $2 AND k.revoked_at IS NULL \
             AND (k.expires_at IS NULL OR k.expires_at > $3) AND k.created_at > $5 {after} \
             ORDER BY k.created_at {order}, k.id {order} LIMIT $4"
        );
        let mut query = sqlx::query(&sql)
            .bind(merchant.as_str())
            .bind(env.as_str())
            .bind(now)
            .bind(page.fetch_limit())
            .bind(made_after);
        if let Some(cursor) = &page.after {
            let created = match &cursor.value {
                crate::http::list::SortValue::Int(v) => *v,
                crate::http::list::SortValue::Text(_) => return Err(corrupt("cursor")),
            };
            query = query.bind(created).bind(cursor.id.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(key_from_row).collect()
    }
}

/// The key with `id`, read through the caller's connection or transaction.
pub async fn key_by_id_in(conn: &mut sqlx::AnyConnection, id: &str) -> StoreResult<Option<KeyRecord>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys k JOIN merchants m ON m.id = k.merchant_id WHERE k.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(key_from_row).transpose()
}

/// Inserts a key row inside the caller's transaction.
pub async fn insert_key(conn: &mut sqlx::AnyConnection, key: &NewKey) -> StoreResult<()> {
    let scopes = serde_json::to_string(&key.scopes).map_err(|_| corrupt("scopes"))?;
    let allowed_ips = serde_json::to_string(&key.allowed_ips).map_err(|_| corrupt("allowed_ips"))?;
    sqlx::query(
        "INSERT INTO api_keys (id, merchant_id, env, name, key_hash, prefix, secret_key_id, secret_sealed, \
         scopes, allowed_ips, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&key.id)
    .bind(key.merchant_id.as_str())
    .bind(key.env.as_str())
    .bind(&key.name)
    .bind(&key.key_hash)
    .bind(&key.prefix)
    .bind(&key.secret.key_id)
    .bind(&key.secret.bytes)
    .bind(scopes)
    .bind(allowed_ips)
    .bind(key.created_at)
    .bind(key.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the IP allowlist of the tenant's active key `id` and bumps the
/// revocation epoch, so every process drops its cached copy of the old list
/// at once. `false` when there is no such active key.
pub async fn set_allowed_ips_in(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    owner: (&MerchantId, Environment),
    allowed_ips: &[String],
    now: i64,
) -> StoreResult<bool> {
    let allowed_ips = serde_json::to_string(allowed_ips).map_err(|_| corrupt("allowed_ips"))?;
    let updated = sqlx::query(
        "UPDATE api_keys SET allowed_ips = $1 WHERE id = $2 AND merchant_id = $3 AND env = $4 \
         AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $5)",
    )
    .bind(allowed_ips)
    .bind(id)
    .bind(owner.0.as_str())
    .bind(owner.1.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() != 1 {
        return Ok(false);
    }
    super::auth::bump_epoch(conn).await?;
    Ok(true)
}
