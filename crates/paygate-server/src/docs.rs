//! `/docs/errors`: the error catalog, every code with its cause and fix, as
//! HTML (each code has an anchor matching the problem `type`) or JSON.

use axum::response::{Html, IntoResponse, Response};
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use http::{HeaderMap, HeaderValue};
use paygate_proto::ErrorCode;
use serde_json::json;

pub async fn errors(headers: HeaderMap) -> Response {
    let wants_json = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json"));
    let mut response = if wants_json {
        catalog_json().into_response()
    } else {
        Html(catalog_html()).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

fn catalog_json() -> axum::Json<serde_json::Value> {
    let codes: Vec<_> = ErrorCode::ALL
        .iter()
        .map(|c| json!({"code": c.as_str(), "status": c.status(), "title": c.title(), "cause": c.cause(), "fix": c.fix()}))
        .collect();
    axum::Json(json!({ "errors": codes }))
}

fn catalog_html() -> String {
    let mut rows = String::new();
    for code in ErrorCode::ALL {
        rows.push_str(&format!(
            "<section id=\"{id}\"><h2><code>{id}</code> <small>{status} · {title}</small></h2>\
             <p><strong>Cause.</strong> {cause}</p><p><strong>Fix.</strong> {fix}</p></section>\n",
            id = code.as_str(),
            status = code.status(),
            title = escape(code.title()),
            cause = escape(code.cause()),
            fix = escape(code.fix()),
        ));
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Paygate error codes</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}}\
         section{{border-top:1px solid #ddd;padding:.5rem 0}}small{{color:#555;font-weight:normal}}code{{background:#f4f4f4;padding:0 .25rem}}</style>\
         </head><body><h1>Paygate error codes</h1><p>Every error is <code>application/problem+json</code> with a stable \
         <code>code</code> and a <code>request_id</code> to quote when asking for help.</p>\n{rows}</body></html>"
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "")
}
