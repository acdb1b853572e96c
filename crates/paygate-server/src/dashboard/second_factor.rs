//! TOTP two-factor authentication (RFC 6238: SHA-1, 6 digits, 30 s):
//! enrolment by QR code with the key also shown as text, confirmation by a
//! first code, recovery codes shown once, and each code accepted only once.

use axum::extract::State;
use axum::response::{IntoResponse as _, Redirect, Response};
use axum::Form;
use hmac::{Hmac, Mac};
use paygate_proto::credentials::generate_opaque_token;
use qrcode::render::svg;
use qrcode::QrCode;
use rand::RngCore as _;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use totp_rs::{Algorithm, Secret, TOTP};

use super::pages::{render, Frame, RecoveryCodesPage, TotpSetupPage};
use super::session::{CsrfToken, SignedIn};
use crate::app::AppState;
use crate::audit::{self, AuditEntry, Outcome};
use crate::http::{ApiError, ApiResult, ClientIp};
use crate::store::dashboard::UserRecord;

const STEP_SECS: u64 = 30;
const RECOVERY_CODES: usize = 10;

fn seed_context(user_id: &str) -> String {
    format!("totp:{user_id}")
}

fn totp(seed: &[u8]) -> Result<TOTP, ApiError> {
    TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, seed.to_vec()).map_err(|e| ApiError::internal(format!("totp: {e:?}")))
}

/// The time step a code matches (the current one or either neighbour), if any.
fn matching_step(seed: &[u8], code: &str, now: i64) -> Result<Option<i64>, ApiError> {
    let totp = totp(seed)?;
    let now = u64::try_from(now).unwrap_or(0);
    let current = now / STEP_SECS;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            return Ok(i64::try_from(step).ok());
        }
    }
    Ok(None)
}

fn recovery_hash(state: &AppState, code: &str) -> String {
    keyed_hash(state, "dashboard recovery codes v1", &code.to_ascii_lowercase())
}

