//! Creating merchants, and the one check of an email address that every
//! sign-up path uses.

use paygate_proto::{credentials::is_country_code, MerchantId};
use rand::rngs::OsRng;
use sqlx::AnyConnection;

use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("country must be an ISO 3166-1 alpha-2 code such as ZA or US")]
    Country,
    #[error("email is not a valid address")]
    Email,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a merchant with a fresh ID in `country`, in a transaction of its own.
pub async fn create_merchant(store: &Store, country: &str, email: &str, now: i64) -> Result<MerchantId, MerchantError> {
    let mut tx = store.begin_write().await?;
    let id = create_merchant_in(tx.conn(), country, email, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// Creates a merchant with a fresh ID in `country`, in the caller's
/// transaction (so a sign-up writes its merchant and user together or not
/// at all).
pub async fn create_merchant_in(
    conn: &mut AnyConnection,
    country: &str,
    email: &str,
    now: i64,
) -> Result<MerchantId, MerchantError> {
    let country = country.trim().to_ascii_uppercase();
    if !is_country_code(&country) {
        return Err(MerchantError::Country);
    }
    let email = email.trim();
    if parse_email(email).is_none() {
        return Err(MerchantError::Email);
    }
    // 36^6 IDs per country: draw again on the rare collision instead of failing.
    for _ in 0..5 {
        let id = MerchantId::generate(&country, &mut OsRng).map_err(|_| MerchantError::Country)?;
        if crate::store::merchants::insert_merchant_in(&mut *conn, &id, &country, email, now).await? {
            return Ok(id);
        }
    }
    Err(MerchantError::Store(StoreError::Corrupt(
        "no free merchant id after 5 draws".to_owned(),
    )))
}

/// A bare address (`local@domain`: no display name, no angle brackets, no
/// comment), as the mail library itself parses it, so an address accepted
/// here is one a message can always be built for. The domain must have a dot
/// and not be an address literal.
pub fn parse_email(email: &str) -> Option<lettre::Address> {
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let address: lettre::Address = email.parse().ok()?;
    let domain = address.domain();
    let dotted = domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains("..");
    (dotted && !domain.starts_with('[')).then_some(address)
}

/// Whether `email` is an address Paygate accepts (see [`parse_email`]).
pub(crate) fn looks_like_email(email: &str) -> bool {
    parse_email(email).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_shapes() {
        for good in [
            "finance@example.com",
            "a.b+tag@sub.example.co.za",
            "sandbox@localhost.localdomain",
        ] {
            assert!(super::looks_like_email(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a b@c.com",
            "a@b@example.com",
            "a,b@example.com",
            "a(b)@example.com",
            "a@example..com",
            "a:b@example.com",
            "\"a\"<victim@example.org>",
            "a <victim@example.org>",
            "<victim@example.org>",
            "a@[127.0.0.1]",
            "a\0@example.com",
        ] {
            assert!(!super::looks_like_email(bad), "{bad}");
        }
    }
}
