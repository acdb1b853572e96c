//! Creating merchants.

use paygate_proto::{credentials::is_country_code, MerchantId};
use rand::rngs::OsRng;

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

/// Creates a merchant with a fresh ID in `country`.
pub async fn create_merchant(store: &Store, country: &str, email: &str, now: i64) -> Result<MerchantId, MerchantError> {
    let country = country.trim().to_ascii_uppercase();
    if !is_country_code(&country) {
        return Err(MerchantError::Country);
    }
    let email = email.trim();
    if !looks_like_email(email) {
        return Err(MerchantError::Email);
    }
    // 36^6 IDs per country: retry the rare collision instead of failing.
    let mut last_error = None;
    for _ in 0..5 {
        let id = MerchantId::generate(&country, &mut OsRng).map_err(|_| MerchantError::Country)?;
        match store.insert_merchant(&id, &country, email, now).await {
            Ok(()) => return Ok(id),
            Err(err) => last_error = Some(err),
        }
    }
    Err(last_error.map(MerchantError::Store).unwrap_or(MerchantError::Country))
}

pub(crate) fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_shapes() {
        assert!(super::looks_like_email("finance@example.com"));
        for bad in ["", "a", "a@b", "@b.com", "a@.com", "a b@c.com"] {
            assert!(!super::looks_like_email(bad), "{bad}");
        }
    }
}