/// HMAC-SHA-256 of `text` under a key derived from the master key for
/// `purpose`, hex: how short codes are stored (a leaked table cannot be
/// brute-forced without the master key).
pub(super) fn keyed_hash(state: &AppState, purpose: &str, text: &str) -> String {
    let key = state.master_key().derive(purpose);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).unwrap_or_else(|_| unreachable_hmac());
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn is_totp_shaped(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a TOTP code newer than the last one accepted, and records it so
/// it is never accepted again.
pub(super) async fn accept_totp(state: &AppState, user: &UserRecord, code: &str) -> ApiResult<bool> {
    let Some(sealed) = user.totp.as_ref().filter(|_| user.totp_enabled && is_totp_shaped(code)) else {
        return Ok(false);
    };
    let seed = state.master_key().open(sealed, &seed_context(&user.id))?;
    let Some(step) = matching_step(&seed, code, state.now())? else {
        return Ok(false);
    };
    let mut tx = state.store().begin_write().await?;
    let updated = sqlx::query(
        "UPDATE dashboard_users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(&user.id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(updated.rows_affected() == 1)
}

#[allow(clippy::panic)]
fn unreachable_hmac() -> Hmac<Sha256> {
    panic!("HMAC accepts keys of any length")
}

/// Checks a sign-in code: a TOTP code newer than the last one accepted, or
/// an unused recovery code. Records the use.
pub async fn accept(state: &AppState, user: &UserRecord, code: &str) -> ApiResult<bool> {
    if is_totp_shaped(code) {
        return accept_totp(state, user, code).await;
    }
    let now = state.now();
    let mut tx = state.store().begin_write().await?;
    let used =
        sqlx::query("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .bind(now)
            .bind(&user.id)
            .bind(recovery_hash(state, code))
            .execute(tx.conn())
            .await?;
    tx.commit().await?;
    Ok(used.rows_affected() == 1)
}

/// Starts enrolment: a fresh seed, sealed and pending until confirmed.
pub async fn setup(State(state): State<AppState>, csrf: CsrfToken, signed_in: SignedIn) -> ApiResult<Response> {
    let user = &signed_in.user;
    if user.totp_enabled {
        return Ok(Redirect::to("/dashboard/security").into_response());
    }
    let mut seed = zeroize::Zeroizing::new([0u8; 20]);
    rand::rngs::OsRng.fill_bytes(seed.as_mut());
    let sealed = state.master_key().seal(seed.as_ref(), &seed_context(&user.id))?;
    let mut tx = state.store().begin_write().await?;
    sqlx::query(
        "UPDATE dashboard_users SET totp_key_id = $1, totp_sealed = $2 WHERE id = $3 AND totp_enabled_at IS NULL",
    )
    .bind(&sealed.key_id)
    .bind(&sealed.bytes)
    .bind(&user.id)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(setup_page(&csrf, user, seed.as_ref(), None))
}

fn setup_page(csrf: &CsrfToken, user: &UserRecord, seed: &[u8], error: Option<String>) -> Response {
    let secret_base32 = Secret::Raw(seed.to_vec()).to_encoded().to_string();
    let label: String = form_urlencoded::byte_serialize(format!("Paygate:{}", user.email).as_bytes()).collect();
    let url = format!("otpauth://totp/{label}?secret={secret_base32}&issuer=Paygate&algorithm=SHA1&digits=6&period=30");
    let qr_svg = QrCode::new(url.as_bytes())
        .map(|code| code.render::<svg::Color<'_>>().min_dimensions(200, 200).build())
        .map(|svg| svg.split_once("?>").map_or(svg.clone(), |(_, rest)| rest.to_owned()))
        .unwrap_or_default();
    render(&TotpSetupPage {
        frame: Frame {
            csrf: csrf.0.clone(),
            email: Some(user.email.clone()),
            error,
            ..Frame::default()
        },
        qr_svg,
        secret_base32,
    })
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    code: String,
}

/// Confirms enrolment with a first code; shows the recovery codes once.
pub async fn confirm(
    State(state): State<AppState>,
    csrf: CsrfToken,
    signed_in: SignedIn,
    ClientIp(ip): ClientIp,
    Form(form): Form<ConfirmForm>,
) -> ApiResult<Response> {
    let user = &signed_in.user;
    let Some(sealed) = user.totp.as_ref().filter(|_| !user.totp_enabled) else {
        return Ok(Redirect::to("/dashboard/security").into_response());
    };
    let seed = state.master_key().open(sealed, &seed_context(&user.id))?;
    let now = state.now();
    let Some(step) = matching_step(&seed, form.code.trim(), now)? else {
        return Ok(setup_page(
            &csrf,
            user,
            &seed,
            Some("That code is not valid. Enter the current code from your app.".into()),
        ));
    };
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw = generate_opaque_token("", &mut rand::rngs::OsRng);
            let text: String = raw
                .expose_secret()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(10)
                .collect();
            format!("{}-{}", &text[..5], &text[5..]).to_ascii_lowercase()
        })
        .collect();
    let mut tx = state.store().begin_write().await?;
    sqlx::query("UPDATE dashboard_users SET totp_enabled_at = $1, totp_last_step = $2 WHERE id = $3")
        .bind(now)
        .bind(step)
        .bind(&user.id)
        .execute(tx.conn())
        .await?;
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(&user.id)
        .execute(tx.conn())
        .await?;
    for code in &codes {
        sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(&user.id)
            .bind(recovery_hash(&state, code))
            .execute(tx.conn())
            .await?;
    }
    let entry = AuditEntry::new("dashboard.2fa_enabled", Outcome::Success)
        .merchant(&user.merchant_id, paygate_proto::Environment::Test)
        .actor(&user.email)
        .ip(ip);
    audit::record(tx.conn(), &entry, now).await?;
    tx.commit().await?;
    Ok(render(&RecoveryCodesPage {
        frame: Frame {
            csrf: csrf.0,
            email: Some(user.email.clone()),
            ..Frame::default()
        },
        codes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B, SHA-1 seed "12345678901234567890", T = 59 s: 94287082 (8 digits);
        // its last 6 digits are the 6-digit code.
        let seed = b"12345678901234567890";
        let step = matching_step(seed, "287082", 59).unwrap();
        assert_eq!(step, Some(1));
        assert_eq!(matching_step(seed, "000000", 59).unwrap(), None);
    }
}
