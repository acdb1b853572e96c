//! Routes that take no request body refuse a non-empty one (`400
//! validation_failed`), so a caller never believes fields were honoured that
//! no handler read. Which routes take a body is read from the OpenAPI
//! document (an operation with a `requestBody`), not from each handler: a
//! route that reads a body without documenting it is refused, which a test
//! notices at once, rather than a handler forgetting to refuse one.

use std::collections::HashSet;
use std::sync::LazyLock;

use axum::body::{to_bytes, Body, HttpBody as _};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::Method;
use paygate_proto::{ErrorCode, FieldError};

use super::json::BODY_LIMIT;
use super::ApiError;

/// Routes that read a body but are not in the merchant API's OpenAPI
/// document (the payor's browser routes).
const UNDOCUMENTED_BODIES: &[(&str, &str)] = &[("POST", "/v1/payor/session/pay")];

/// `(METHOD, path template)` of every operation that takes a body.
static TAKES_BODY: LazyLock<HashSet<(String, String)>> = LazyLock::new(|| {
    let mut set = crate::openapi::operations_with_body();
    set.extend(
        UNDOCUMENTED_BODIES
            .iter()
            .map(|(method, path)| ((*method).to_owned(), (*path).to_owned())),
    );
    set
});

/// Whether the route `path` (as routed, e.g. `/v1/payments/{id}`) takes a
/// body on `method`.
pub fn takes_body(method: &Method, path: &str) -> bool {
    TAKES_BODY.contains(&(method.as_str().to_owned(), path.to_owned()))
}

/// The refusal of a body sent to a route that takes none.
pub fn unexpected_body() -> ApiError {
    ApiError::validation(vec![FieldError::new("", "this route takes no request body; send none")])
        .with_detail("This route takes no request body.")
}

/// Route middleware: passes a request on unchanged when its route takes a
/// body; otherwise refuses one that carries any byte of body.
pub async fn refuse_unread_body(req: Request, next: Next) -> Response {
    let takes = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|path| takes_body(req.method(), path.as_str()));
    if takes || req.body().size_hint().exact() == Some(0) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::new(ErrorCode::PayloadTooLarge).into_response(),
    };
    if !bytes.is_empty() {
        return unexpected_body().into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}
