//! Who is calling: the credential check that every merchant route goes
//! through, producing a verified [`Caller`] for the handler.

mod api_key;
mod caller;

pub use caller::Caller;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use paygate_proto::{headers, ErrorCode};

use crate::app::AppState;
use crate::http::{ApiError, ClientIp};

/// Middleware for merchant routes: verifies the credentials and stores the
/// `Caller` in the request for the handler.
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Result<Response, ApiError> {
    let client_ip = req
        .extensions()
        .get::<ClientIp>()
        .copied()
        .ok_or_else(|| ApiError::internal("client ip missing"))?;
    let headers = req.headers();
    let api_key = headers
        .get(headers::API_KEY)
        .or_else(|| headers.get(headers::API_KEY_ALIAS));
    let bearer = headers.get(http::header::AUTHORIZATION);
    let caller = match (api_key, bearer) {
        (Some(_), Some(_)) => return Err(ApiError::new(ErrorCode::AmbiguousCredentials)),
        (None, None) => return Err(ApiError::new(ErrorCode::MissingCredentials)),
        // No access token can be valid until token exchange exists.
        (None, Some(_)) => return Err(ApiError::new(ErrorCode::InvalidToken)),
        (Some(key), None) => api_key::verify(&state, key, headers, client_ip.0).await?,
    };
    req.extensions_mut().insert(caller);
    Ok(next.run(req).await)
}
