//! The client's IP address: the TCP peer, or the address a trusted proxy
//! reports in `X-Forwarded-For`. Headers from anyone else are ignored.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{FromRequestParts, Request};
use http::request::Parts;
use http::HeaderMap;
use paygate_proto::ErrorCode;

use super::error::ApiError;

/// The peer of the connection, set by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client IP as this server trusts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Resolves the client IP: the peer unless the peer is a trusted proxy, in
/// which case the right-most `X-Forwarded-For` entry that is not itself a
/// trusted proxy.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, is_trusted: impl Fn(IpAddr) -> bool) -> IpAddr {
    if !is_trusted(peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

/// Canonical form: IPv4-mapped IPv6 addresses become IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .ok_or_else(|| ApiError::internal("client ip missing"))
    }
}

/// Sets `ClientIp` on the request; with TLS off, refuses anything that did
/// not come through a trusted proxy over HTTPS.
pub fn assign(req: &mut Request, tls_off: bool, is_trusted: impl Fn(IpAddr) -> bool) -> Result<(), ApiError> {
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map(|p| canonical(p.0.ip()))
        .ok_or_else(|| ApiError::internal("peer address missing"))?;
    if tls_off {
        let https = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        if !is_trusted(peer) || !https {
            return Err(ApiError::new(ErrorCode::HttpsRequired));
        }
    }
    let ip = canonical(resolve(peer, req.headers(), &is_trusted));
    req.extensions_mut().insert(ClientIp(ip));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("x-forwarded-for", xff.parse().unwrap());
        map
    }

    #[test]
    fn forwarded_for_counts_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let trusted = |ip: IpAddr| ip == proxy;
        let untrusted: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(untrusted, &headers("1.2.3.4"), trusted), untrusted);
        assert_eq!(
            resolve(proxy, &headers("6.6.6.6, 1.2.3.4"), trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            resolve(proxy, &headers("1.2.3.4, 10.0.0.1"), trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(resolve(proxy, &headers("garbage"), trusted), proxy);
    }

    #[test]
    fn mapped_addresses_are_canonical() {
        assert_eq!(
            canonical("::ffff:127.0.0.2".parse().unwrap()),
            "127.0.0.2".parse::<IpAddr>().unwrap()
        );
    }
}
