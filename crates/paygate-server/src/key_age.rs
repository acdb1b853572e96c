//! Key age (docs/api.md section 14): keys older than `auth.key_rotation_days`
//! are due for rotation (`rotation_due` in the key list, the dashboard
//! banner, a weekly `security.alert` of type `key_rotation_due`), and with
//! `auth.key_max_age_days` set, keys older than that stop working (the
//! ordinary expired-key `401 invalid_api_key`).

use paygate_proto::{Environment, MerchantId};
use serde_json::json;
use sqlx::Row as _;

use crate::alerts::{self, Alert};
use crate::config::AuthConfig;
use crate::store::{KeyRecord, Store, StoreResult};

const DAY_SECS: i64 = 86_400;
/// A key due for rotation is alerted about at most once in this long.
pub const ALERT_EVERY_SECS: i64 = 7 * DAY_SECS;
/// The `type` of the `security.alert`.
pub const ALERT_KIND: &str = "key_rotation_due";

/// The configured ages, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct KeyAge {
    rotation_secs: i64,
    max_age_secs: Option<i64>,
}

impl KeyAge {
    pub fn from_config(auth: &AuthConfig) -> Self {
        Self {
            rotation_secs: i64::from(auth.key_rotation_days) * DAY_SECS,
            max_age_secs: auth.key_max_age_days.map(|days| i64::from(days) * DAY_SECS),
        }
    }

    /// Whether a key made at `created_at` should be rotated by `now`.
    pub fn rotation_due(&self, created_at: i64, now: i64) -> bool {
        now - created_at >= self.rotation_secs
    }

    /// Whether a key made at `created_at` is past its maximum age at `now`.
    pub fn too_old(&self, created_at: i64, now: i64) -> bool {
        self.max_age_secs.is_some_and(|max| now - created_at >= max)
    }

    /// Keys made at or before this are past their maximum age (`i64::MIN`
    /// when there is none): for list queries.
    pub fn oldest_allowed(&self, now: i64) -> i64 {
        self.max_age_secs.map_or(i64::MIN, |max| now - max)
    }
}

/// Whether a key works at `now`: not revoked, not past its expiry, and not
/// past the maximum age.
pub fn works(record: &KeyRecord, auth: &AuthConfig, now: i64) -> bool {
    record.is_active(now) && !KeyAge::from_config(auth).too_old(record.created_at, now)
}

/// The ids of the keys of `merchant` in `env` that work and are due for
/// rotation, oldest first (one query: the dashboard's banner asks on every
/// page).
pub async fn keys_due(
    store: &Store,
    auth: &AuthConfig,
    merchant: &MerchantId,
    env: Environment,
    now: i64,
) -> StoreResult<Vec<String>> {
    due_key_ids(store, &KeyAge::from_config(auth), Some((merchant, env)), now).await
}

/// Ids of working keys due for rotation (of one merchant and environment,
/// or of everyone), oldest first.
async fn due_key_ids(
    store: &Store,
    age: &KeyAge,
    owner: Option<(&MerchantId, Environment)>,
    now: i64,
) -> StoreResult<Vec<String>> {
    // An empty merchant or environment matches every one.
    let (merchant, env) = owner.map_or(("", ""), |(m, e)| (m.as_str(), e.as_str()));
    let query = sqlx::query_scalar::<_, String>(
        "SELECT id FROM api_keys WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1) \
         AND created_at <= $2 AND created_at > $3 AND ($4 = '' OR merchant_id = $4) AND ($5 = '' OR env = $5) \
         ORDER BY created_at",
    )
    .bind(now)
    .bind(now - age.rotation_secs)
    .bind(age.oldest_allowed(now))
    .bind(merchant)
    .bind(env);
    Ok(query.fetch_all(store.pool()).await?)
}

/// Raises `key_rotation_due` for every working key due for rotation that
/// was not alerted about in the last week. The claim on a key (its
/// `rotation_alerted_at`) and its alert commit together, so instances that
/// run this at once still alert once. Returns how many alerts were raised.
pub async fn alert_due(store: &Store, auth: &AuthConfig, now: i64) -> StoreResult<u64> {
    let age = KeyAge::from_config(auth);
    let mut raised = 0;
    for id in due_key_ids(store, &age, None, now).await? {
        let mut tx = store.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE api_keys SET rotation_alerted_at = $1 WHERE id = $2 \
             AND (rotation_alerted_at IS NULL OR rotation_alerted_at <= $3) \
             RETURNING merchant_id, env, prefix, created_at",
        )
        .bind(now)
        .bind(&id)
        .bind(now - ALERT_EVERY_SECS)
        .fetch_optional(tx.conn())
        .await?;
        let Some(row) = claimed else {
            continue;
        };
        let merchant: String = row.try_get("merchant_id")?;
        let env: String = row.try_get("env")?;
        let created_at: i64 = row.try_get("created_at")?;
        let merchant = MerchantId::parse(&merchant).map_err(|_| corrupt("api_keys.merchant_id"))?;
        let env = Environment::parse(&env).ok_or_else(|| corrupt("api_keys.env"))?;
        let alert = Alert {
            merchant: &merchant,
            env,
            kind: ALERT_KIND,
            actor: "paygate",
            ip: None,
            details: json!({
                "key_id": id,
                "prefix": row.try_get::<String, _>("prefix")?,
                "created_at": crate::clock::rfc3339(created_at),
                "age_days": (now - created_at) / DAY_SECS,
                "rotation_days": age.rotation_secs / DAY_SECS,
            }),
        };
        alerts::raise(tx.conn(), alert, now).await?;
        tx.commit().await?;
        raised += 1;
    }
    Ok(raised)
}

fn corrupt(what: &str) -> crate::store::StoreError {
    crate::store::StoreError::Corrupt(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_and_maximum_age_count_whole_days_from_creation() {
        let auth = AuthConfig {
            key_rotation_days: 90,
            key_max_age_days: Some(120),
            ..AuthConfig::default()
        };
        let age = KeyAge::from_config(&auth);
        let made = 1_000_000;
        assert!(!age.rotation_due(made, made + 90 * DAY_SECS - 1));
        assert!(age.rotation_due(made, made + 90 * DAY_SECS));
        assert!(!age.too_old(made, made + 120 * DAY_SECS - 1));
        assert!(age.too_old(made, made + 120 * DAY_SECS));
        let off = KeyAge::from_config(&AuthConfig::default());
        assert!(!off.too_old(made, made + 10_000 * DAY_SECS));
        assert_eq!(off.oldest_allowed(made), i64::MIN);
    }
}
