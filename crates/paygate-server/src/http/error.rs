//! `ApiError`: the one error type handlers return. It carries a code from the
//! catalog; the response layer renders it as problem+json with the request id
//! and logs the cause of a 5xx under that id (never in the body).

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use paygate_proto::{ErrorCode, FieldError};

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    pub(crate) code: ErrorCode,
    pub(crate) detail: Option<String>,
    pub(crate) errors: Vec<FieldError>,
    /// Internal cause, logged with the request id; never sent.
    pub(crate) cause: Option<String>,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            errors: Vec::new(),
            cause: None,
            retry_after: None,
        }
    }

    /// A specific, safe detail for the caller (never secrets or internals).
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors,
            ..Self::new(ErrorCode::ValidationFailed)
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    /// An unexpected failure: the caller sees an opaque 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self {
            cause: Some(cause.to_string()),
            ..Self::new(ErrorCode::InternalError)
        }
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// What a person should read about a refusal (the detail, then each
    /// field's message); `None` for a failure of ours, which stays opaque.
    pub fn for_people(&self) -> Option<String> {
        if self.code.status() >= 500 {
            return None;
        }
        let mut text = self
            .detail
            .clone()
            .unwrap_or_else(|| self.code.default_detail().to_owned());
        for error in &self.errors {
            text.push_str(&format!(" {}: {}.", error.field, error.message));
        }
        Some(text)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        Self::internal(err)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        Self::internal(err)
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(err: crate::crypto::CryptoError) -> Self {
        Self::internal(err)
    }
}

/// Marks a response as an error to be rendered by the response layer.
#[derive(Debug, Clone)]
pub(crate) struct PendingProblem(pub Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(PendingProblem(Arc::new(self)));
        response
    }
}
