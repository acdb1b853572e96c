//! The rate-limit headers of docs/api.md section 5, in both forms: the IETF
//! draft's structured fields and the widely deployed triple.

use axum::response::Response;
use http::{HeaderName, HeaderValue};

use super::Decision;

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// Whole seconds to wait before a retry succeeds: at least 1, rounded up,
/// so a retry at that moment finds a free slot.
pub fn retry_after_secs(decision: &Decision) -> u64 {
    ceil_secs(decision.retry_after_ms).max(1)
}

/// Adds the headers describing `decision`'s tightest limit to `response`.
pub fn apply(response: &mut Response, decision: &Decision) {
    let Some((name, usage)) = decision.tightest() else {
        return;
    };
    let reset = if usage.refused {
        ceil_secs(usage.retry_ms).max(1)
    } else {
        ceil_secs(usage.reset_ms)
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set(
        "ratelimit-policy",
        format!("\"{name}\";q={};w={}", usage.limit, usage.window_secs),
    );
    set("ratelimit", format!("\"{name}\";r={};t={reset}", usage.remaining));
    set("ratelimit-limit", usage.limit.to_string());
    set("ratelimit-remaining", usage.remaining.to_string());
    set("ratelimit-reset", reset.to_string());
    if !decision.allowed {
        set("retry-after", retry_after_secs(decision).to_string());
    }
}
