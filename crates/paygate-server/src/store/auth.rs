//! Rows of the two-layer credential model: sessions, token signing keys, the
//! security policy, the revocation epoch, and key lifecycle updates.

use paygate_proto::{Environment, MerchantId};
use sqlx::{AnyConnection, Row as _};

use super::{Store, StoreError, StoreResult};
use crate::crypto::Sealed;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A session made by one token exchange.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub merchant_id: MerchantId,
    pub env: Environment,
    pub key_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// A token signing key as stored: the private half sealed.
#[derive(Debug, Clone)]
pub struct SigningKeyRow {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub sealed: Sealed,
    pub created_at: i64,
}

/// The security policy of one merchant and environment (API.md 4.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PolicyRecord {
    pub require_signature: bool,
    pub require_token: bool,
}

/// Bumps the revocation epoch inside the caller's transaction. Every change
/// that can end a cached credential calls this.
pub async fn bump_epoch(conn: &mut AnyConnection) -> StoreResult<()> {
    sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_session(conn: &mut AnyConnection, session: &SessionRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO auth_sessions (id, merchant_id, env, key_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&session.id)
    .bind(session.merchant_id.as_str())
    .bind(session.env.as_str())
    .bind(&session.key_id)
    .bind(session.created_at)
    .bind(session.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Ends one session of `merchant` in `env`. False when there was none to end.
pub async fn revoke_session(
    conn: &mut AnyConnection,
    id: &str,
    merchant: &MerchantId,
    env: Environment,
    now: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "UPDATE auth_sessions SET revoked_at = $1 WHERE id = $2 AND merchant_id = $3 AND env = $4 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(merchant.as_str())
    .bind(env.as_str())
    .execute(&mut *conn)
    .await?;
    bump_epoch(conn).await?;
    Ok(result.rows_affected() == 1)
}

/// Ends every open session made from `key_id`.
pub async fn revoke_sessions_of_key(conn: &mut AnyConnection, key_id: &str, now: i64) -> StoreResult<u64> {
    let result = sqlx::query("UPDATE auth_sessions SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL")
        .bind(now)
        .bind(key_id)
        .execute(&mut *conn)
        .await?;
    // Its unused ws tokens are spent with it; its open sockets close on the
    // `api_key.revoked` or `api_key.rolled` event of the same transaction.
    sqlx::query("UPDATE ws_tokens SET used_at = $1 WHERE key_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(key_id)
        .execute(&mut *conn)
        .await?;
    bump_epoch(conn).await?;
    Ok(result.rows_affected())
}

/// Revokes a key of `merchant`/`env` (any tenant when `owner` is `None`, for
/// the operator) with its sessions. False when there was no active key.
pub async fn revoke_key_in(
    conn: &mut AnyConnection,
    id: &str,
    owner: Option<(&MerchantId, Environment)>,
    now: i64,
) -> StoreResult<bool> {
    let result = match owner {
        Some((merchant, env)) => {
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND merchant_id = $3 AND env = $4 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(merchant.as_str())
            .bind(env.as_str())
            .execute(&mut *conn)
            .await?
        }
        None => {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *conn)
                .await?
        }
    };
    revoke_sessions_of_key(conn, id, now).await?;
    Ok(result.rows_affected() == 1)
}

/// Moves a key's expiry earlier (a roll's overlap); never later.
pub async fn expire_key_at(conn: &mut AnyConnection, id: &str, expires_at: i64) -> StoreResult<()> {
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2 AND (expires_at IS NULL OR expires_at > $1)")
        .bind(expires_at)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    bump_epoch(conn).await
}

/// Records when and from where a key was last used.
pub async fn touch_key(conn: &mut AnyConnection, id: &str, at: i64, ip: &str) -> StoreResult<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1, last_used_ip = $2 WHERE id = $3")
        .bind(at)
        .bind(ip)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn upsert_policy(
    conn: &mut AnyConnection,
    merchant: &MerchantId,
    env: Environment,
    policy: PolicyRecord,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO security_policies (merchant_id, env, require_signature, require_token, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (merchant_id, env) DO UPDATE SET \
         require_signature = $3, require_token = $4, updated_at = $5",
    )
    .bind(merchant.as_str())
    .bind(env.as_str())
    .bind(i64::from(policy.require_signature))
    .bind(i64::from(policy.require_token))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    bump_epoch(conn).await
}

pub async fn insert_signing_key(conn: &mut AnyConnection, key: &SigningKeyRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO jwt_signing_keys (kid, generation, public_key, secret_key_id, secret_sealed, created_at) \
         SELECT $1, COALESCE(MAX(generation), 0) + 1, $2, $3, $4, $5 FROM jwt_signing_keys",
    )
    .bind(&key.kid)
    .bind(&key.public_key)
    .bind(&key.sealed.key_id)
    .bind(&key.sealed.bytes)
    .bind(key.created_at)
    .execute(&mut *conn)
    .await?;
    bump_epoch(conn).await
}

impl Store {
    /// The current revocation epoch (see [`bump_epoch`]).
    pub async fn auth_epoch(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT epoch FROM auth_epoch WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("epoch")?)
    }

    pub async fn session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id, merchant_id, env, key_id, created_at, expires_at, revoked_at FROM auth_sessions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let merchant: String = row.try_get("merchant_id")?;
            let env: String = row.try_get("env")?;
            Ok(SessionRecord {
                id: row.try_get("id")?,
                merchant_id: MerchantId::parse(&merchant).map_err(|_| corrupt("auth_sessions.merchant_id"))?,
                env: Environment::parse(&env).ok_or_else(|| corrupt("auth_sessions.env"))?,
                key_id: row.try_get("key_id")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .transpose()
    }

    pub async fn policy(&self, merchant: &MerchantId, env: Environment) -> StoreResult<PolicyRecord> {
        let row = sqlx::query(
            "SELECT require_signature, require_token FROM security_policies WHERE merchant_id = $1 AND env = $2",
        )
        .bind(merchant.as_str())
        .bind(env.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(PolicyRecord {
                require_signature: row.try_get::<i64, _>("require_signature")? != 0,
                require_token: row.try_get::<i64, _>("require_token")? != 0,
            })
        })
        .transpose()
        .map(Option::unwrap_or_default)
    }

    /// Signing keys still in service, newest first.
    pub async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRow>> {
        let rows = sqlx::query(
            "SELECT kid, public_key, secret_key_id, secret_sealed, created_at FROM jwt_signing_keys \
             WHERE retired_at IS NULL ORDER BY generation DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRow {
                    kid: row.try_get("kid")?,
                    public_key: row.try_get("public_key")?,
                    sealed: Sealed {
                        key_id: row.try_get("secret_key_id")?,
                        bytes: row.try_get("secret_sealed")?,
                    },
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }
}
