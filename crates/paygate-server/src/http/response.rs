//! The outermost layer of every response: assigns the request id and client
//! IP, renders every error as problem+json (ours, axum's and tower's alike),
//! adds the security headers and writes one access-log line.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderName, HeaderValue, StatusCode};
use paygate_proto::{headers, ErrorCode, Problem};

use super::client_ip;
use super::error::{ApiError, PendingProblem};
use crate::ids;

/// The id of the request being served, for handlers and logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// What the outermost layer needs to know about the deployment.
#[derive(Debug, Clone)]
pub struct Transport {
    /// TLS is terminated in front of the server (`tls.mode = "off"`).
    pub tls_off: bool,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
}

pub async fn finish(State(transport): State<Transport>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = ids::request_id();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let trusted = |ip| {
        transport
            .trusted_proxies
            .iter()
            .any(|net: &ipnet::IpNet| net.contains(&ip))
    };
    let mut response = match client_ip::assign(&mut req, transport.tls_off, trusted) {
        Ok(()) => {
            req.extensions_mut().insert(RequestId(request_id.clone()));
            next.run(req).await
        }
        Err(err) => err.into_response(),
    };
    let error_code = render_problem(&mut response, &request_id);
    set_security_headers(&mut response, &request_id);
    crate::metrics::record_request(
        &route,
        method.as_str(),
        response.status().as_u16(),
        error_code.map(ErrorCode::as_str),
        started.elapsed(),
    );
    tracing::info!(
        target: "paygate::access",
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// Serves any connection that did not start a TLS handshake.
pub async fn https_required() -> Response {
    let mut response = ApiError::new(ErrorCode::HttpsRequired).into_response();
    let request_id = ids::request_id();
    let code = render_problem(&mut response, &request_id);
    crate::metrics::record_request(
        "plain_http",
        "-",
        400,
        code.map(ErrorCode::as_str),
        std::time::Duration::ZERO,
    );
    set_security_headers(&mut response, &request_id);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Renders a pending or foreign error as problem+json; returns its code.
fn render_problem(response: &mut Response, request_id: &str) -> Option<ErrorCode> {
    let pending = response.extensions_mut().remove::<PendingProblem>();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.as_bytes().to_vec())
        .unwrap_or_default();
    // Problem documents, and the dashboard's own HTML error pages, stay as they are.
    let is_problem =
        content_type.starts_with(headers::PROBLEM_CONTENT_TYPE.as_bytes()) || content_type.starts_with(b"text/html");
    let error = match pending {
        Some(PendingProblem(error)) => error,
        None if response.status().is_client_error() || response.status().is_server_error() => {
            if is_problem {
                return None;
            }
            std::sync::Arc::new(ApiError::new(code_for_status(response.status())))
        }
        None => return None,
    };
    if let Some(cause) = &error.cause {
        tracing::error!(request_id = %request_id, code = error.code.as_str(), cause = %cause, "request failed");
    }
    let mut problem = Problem::new(error.code, request_id);
    if let Some(detail) = &error.detail {
        problem.detail.clone_from(detail);
    }
    problem.errors.clone_from(&error.errors);
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    *response.status_mut() = StatusCode::from_u16(error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    *response.body_mut() = Body::from(body);
    let headers = response.headers_mut();
    headers.remove(http::header::CONTENT_LENGTH);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(headers::PROBLEM_CONTENT_TYPE));
    if let Some(secs) = error.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    Some(error.code)
}

/// The catalog code for a status produced outside our handlers.
fn code_for_status(status: StatusCode) -> ErrorCode {
    match status {
        StatusCode::NOT_FOUND => ErrorCode::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ErrorCode::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::TOO_MANY_REQUESTS => ErrorCode::RateLimited,
        StatusCode::SERVICE_UNAVAILABLE => ErrorCode::ServiceUnavailable,
        s if s.is_client_error() => ErrorCode::BadRequest,
        _ => ErrorCode::InternalError,
    }
}

fn set_security_headers(response: &mut Response, request_id: &str) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static(headers::REQUEST_ID), value);
    }
    headers.insert(
        http::header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000; includeSubDomains"),
    );
    headers.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    headers
        .entry(http::header::X_FRAME_OPTIONS)
        .or_insert(HeaderValue::from_static("DENY"));
    headers
        .entry(http::header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("no-referrer"));
    headers
        .entry(http::header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
}
