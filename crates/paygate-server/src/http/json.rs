//! `ApiJson<T>`: our JSON extractor, so every body rejection speaks the error
//! catalog: 415 for a non-JSON body, 413 over 1 MiB, `invalid_json` for bad
//! syntax, `validation_failed` naming the field for anything else, including
//! unknown fields (request types deny them).

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use paygate_proto::{ErrorCode, FieldError};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::ApiError;
use super::json_text;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request says its body is `application/json`.
pub fn is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The raw bytes of a JSON request body: 415 unless it is declared JSON,
/// 413 over the limit.
pub async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    Bytes::from_request(req, state)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))
}

/// Parses a JSON body into `T`, mapping failures to the catalog.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of the API is an object; serde would also read a
    // struct from an array of its fields in order, which no client means.
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            return Err(ApiError::field("", "the body must be a JSON object"))
        }
        Some(_) => return Err(ApiError::new(ErrorCode::InvalidJson)),
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::validation(vec![field_error(&path, &inner)]),
            _ => ApiError::new(ErrorCode::InvalidJson),
        }
    })?;
    deserializer.end().map_err(|_| ApiError::new(ErrorCode::InvalidJson))?;
    // No string of a request, key or value, may hold a control character.
    let tree: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| ApiError::new(ErrorCode::InvalidJson))?;
    if let Some(field) = json_text::control_character_at(&tree) {
        return Err(ApiError::field(field, "must not contain control characters"));
    }
    Ok(value)
}

fn field_error(path: &str, err: &serde_json::Error) -> FieldError {
    let message = err.to_string();
    // serde_path_to_error's path already ends with an unknown field's name.
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let field = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            path.to_owned()
        };
        return FieldError::new(field, "is not a known field");
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let field = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        return FieldError::new(field, "is required");
    }
    let message = json_text::human_message(&message);
    let field = if path == "." { String::new() } else { path.to_owned() };
    FieldError::new(field, message)
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        amount: u64,
        currency: String,
    }

    #[test]
    fn failures_map_to_the_catalog() {
        assert_eq!(parse_json::<Body>(b"{").unwrap_err().code(), ErrorCode::InvalidJson);
        assert_eq!(
            parse_json::<Body>(b"{\"amount\":1,\"currency\":\"USD\"} x")
                .unwrap_err()
                .code(),
            ErrorCode::InvalidJson
        );
        let err = parse_json::<Body>(br#"{"amount":1,"currency":"USD","extra":1}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::ValidationFailed);
        assert_eq!(err.errors[0].field, "extra");
        let err = parse_json::<Body>(br#"{"amount":"x","currency":"USD"}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "amount");
        let err = parse_json::<Body>(br#"{"amount":1}"#).unwrap_err();
        assert_eq!(err.errors[0].field, "currency");
        assert_eq!(err.errors[0].message, "is required");
        let err = parse_json::<Body>(br#"{"amount":"1","currency":"USD"}"#).unwrap_err();
        assert_eq!(err.errors[0].message, "must be a whole number, 0 or more");
        let err = parse_json::<Body>(br#"{"amount":1,"currency":"US\u0000D"}"#).unwrap_err();
        assert_eq!(
            (err.errors[0].field.as_str(), err.code()),
            ("currency", ErrorCode::ValidationFailed)
        );
        assert!(parse_json::<Body>(br#"{"amount":1,"currency":"USD"}"#).is_ok());
    }
}
