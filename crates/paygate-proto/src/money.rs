//! Money on the wire (docs/api.md section 8): currencies with their minor units,
//! amount bounds and the metadata rules. Parsed once at the edge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FieldError;

/// Smallest and largest amount, in minor units.
pub const MIN_AMOUNT: i64 = 1;
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

pub const MAX_METADATA_PAIRS: usize = 20;
pub const MAX_METADATA_KEY_CHARS: usize = 40;
pub const MAX_METADATA_VALUE_CHARS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Currency {
    USD,
    EUR,
    GBP,
    ZAR,
    NGN,
    KES,
    BTC,
    USDT,
    USDC,
}

impl Currency {
    pub const ALL: &'static [Currency] = &[
        Currency::USD,
        Currency::EUR,
        Currency::GBP,
        Currency::ZAR,
        Currency::NGN,
        Currency::KES,
        Currency::BTC,
        Currency::USDT,
        Currency::USDC,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Currency::USD => "USD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::ZAR => "ZAR",
            Currency::NGN => "NGN",
            Currency::KES => "KES",
            Currency::BTC => "BTC",
            Currency::USDT => "USDT",
            Currency::USDC => "USDC",
        }
    }

    /// Digits after the decimal point of one minor unit.
    pub const fn decimals(self) -> u8 {
        match self {
            Currency::BTC => 8,
            Currency::USDT | Currency::USDC => 6,
            _ => 2,
        }
    }

    /// Government money, payable to a bank account.
    pub const fn is_fiat(self) -> bool {
        self.decimals() == 2
    }

    /// Exact, upper-case codes only: `usd` is not `USD`.
    pub fn parse(code: &str) -> Option<Currency> {
        Currency::ALL.iter().copied().find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks an amount in minor units; the error names `field`.
pub fn check_amount(field: &str, amount: i64, errors: &mut Vec<FieldError>) -> bool {
    if (MIN_AMOUNT..=MAX_AMOUNT).contains(&amount) {
        true
    } else {
        errors.push(FieldError::new(
            field,
            "must be a whole number of minor units from 1 to 1000000000000000",
        ));
        false
    }
}

/// Parses a currency code; the error names `field` and lists the codes.
pub fn check_currency(field: &str, code: &str, errors: &mut Vec<FieldError>) -> Option<Currency> {
    let parsed = Currency::parse(code);
    if parsed.is_none() {
        errors.push(FieldError::new(
            field,
            "must be one of USD, EUR, GBP, ZAR, NGN, KES, BTC, USDT, USDC",
        ));
    }
    parsed
}

/// Checks metadata: at most 20 pairs, keys 1 to 40 characters, values up to 500.
pub fn check_metadata(metadata: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    if metadata.len() > MAX_METADATA_PAIRS {
        errors.push(FieldError::new("metadata", "must have at most 20 keys"));
    }
    for (key, value) in metadata {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_METADATA_KEY_CHARS {
            errors.push(FieldError::new(
                format!("metadata.{key}"),
                "keys must be 1 to 40 characters",
            ));
        }
        if value.chars().count() > MAX_METADATA_VALUE_CHARS {
            errors.push(FieldError::new(
                format!("metadata.{key}"),
                "values must be at most 500 characters",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_and_bounds() {
        assert_eq!(Currency::parse("BTC").map(Currency::decimals), Some(8));
        assert_eq!(Currency::parse("USDC").map(Currency::decimals), Some(6));
        assert_eq!(Currency::parse("KES").map(Currency::decimals), Some(2));
        assert_eq!(Currency::parse("usd"), None);
        let mut errors = Vec::new();
        assert!(check_amount("amount", 1, &mut errors));
        assert!(check_amount("amount", MAX_AMOUNT, &mut errors));
        assert!(!check_amount("amount", 0, &mut errors));
        assert!(!check_amount("amount", MAX_AMOUNT + 1, &mut errors));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn metadata_rules() {
        let mut errors = Vec::new();
        let mut ok = BTreeMap::new();
        ok.insert("order".to_owned(), "x".repeat(500));
        check_metadata(&ok, &mut errors);
        assert!(errors.is_empty());
        let mut bad: BTreeMap<String, String> = (0..21).map(|i| (format!("k{i}"), String::new())).collect();
        bad.insert("k".repeat(41), "v".repeat(501));
        check_metadata(&bad, &mut errors);
        assert_eq!(errors.len(), 3);
    }
}
