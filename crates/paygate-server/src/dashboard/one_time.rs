//! One-time codes (docs/api.md section 11): what a signed-in person types to
//! confirm a payout approval, a password change or another sensitive act.
//!
//! With TOTP 2FA on, the authenticator's current code serves (accepted once,
//! like at sign-in). Otherwise [`send`] emails a 6-digit code, valid for 10
//! minutes, for one purpose only; it is stored keyed-hashed, compared in
//! constant time, used once, and void after [`MAX_ATTEMPTS`] wrong tries.
//! Every wrong code also counts towards the account's sign-in lockout, and a
//! locked account's codes are refused, so guessing is bounded either way.

use std::net::IpAddr;

use rand::Rng as _;
use serde_json::json;
use sqlx::Row as _;
use subtle::ConstantTimeEq as _;

use super::accounts::record_failure;
use super::mail;
use super::second_factor::{accept_totp, keyed_hash};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::store::dashboard::UserRecord;

pub const CODE_TTL_SECS: i64 = 10 * 60;
pub const MAX_ATTEMPTS: i64 = 5;
const HASH_PURPOSE: &str = "dashboard one-time codes v1";

/// What a code confirms; a code made for one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PayoutApproval,
    PasswordChange,
    Lockdown,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::PayoutApproval => "payout_approval",
            Purpose::PasswordChange => "password_change",
            Purpose::Lockdown => "lockdown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Purpose::PayoutApproval, Purpose::PasswordChange, Purpose::Lockdown]
            .into_iter()
            .find(|p| p.as_str() == text)
    }

    /// The words the email uses.
    fn describe(self) -> &'static str {
        match self {
            Purpose::PayoutApproval => "approve or reject a withdrawal",
            Purpose::PasswordChange => "change your password",
            Purpose::Lockdown => "lock down your account",
        }
    }
}

/// How the person gets their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A code was emailed.
    Email,
    /// 2FA is on: the authenticator app's code serves, nothing was sent.
    Authenticator,
}

fn hash(state: &AppState, id: &str, code: &str) -> String {
    keyed_hash(state, HASH_PURPOSE, &format!("{id}:{code}"))
}

/// Emails a fresh code for `purpose` (an earlier unused one for it ends),
/// unless 2FA is on, when the authenticator serves instead.
pub async fn send(state: &AppState, user: &UserRecord, purpose: Purpose) -> ApiResult<Channel> {
    if user.totp_enabled {
        return Ok(Channel::Authenticator);
    }
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let id = ids::new_id("otc");
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    sqlx::query("UPDATE one_time_codes SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL")
        .bind(now)
        .bind(&user.id)
        .bind(purpose.as_str())
        .execute(tx.conn())
        .await?;
    sqlx::query(
        "INSERT INTO one_time_codes (id, user_id, purpose, code_hash, attempts, expires_at) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(purpose.as_str())
    .bind(hash(state, &id, &code))
    .bind(now + CODE_TTL_SECS)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    let body = format!(
        "Your Paygate code to {} is:\n\n    {code}\n\nIt works once, for the next 10 minutes.\n\
         If you did not ask for it, someone may know your password: change it now.\n",
        purpose.describe()
    );
    mail::send(state, &user.email, "Your Paygate confirmation code", body)
        .await
        .map_err(ApiError::internal)?;
    Ok(Channel::Email)
}

/// Whether `code` confirms `purpose` for `user` now: the authenticator's
/// code when 2FA is on, else the latest emailed code for that purpose. A
/// code is consumed when accepted. A wrong code is audited and counts
/// towards the lockout.
pub async fn verify(state: &AppState, user: &UserRecord, purpose: Purpose, code: &str, ip: IpAddr) -> ApiResult<bool> {
    let code = code.trim();
    let locked = user.locked_until.is_some_and(|until| until > state.now());
    let accepted = !locked
        && if user.totp_enabled {
            accept_totp(state, user, code).await?
        } else {
            accept_emailed(state, user, purpose, code).await?
        };
    if !accepted {
        record_failure(state, user, ip, "dashboard.one_time_code", "wrong_code").await?;
        return Ok(false);
    }
    let mut tx = state.store().begin_write().await?;
    let entry = AuditEntry::new("dashboard.one_time_code", Outcome::Success)
        .merchant(&user.merchant_id, paygate_proto::Environment::Test)
        .actor(&user.email)
        .ip(ip)
        .details(json!({ "purpose": purpose.as_str() }));
    audit::record(tx.conn(), &entry, state.now()).await?;
    tx.commit().await?;
    Ok(true)
}

async fn accept_emailed(state: &AppState, user: &UserRecord, purpose: Purpose, code: &str) -> ApiResult<bool> {
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let row = sqlx::query(
        "SELECT id, code_hash FROM one_time_codes WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL \
         AND expires_at > $3 AND attempts < $4 ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(&user.id)
    .bind(purpose.as_str())
    .bind(now)
    .bind(MAX_ATTEMPTS)
    .fetch_optional(tx.conn())
    .await?;
    let Some(row) = row else { return Ok(false) };
    let id: String = row.try_get("id")?;
    let stored: String = row.try_get("code_hash")?;
    let matches = bool::from(hash(state, &id, code).as_bytes().ct_eq(stored.as_bytes()));
    let changed = if matches {
        sqlx::query("UPDATE one_time_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(&id)
            .execute(tx.conn())
            .await?
    } else {
        sqlx::query("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1")
            .bind(&id)
            .execute(tx.conn())
            .await?
    };
    tx.commit().await?;
    Ok(matches && changed.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::Purpose;

    #[test]
    fn purposes_round_trip_and_unknown_ones_are_refused() {
        for purpose in [Purpose::PayoutApproval, Purpose::PasswordChange, Purpose::Lockdown] {
            assert_eq!(Purpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(Purpose::parse("anything"), None);
    }
}
