//! The hosted checkout page `/pay/{id}`: static HTML, the browser SDK and
//! the page's script, all from this server, under a CSP that allows no
//! inline script or style and connections to this origin only.

use axum::extract::Path;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use paygate_proto::ErrorCode;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::app::AppState;
use crate::http::ApiError;

pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/pay/{id}", get(page))
        .route(
            "/pay/static/paygate.js",
            get(|| asset("text/javascript", include_str!("../../../../sdk/js/src/paygate.js"))),
        )
        .route(
            "/pay/static/checkout.js",
            get(|| asset("text/javascript", include_str!("checkout.js"))),
        )
        .route(
            "/pay/static/checkout.css",
            get(|| asset("text/css", include_str!("checkout.css"))),
        )
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
        ))
}

/// The page is the same for every session: the session's values reach the
/// script through the URL fragment, and the id only has to look like one.
async fn page(Path(id): Path<String>) -> Response {
    let plausible =
        id.starts_with("cs_") && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !plausible {
        return ApiError::new(ErrorCode::NotFound).into_response();
    }
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], include_str!("page.html")).into_response()
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "public, max-age=300")],
        body,
    )
        .into_response()
}
