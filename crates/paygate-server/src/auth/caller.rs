//! The verified caller a handler receives.

use axum::extract::FromRequestParts;
use http::request::Parts;
use paygate_proto::{scopes, Environment, ErrorCode, MerchantId, Scope};

use crate::http::ApiError;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    ApiKey,
    Token,
}

/// A merchant's server, verified: every store call takes its merchant and
/// environment, so one tenant cannot reach another's data.
#[derive(Debug, Clone)]
pub struct Caller {
    pub merchant_id: MerchantId,
    pub env: Environment,
    /// The key behind the request (for a token: the key it was made from).
    pub key_id: String,
    /// Masked, safe to log: `sk_test_AbCd…wxyz`.
    pub key_prefix: String,
    pub scopes: Vec<Scope>,
    /// Whether the request proved the API secret (header or signature).
    pub secret_verified: bool,
    pub credential: Credential,
    /// The session of a token.
    pub session_id: Option<String>,
    /// Whether the request carried a valid signature.
    pub signed: bool,
}

impl Caller {
    /// `403 insufficient_scope` unless the key holds `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if scopes::allows(&self.scopes, scope) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::InsufficientScope)
                .with_detail(format!("This key lacks the `{}` scope.", scope.as_str())))
        }
    }

    /// `403 insufficient_scope` unless every scope of `requested` lies
    /// within the key's own: a key may create or roll only keys no broader
    /// than itself (a `*` key may grant any).
    pub fn require_within(&self, requested: &[Scope]) -> Result<(), ApiError> {
        if scopes::within(&self.scopes, requested) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::InsufficientScope)
                .with_detail("A key may create or roll only keys whose scopes lie within its own."))
        }
    }

    /// `401 api_secret_required` unless the request proved the API secret.
    pub fn require_secret(&self) -> Result<(), ApiError> {
        if self.secret_verified {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::ApiSecretRequired))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("route is missing authentication"))
    }
}
