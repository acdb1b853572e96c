//! Request bodies as the server parses them (`parse_json`, strict: unknown
//! fields refused) for every request type of the API. Any bytes give a value
//! or a catalog error (never a panic), and what parses survives a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_server::http::json::parse_json;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn check<T: DeserializeOwned + Serialize + PartialEq>(bytes: &[u8]) {
    match parse_json::<T>(bytes) {
        Ok(value) => {
            let text = serde_json::to_vec(&value).expect("serialises");
            let again = parse_json::<T>(&text).expect("what was accepted is accepted again");
            assert!(value == again, "the round trip changed the value");
        }
        Err(err) => {
            let code = err.code();
            assert!(code.status() == 400 || code.status() == 422, "{code:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    use paygate_proto::{auth, checkout, payments, realtime, types, webhooks};
    match which % 12 {
        0 => check::<payments::CreatePayment>(body),
        1 => check::<payments::CreateWithdrawal>(body),
        2 => check::<payments::GenerateAddress>(body),
        3 => check::<payments::TestDeposit>(body),
        4 => check::<payments::WalletConfig>(body),
        5 => check::<checkout::CreateCheckoutSession>(body),
        6 => check::<checkout::PayorPayment>(body),
        7 => check::<webhooks::CreateWebhookEndpoint>(body),
        8 => check::<webhooks::Redeliver>(body),
        9 => check::<types::CreateApiKey>(body),
        10 => check::<auth::RollApiKey>(body),
        _ => {
            check::<auth::UpdateSecurityPolicy>(body);
            check::<realtime::CreateRealtimeToken>(body);
        }
    }
});
