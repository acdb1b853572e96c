//! The rate-limit headers of API.md section 5, in both forms: the IETF
//! draft's structured fields and the widely deployed triple.

use axum::response::Response;
use http::{HeaderName, HeaderValue};

use super::{Decision, Usage};

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
    let Usage {
        limit,
        window_secs,
        remaining,
        reset_ms,
    } = usage;
    let reset = if decision.allowed {
        ceil_secs(reset_ms)
    } else {
        retry_after_secs(decision)
    };
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    set("ratelimit-policy", format!("\"{name}\";q={limit};w={window_secs}"));
    set("ratelimit", format!("\"{name}\";r={remaining};t={reset}"));
    set("ratelimit-limit", limit.to_string());
    set("ratelimit-remaining", remaining.to_string());
    set("ratelimit-reset", reset.to_string());
    if !decision.allowed {
        set("retry-after", retry_after_secs(decision).to_string());
    }
}
