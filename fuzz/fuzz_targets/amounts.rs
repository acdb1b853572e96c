//! Amounts, currencies and metadata as the API checks them: any value gets
//! an answer without a panic, accepted amounts are within the documented
//! range, and a JSON amount that is not a whole number of minor units
//! (fraction, exponent, out of range) never becomes one.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use paygate_proto::money::{check_amount, check_currency, check_metadata, Currency};
use paygate_proto::payments::CreatePayment;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    amount: i64,
    currency: &'a str,
    metadata: BTreeMap<String, String>,
    amount_text: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let mut errors = Vec::new();
    if check_amount("amount", input.amount, &mut errors) {
        assert!((1..=1_000_000_000_000_000).contains(&input.amount));
    } else {
        assert_eq!(errors.len(), 1);
    }
    if let Some(currency) = check_currency("currency", input.currency, &mut errors) {
        assert_eq!(Currency::parse(currency.as_str()), Some(currency));
    }
    check_metadata(&input.metadata, &mut errors);

    // The amount as a client writes it in JSON.
    let body = format!(r#"{{"amount":{},"currency":"USD","method":"card"}}"#, input.amount_text);
    if let Ok(payment) = paygate_server::http::json::parse_json::<CreatePayment>(body.as_bytes()) {
        let written = input.amount_text.trim();
        if written.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) {
            assert!(!written.contains(['.', 'e', 'E']), "{written:?} became {}", payment.amount);
            assert_eq!(written.parse::<i64>().ok(), Some(payment.amount));
        }
    }
});
