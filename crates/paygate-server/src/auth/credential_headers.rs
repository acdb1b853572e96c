//! Credential headers, each at most once: a request that names its key, its
//! token, its merchant, its secret, its session, its timestamp or its
//! signature twice (or a key under both of its names) is refused with
//! `400 ambiguous_credentials` before any of them is read, so a proxy and
//! the server can never disagree about who is calling.

use http::{HeaderMap, HeaderValue};
use paygate_proto::{headers, ErrorCode};

use crate::http::ApiError;

/// The headers of a merchant's server request that may appear once; the
/// API key's two names count as one header.
const MERCHANT: &[&[&str]] = &[
    &[headers::API_KEY, headers::API_KEY_ALIAS],
    &["authorization"],
    &[headers::MERCHANT_ID],
    &[headers::API_SECRET],
    &[headers::SESSION_ID],
    &[headers::TIMESTAMP],
    &[headers::SIGNATURE],
];

/// The headers of a payor's (browser) request that may appear once.
const PAYOR: &[&[&str]] = &[&[headers::SESSION_TOKEN], &[headers::TIMESTAMP], &[headers::SIGNATURE]];

/// `400 ambiguous_credentials` when a merchant credential header is sent
/// more than once, or the API key under both of its names.
pub fn check_merchant(map: &HeaderMap) -> Result<(), ApiError> {
    check(map, MERCHANT)
}

/// The same rule for the headers a payor's browser sends.
pub fn check_payor(map: &HeaderMap) -> Result<(), ApiError> {
    check(map, PAYOR)
}

fn check(map: &HeaderMap, groups: &[&[&str]]) -> Result<(), ApiError> {
    for group in groups {
        let count: usize = group.iter().map(|name| map.get_all(*name).iter().count()).sum();
        if count > 1 {
            return Err(ambiguous(group[0]));
        }
    }
    Ok(())
}

fn ambiguous(name: &str) -> ApiError {
    ApiError::new(ErrorCode::AmbiguousCredentials).with_detail(format!(
        "The `{name}` header was sent more than once (or under both of its names): send each credential once."
    ))
}

/// The one value of the API key, under either of its names.
pub fn api_key(map: &HeaderMap) -> Option<&HeaderValue> {
    map.get(headers::API_KEY).or_else(|| map.get(headers::API_KEY_ALIAS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn one_of_each_passes_and_any_repeat_is_ambiguous() {
        let all = [
            ("x-api-key", "a"),
            ("x-merchant-id", "m"),
            ("x-api-secret", "s"),
            ("x-session-id", "i"),
            ("x-timestamp", "1"),
            ("x-signature", "f"),
        ];
        assert!(check_merchant(&map(&all)).is_ok());
        for (name, value) in all {
            let mut twice = map(&all);
            twice.append(name, HeaderValue::from_static(value));
            let err = check_merchant(&twice).unwrap_err();
            assert_eq!(err.code(), ErrorCode::AmbiguousCredentials, "{name}");
        }
        let both_names = map(&[("x-api-key", "a"), ("apikey", "b")]);
        assert_eq!(
            check_merchant(&both_names).unwrap_err().code(),
            ErrorCode::AmbiguousCredentials
        );
        let two_bearers = map(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert!(check_merchant(&two_bearers).is_err());
        let two_tokens = map(&[("x-session-token", "a"), ("x-session-token", "b")]);
        assert!(check_payor(&two_tokens).is_err());
    }
}
