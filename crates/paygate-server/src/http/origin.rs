//! The https origin for links the server builds (mail, hosted pages):
//! `public_url`, or, in a sandbox, a loopback host the request came to.
//! Any other Host is never trusted, so a forged Host cannot poison a link.

use http::{HeaderMap, Uri};

pub fn public_base(public_url: &str, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    if !public_url.is_empty() {
        return Some(public_url.trim_end_matches('/').to_owned());
    }
    // HTTP/2 carries the host in the URI's authority, HTTP/1.1 in `Host`.
    let host = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(http::header::HOST).and_then(|h| h.to_str().ok())?,
    };
    let name = host.rsplit_once(':').map_or(host, |(name, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            name
        } else {
            host
        }
    });
    matches!(name, "localhost" | "127.0.0.1" | "[::1]").then(|| format!("https://{host}"))
}
