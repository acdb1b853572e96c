//! Dashboard accounts, sessions, email links and codes.

use paygate_proto::MerchantId;
use sqlx::any::AnyRow;
use sqlx::Row as _;

use super::{Store, StoreError, StoreResult};
use crate::crypto::Sealed;

#[derive(Clone)]
pub struct UserRecord {
    pub id: String,
    pub merchant_id: MerchantId,
    pub email: String,
    pub password_hash: String,
    pub email_verified: bool,
    pub totp: Option<Sealed>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub password_changed_at: i64,
}

impl std::fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("merchant_id", &self.merchant_id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("totp_enabled", &self.totp_enabled)
            .finish_non_exhaustive()
    }
}

const USER_COLUMNS: &str = "id, merchant_id, email, password_hash, email_verified_at, totp_key_id, totp_sealed, \
    totp_enabled_at, totp_last_step, failed_logins, locked_until, password_changed_at";

fn user_from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let merchant: String = row.try_get("merchant_id")?;
    let totp_key: Option<String> = row.try_get("totp_key_id")?;
    let totp_bytes: Option<Vec<u8>> = row.try_get("totp_sealed")?;
    Ok(UserRecord {
        id: row.try_get("id")?,
        merchant_id: MerchantId::parse(&merchant)
            .map_err(|_| StoreError::Corrupt("dashboard_users.merchant_id".into()))?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
        email_verified: row.try_get::<Option<i64>, _>("email_verified_at")?.is_some(),
        totp: totp_key.zip(totp_bytes).map(|(key_id, bytes)| Sealed { key_id, bytes }),
        totp_enabled: row.try_get::<Option<i64>, _>("totp_enabled_at")?.is_some(),
        totp_last_step: row.try_get("totp_last_step")?,
        failed_logins: row.try_get("failed_logins")?,
        locked_until: row.try_get("locked_until")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}

impl Store {
    pub async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE email = $1");
        let row = sqlx::query(&sql).bind(email).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM dashboard_users WHERE id = $1");
        let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Whether the session is live (not revoked, not expired) for `user_id`.
    pub async fn dashboard_session_live(&self, session_id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS live FROM dashboard_sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }
}

/// Whether a dashboard user has `email`, read in the caller's transaction.
pub async fn user_exists_in(conn: &mut sqlx::AnyConnection, email: &str) -> StoreResult<bool> {
    let row = sqlx::query("SELECT 1 AS found FROM dashboard_users WHERE email = $1")
        .bind(email)
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

pub async fn insert_user(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    merchant: &MerchantId,
    email: &str,
    password_hash: &str,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO dashboard_users (id, merchant_id, email, password_hash, password_changed_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id)
    .bind(merchant.as_str())
    .bind(email)
    .bind(password_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
