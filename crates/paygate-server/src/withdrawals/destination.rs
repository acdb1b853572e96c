//! Withdrawal destinations (docs/api.md section 8): checked for the
//! environment and currency before anything moves.

use std::str::FromStr as _;

use bitcoin::Address;
use paygate_proto::money::Currency;
use paygate_proto::payments::Destination;
use paygate_proto::{Environment, ErrorCode};

use crate::http::{ApiError, ApiResult};
use crate::wallets;

const MAX_NAME_CHARS: usize = 140;

fn invalid_destination(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidDestination).with_detail(detail.to_owned())
}

/// Checks a destination for the environment and currency and returns it in
/// its canonical form (an IBAN without spaces, upper case).
pub fn check_destination(destination: &Destination, currency: Currency, env: Environment) -> ApiResult<Destination> {
    match destination {
        Destination::Bitcoin { address } => {
            if currency != Currency::BTC {
                return Err(invalid_destination("A bitcoin destination takes BTC."));
            }
            let parsed = Address::from_str(address.trim())
                .map_err(|_| invalid_destination("The bitcoin address is not valid."))?;
            let checked = parsed.require_network(wallets::network_of(env)).map_err(|_| {
                invalid_destination(match env {
                    Environment::Live => "The bitcoin address is not a main network address.",
                    Environment::Test => "The bitcoin address is not a test network address.",
                })
            })?;
            Ok(Destination::Bitcoin {
                address: checked.to_string(),
            })
        }
        Destination::Bank { iban, name } => {
            if !currency.is_fiat() {
                return Err(invalid_destination(
                    "A bank destination takes USD, EUR, GBP, ZAR, NGN or KES.",
                ));
            }
            use iban::IbanLike as _;
            let parsed = iban::Iban::from_str(iban.trim())
                .map_err(|_| invalid_destination("The IBAN is not valid (country, length or mod 97 check)."))?;
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(ApiError::field("destination.name", "must be 1 to 140 characters"));
            }
            Ok(Destination::Bank {
                iban: parsed.electronic_str().to_owned(),
                name: name.to_owned(),
            })
        }
        Destination::Ethereum { address } => {
            if crate::chain::config::Token::from_currency(currency).is_none() {
                return Err(invalid_destination("An ethereum destination takes USDC or USDT."));
            }
            let address = crate::chain::address::checksummed(address.trim())
                .map_err(|e| invalid_destination(&format!("The Ethereum address {e}.")))?;
            Ok(Destination::Ethereum { address })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_checked_for_network_and_mod_97() {
        let live_btc = Destination::Bitcoin {
            address: "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu".to_owned(),
        };
        assert!(check_destination(&live_btc, Currency::BTC, Environment::Live).is_ok());
        assert_eq!(
            check_destination(&live_btc, Currency::BTC, Environment::Test)
                .err()
                .unwrap()
                .code(),
            ErrorCode::InvalidDestination
        );
        assert!(check_destination(&live_btc, Currency::USD, Environment::Live).is_err());
        let iban = |iban: &str| Destination::Bank {
            iban: iban.to_owned(),
            name: "Ada Lovelace".to_owned(),
        };
        let ok = check_destination(&iban("GB82 WEST 1234 5698 7654 32"), Currency::GBP, Environment::Live).unwrap();
        assert_eq!(ok, iban("GB82WEST12345698765432"));
        assert!(check_destination(&iban("GB83WEST12345698765432"), Currency::GBP, Environment::Live).is_err());
        assert!(check_destination(&iban("GB82WEST12345698765432"), Currency::BTC, Environment::Live).is_err());
    }
}
