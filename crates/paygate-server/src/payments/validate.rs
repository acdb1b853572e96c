//! Validation of a payment request, naming every bad field at once, and the
//! request that passed it.

use std::collections::BTreeMap;

use paygate_proto::money::{check_amount, check_currency, check_metadata, Currency};
use paygate_proto::payments::CreatePayment;
use paygate_proto::{Environment, FieldError};

use super::cards::{check_card, CheckedCard};
use crate::http::{ApiError, ApiResult};

const MAX_DESCRIPTION_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Card,
    Crypto,
}

/// A create request that passed validation.
pub(super) struct NewPayment {
    pub(super) amount: i64,
    pub(super) currency: Currency,
    pub(super) method: Method,
    pub(super) description: Option<String>,
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) card: Option<CheckedCard>,
    /// USDC or USDT paid on the environment's chain (set by the caller,
    /// which holds the configuration, once the request is valid).
    pub(super) stablecoin: Option<super::stablecoin::Target>,
}

/// Validates a create request, naming every bad field at once.
pub(super) fn validate(body: CreatePayment, env: Environment, now: i64) -> ApiResult<NewPayment> {
    let mut errors = Vec::new();
    check_amount("amount", body.amount, &mut errors);
    let currency = check_currency("currency", &body.currency, &mut errors);
    let method = match body.method.as_str() {
        "card" => Some(Method::Card),
        "crypto" => Some(Method::Crypto),
        _ => {
            errors.push(FieldError::new("method", "must be card or crypto"));
            None
        }
    };
    match (method, currency) {
        (Some(Method::Crypto), Some(c)) if c.is_fiat() => {
            errors.push(FieldError::new("currency", "crypto payments take BTC, USDC or USDT"));
        }
        (Some(Method::Card), Some(c)) if !c.is_fiat() => {
            errors.push(FieldError::new(
                "currency",
                "card payments take USD, EUR, GBP, ZAR, NGN or KES",
            ));
        }
        _ => {}
    }
    let description = body.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        errors.push(FieldError::new("description", "must be at most 1000 characters"));
    }
    let metadata = body.metadata.unwrap_or_default();
    check_metadata(&metadata, &mut errors);
    let card = match (&body.card, env) {
        (None, _) => None,
        // The live environment never accepts a card number.
        (Some(_), Environment::Live) => {
            errors.push(FieldError::new(
                "card",
                "card details are never accepted in live mode; use a checkout session",
            ));
            None
        }
        (Some(card), Environment::Test) => {
            if method != Some(Method::Card) {
                errors.push(FieldError::new("card", "is only for card payments"));
            }
            check_card(card, now, &mut errors)
        }
    };
    match (errors.is_empty(), currency, method) {
        (true, Some(currency), Some(method)) => Ok(NewPayment {
            amount: body.amount,
            currency,
            method,
            description,
            metadata,
            card,
            stablecoin: None,
        }),
        _ => Err(ApiError::validation(errors)),
    }
}

#[cfg(test)]
mod tests {
    use paygate_proto::payments::CardDetails;

    use super::*;

    #[test]
    fn live_mode_refuses_any_card_field() {
        let body = CreatePayment {
            amount: 100,
            currency: "USD".to_owned(),
            method: "card".to_owned(),
            description: None,
            metadata: None,
            card: Some(CardDetails {
                number: "4242424242424242".to_owned(),
                exp_month: 12,
                exp_year: 2099,
                cvc: "123".to_owned(),
            }),
        };
        let err = validate(body, Environment::Live, 1_700_000_000).err().unwrap();
        assert_eq!(err.errors[0].field, "card");
    }

    #[test]
    fn every_bad_field_is_named() {
        let body = CreatePayment {
            amount: 0,
            currency: "XYZ".to_owned(),
            method: "cash".to_owned(),
            description: Some("d".repeat(1001)),
            metadata: None,
            card: None,
        };
        let err = validate(body, Environment::Test, 1_700_000_000).err().unwrap();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["amount", "currency", "method", "description"]);
    }
}
