//! Key scopes (API.md section 3). `*` grants every scope.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "*")]
    All,
    #[serde(rename = "payments:read")]
    PaymentsRead,
    #[serde(rename = "payments:write")]
    PaymentsWrite,
    #[serde(rename = "payouts:write")]
    PayoutsWrite,
    #[serde(rename = "payouts:approve")]
    PayoutsApprove,
    #[serde(rename = "wallets:write")]
    WalletsWrite,
    #[serde(rename = "webhooks:manage")]
    WebhooksManage,
    #[serde(rename = "keys:manage")]
    KeysManage,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl Scope {
    pub const ALL: &'static [Scope] = &[
        Scope::All,
        Scope::PaymentsRead,
        Scope::PaymentsWrite,
        Scope::PayoutsWrite,
        Scope::PayoutsApprove,
        Scope::WalletsWrite,
        Scope::WebhooksManage,
        Scope::KeysManage,
        Scope::AuditRead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::All => "*",
            Scope::PaymentsRead => "payments:read",
            Scope::PaymentsWrite => "payments:write",
            Scope::PayoutsWrite => "payouts:write",
            Scope::PayoutsApprove => "payouts:approve",
            Scope::WalletsWrite => "wallets:write",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::KeysManage => "keys:manage",
            Scope::AuditRead => "audit:read",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.iter().copied().find(|s| s.as_str() == value)
    }
}

/// Whether `granted` allows `needed`.
pub fn allows(granted: &[Scope], needed: Scope) -> bool {
    granted.iter().any(|s| *s == Scope::All || *s == needed)
}

/// Whether every scope of `requested` lies within `granted`: `*` holds
/// every scope, and only `*` may grant `*`.
pub fn within(granted: &[Scope], requested: &[Scope]) -> bool {
    granted.contains(&Scope::All) || requested.iter().all(|s| *s != Scope::All && granted.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_grants_only_what_it_holds() {
        let manager = [Scope::KeysManage, Scope::PaymentsRead];
        assert!(within(&manager, &[Scope::PaymentsRead]));
        assert!(within(&manager, &[Scope::KeysManage, Scope::PaymentsRead]));
        assert!(!within(&manager, &[Scope::All]));
        assert!(!within(&manager, &[Scope::PayoutsApprove]));
        assert!(!within(&manager, &[Scope::PaymentsRead, Scope::PaymentsWrite]));
        assert!(within(&[Scope::All], &[Scope::All]));
        assert!(within(&[Scope::All], &[Scope::PayoutsApprove]));
    }
}
