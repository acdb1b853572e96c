//! Merchant rows.

use paygate_proto::MerchantId;
use sqlx::{AnyConnection, Row as _};

use super::{Store, StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct MerchantRecord {
    pub id: MerchantId,
    pub country: String,
    pub email: String,
    pub suspended: bool,
    pub created_at: i64,
}

impl Store {
    pub async fn merchant(&self, id: &MerchantId) -> StoreResult<Option<MerchantRecord>> {
        let row = sqlx::query("SELECT id, country, email, status, created_at FROM merchants WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let id: String = row.try_get("id")?;
            Ok(MerchantRecord {
                id: MerchantId::parse(&id).map_err(|_| StoreError::Corrupt("merchant id".to_owned()))?,
                country: row.try_get("country")?,
                email: row.try_get("email")?,
                suspended: row.try_get::<String, _>("status")? == "suspended",
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
    }

    pub async fn merchant_count(&self) -> StoreResult<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM merchants")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

/// Inserts a merchant in the caller's transaction; false when the ID is
/// taken (the caller draws another: a failed insert would end a PostgreSQL
/// transaction).
pub async fn insert_merchant_in(
    conn: &mut AnyConnection,
    id: &MerchantId,
    country: &str,
    email: &str,
    now: i64,
) -> StoreResult<bool> {
    let result = sqlx::query(
        "INSERT INTO merchants (id, country, email, status, created_at) VALUES ($1, $2, $3, 'active', $4) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.as_str())
    .bind(country)
    .bind(email)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() == 1)
}
