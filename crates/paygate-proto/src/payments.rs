//! Payments, test deposits, wallets and withdrawals on the wire
//! (docs/api.md section 8): request bodies and the objects the server returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::credentials::Environment;

/// `POST /v1/payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    pub amount: i64,
    pub currency: String,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Test mode only: confirms the payment at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<CardDetails>,
}

/// A card as a payor typed it. Its `Debug` never prints the number or CVC.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardDetails {
    pub number: String,
    pub exp_month: u32,
    pub exp_year: u32,
    pub cvc: String,
}

impl std::fmt::Debug for CardDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardDetails")
            .field("number", &"[redacted]")
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &"[redacted]")
            .finish()
    }
}

/// The card a payment was paid with: brand and last four digits only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CardSummary {
    pub brand: String,
    pub last4: String,
}

/// Where a crypto payment is paid to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CryptoTarget {
    /// `bitcoin`, or `ethereum` for USDC and USDT.
    pub network: String,
    pub address: String,
    /// `ethereum` only: the token contract whose `Transfer` to `address` pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_contract: Option<String>,
    /// `ethereum` only: blocks a transfer must be under before it counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmations_required: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub object: String,
    pub env: Environment,
    pub amount: i64,
    pub currency: String,
    pub method: String,
    /// `requires_payment`, `processing`, `succeeded`, `failed`, `canceled`, `expired`.
    pub status: String,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub card: Option<CardSummary>,
    pub crypto: Option<CryptoTarget>,
    /// Minor units received so far (crypto deposits).
    pub amount_received: i64,
    /// Minor units refunded so far (never more than was received).
    #[serde(default)]
    pub amount_refunded: i64,
    /// Why a payment failed: `card_declined`, `insufficient_funds`.
    pub failure_code: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    pub expires_at: String,
}

/// `POST /v1/wallet/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    pub network: String,
    pub xpub: String,
}

/// The reply to `POST /v1/wallet/config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Wallet {
    pub object: String,
    pub env: Environment,
    pub network: String,
    pub xpub: String,
    /// Made by the server for a test merchant that configured none.
    pub sandbox: bool,
    pub next_index: i64,
}

/// `POST /v1/wallet/generate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateAddress {
    pub network: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WalletAddress {
    pub id: String,
    pub object: String,
    pub network: String,
    pub address: String,
    /// `bitcoin`: below the configured account key, `m/0/{index}`;
    /// `ethereum`: the signer's key, `m/44'/60'/0'/0/{index}`.
    pub derivation_path: String,
    pub payment: Option<String>,
    pub created_at: String,
}

/// `POST /v1/test/deposits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestDeposit {
    pub address: String,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deposit {
    pub object: String,
    pub env: Environment,
    pub network: String,
    pub address: String,
    pub amount: i64,
    pub currency: String,
    /// The payment the deposit paid, if the address belongs to one.
    pub payment: Option<String>,
    pub created_at: String,
}

/// `POST /v1/withdrawal-requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWithdrawal {
    pub amount: i64,
    pub currency: String,
    pub destination: Destination,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Destination {
    Bitcoin {
        address: String,
    },
    Bank {
        iban: String,
        name: String,
    },
    /// USDC or USDT to an Ethereum address (EIP-55 checked when mixed case).
    Ethereum {
        address: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Withdrawal {
    pub id: String,
    pub object: String,
    pub env: Environment,
    pub amount: i64,
    pub currency: String,
    pub destination: Destination,
    /// `pending_approval`, `processing`, `paid`, `failed`, `rejected`.
    pub status: String,
    pub failure_code: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub confirmed_at: Option<String>,
    /// A payout on an EVM chain: null until the payout is signed.
    #[serde(default)]
    pub chain: Option<WithdrawalChain>,
}

/// Where a withdrawal's payout is on its chain (docs/api.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WithdrawalChain {
    /// The payout transaction; after a fee bump, the replacement's.
    pub tx_hash: String,
    /// `private` (the protected relay), `public_fallback` (the public node
    /// after the relay), or `public` (no relay configured).
    pub route: String,
    /// The block that holds it: null until mined.
    pub block: Option<u64>,
    /// How deep that block is (0 until mined).
    pub confirmations: u64,
    /// With `public_fallback`: `timeout`, `relay_refused` or `relay_unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
}
