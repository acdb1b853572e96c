//! The per-IP tiers of docs/api.md section 5 and the routes they cover, and the
//! client key they count under (IPv6 per /64).

use std::net::IpAddr;

use http::Method;

use crate::config::{Limit, RateLimits};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Dashboard login, registration, password reset, 2FA verify.
    Auth,
    /// Withdrawal create, approve, reject.
    Financial,
    /// `POST /v1/wallet/generate`.
    Wallet,
    /// Every other `/v1` route.
    Standard,
    /// `/dashboard` pages.
    Dashboard,
    /// Payor routes and hosted pages.
    Public,
}

impl Tier {
    pub const fn name(self) -> &'static str {
        match self {
            Tier::Auth => "auth",
            Tier::Financial => "financial",
            Tier::Wallet => "wallet",
            Tier::Standard => "standard",
            Tier::Dashboard => "dashboard",
            Tier::Public => "public",
        }
    }

    pub fn limit(self, limits: &RateLimits) -> Limit {
        match self {
            Tier::Auth => limits.auth,
            Tier::Financial => limits.financial,
            Tier::Wallet => limits.wallet,
            Tier::Standard => limits.standard,
            Tier::Dashboard => limits.dashboard,
            Tier::Public => limits.public,
        }
    }
}

/// Dashboard forms that sign in, check a password, or send mail: the `auth`
/// tier when posted. (Payout decisions are daily work; their wrong codes are
/// bounded by the per-code attempts and the account lockout.)
const DASHBOARD_AUTH_PAGES: &[&str] = &[
    "/dashboard/login",
    "/dashboard/register",
    "/dashboard/password",
    "/dashboard/codes",
    "/dashboard/security/password",
    "/dashboard/security/2fa",
    "/dashboard/security/lockdown",
];

fn under(path: &str, prefix: &str) -> bool {
    path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// The tier of a route, or `None` for what is never limited (`/healthz`,
/// `/readyz`, the error catalog, the JWK set).
pub fn classify(method: &Method, path: &str) -> Option<Tier> {
    if under(path, "/dashboard") {
        let is_auth = DASHBOARD_AUTH_PAGES.iter().any(|page| under(path, page));
        return Some(if is_auth && method == Method::POST {
            Tier::Auth
        } else {
            Tier::Dashboard
        });
    }
    if under(path, "/pay") || under(path, "/v1/payor") || path == "/v1/leaked-keys" {
        return Some(Tier::Public);
    }
    if !under(path, "/v1") {
        return None;
    }
    if method == Method::POST {
        if path == "/v1/wallet/generate" {
            return Some(Tier::Wallet);
        }
        if path == "/v1/withdrawal-requests" {
            return Some(Tier::Financial);
        }
        if let Some(rest) = path.strip_prefix("/v1/withdrawal-requests/") {
            if rest.ends_with("/approve") || rest.ends_with("/reject") {
                return Some(Tier::Financial);
            }
        }
    }
    Some(Tier::Standard)
}

/// What a client is counted as: its IPv4 address, or its IPv6 /64 (the
/// same bucket the connection caps count), as a limiter key.
pub fn client_bucket(ip: IpAddr) -> String {
    match crate::http::connections::client_bucket(ip) {
        IpAddr::V6(network) => format!("{network}/64"),
        v4 => v4.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_their_tiers() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(classify(&get, "/healthz"), None);
        assert_eq!(classify(&get, "/.well-known/jwks.json"), None);
        assert_eq!(classify(&get, "/v1/balance"), Some(Tier::Standard));
        assert_eq!(classify(&post, "/v1/auth/token"), Some(Tier::Standard));
        assert_eq!(classify(&post, "/v1/wallet/generate"), Some(Tier::Wallet));
        assert_eq!(classify(&post, "/v1/withdrawal-requests"), Some(Tier::Financial));
        assert_eq!(
            classify(&post, "/v1/withdrawal-requests/wd_1/approve"),
            Some(Tier::Financial)
        );
        assert_eq!(
            classify(&post, "/v1/withdrawal-requests/wd_1/reject"),
            Some(Tier::Financial)
        );
        assert_eq!(classify(&get, "/v1/withdrawal-requests"), Some(Tier::Standard));
        assert_eq!(classify(&post, "/dashboard/login"), Some(Tier::Auth));
        assert_eq!(classify(&post, "/dashboard/password/forgot"), Some(Tier::Auth));
        assert_eq!(classify(&post, "/dashboard/codes"), Some(Tier::Auth));
        // Approving many payouts is daily work; wrong codes are bounded by the lockout.
        assert_eq!(
            classify(&post, "/dashboard/withdrawals/wd_1/decide"),
            Some(Tier::Dashboard)
        );
        assert_eq!(classify(&post, "/dashboard/api-keys"), Some(Tier::Dashboard));
        for public in [
            "/v1/payor/session",
            "/v1/payor/session/pay",
            "/v1/payor/session/realtime",
            "/v1/leaked-keys",
            "/pay/cs_1",
        ] {
            assert_eq!(classify(&post, public), Some(Tier::Public), "{public}");
        }
        assert_eq!(classify(&get, "/dashboard/login"), Some(Tier::Dashboard));
        assert_eq!(classify(&get, "/dashboard/payments"), Some(Tier::Dashboard));
        assert_eq!(classify(&post, "/v1/payor/session/pay"), Some(Tier::Public));
        assert_eq!(classify(&get, "/pay/cs_1"), Some(Tier::Public));
        assert_eq!(classify(&get, "/v1x"), None);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_bucket(a), client_bucket(b));
        assert_ne!(client_bucket(a), client_bucket(c));
        assert_eq!(client_bucket("127.0.0.2".parse().unwrap()), "127.0.0.2");
    }
}
