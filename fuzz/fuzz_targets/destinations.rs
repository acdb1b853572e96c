//! Payout destinations and wallet keys as merchants submit them: IBANs
//! (mod 97), bitcoin addresses for each network, and account public keys.
//! Any text is refused or accepted without a panic; what is accepted comes
//! back in a canonical form that is accepted again unchanged.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use paygate_proto::money::Currency;
use paygate_proto::payments::Destination;
use paygate_proto::Environment;
use paygate_server::withdrawals::check_destination;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    bank: bool,
    live: bool,
    text: &'a str,
    name: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let env = if input.live { Environment::Live } else { Environment::Test };
    let (destination, currency) = if input.bank {
        let bank = Destination::Bank {
            iban: input.text.to_owned(),
            name: input.name.to_owned(),
        };
        (bank, Currency::EUR)
    } else {
        let coin = Destination::Bitcoin {
            address: input.text.to_owned(),
        };
        (coin, Currency::BTC)
    };
    if let Ok(canonical) = check_destination(&destination, currency, env) {
        let again = check_destination(&canonical, currency, env).expect("a canonical destination is accepted");
        assert_eq!(again, canonical);
    }
    let _ = paygate_server::wallets::parse_account_key(input.text, env);
});
