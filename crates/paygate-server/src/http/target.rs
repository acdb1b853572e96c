//! Request targets with control characters: a path whose decoded form holds
//! one names nothing (`404 not_found`), a query parameter holding one is
//! `400 validation_failed`. Checked before routing, for every route, so no
//! control character reaches a handler or a store (PostgreSQL refuses a NUL
//! in text, and would answer with an error rather than "no such object").

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use paygate_proto::ErrorCode;

use super::json_text::has_control;
use super::ApiError;

/// Middleware: refuses a target with a control character anywhere.
pub async fn refuse_control_characters(req: Request, next: Next) -> Response {
    match check(req.uri()) {
        Ok(()) => next.run(req).await,
        Err(err) => err.into_response(),
    }
}

fn check(uri: &http::Uri) -> Result<(), ApiError> {
    if has_control(&String::from_utf8_lossy(&percent_decode(uri.path().as_bytes()))) {
        return Err(ApiError::new(ErrorCode::NotFound));
    }
    let query = uri.query().unwrap_or_default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if has_control(&name) || has_control(&value) {
            let field: String = name.chars().filter(|c| !c.is_control()).collect();
            return Err(ApiError::field(field, "must not contain control characters"));
        }
    }
    Ok(())
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let pair = input.get(i + 1..i + 3).and_then(|p| Some(hex(p[0])? * 16 + hex(p[1])?));
        match (input[i], pair) {
            (b'%', Some(byte)) => {
                out.push(u8::try_from(byte).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(target: &str) -> Option<ErrorCode> {
        check(&target.parse().unwrap()).err().map(|e| e.code())
    }

    #[test]
    fn control_characters_in_the_target_are_refused() {
        assert_eq!(code("/v1/payments/pay_1?limit=2&cursor=abc%2Fd"), None);
        assert_eq!(code("/v1/payments/caf%C3%A9"), None);
        assert_eq!(code("/v1/payments/pay_%00"), Some(ErrorCode::NotFound));
        assert_eq!(code("/v1/payments/pay_%1b"), Some(ErrorCode::NotFound));
        assert_eq!(code("/v1/payments/pay_%C2%85"), Some(ErrorCode::NotFound));
        assert_eq!(code("/v1/payments?cursor=%00"), Some(ErrorCode::ValidationFailed));
        assert_eq!(code("/v1/payments?a%0A=1"), Some(ErrorCode::ValidationFailed));
        assert_eq!(code("/v1/payments/%"), None);
    }
}
