//! Error answers as the SDK decodes them (`decode_problem`): any status,
//! `Retry-After` and body, from the server or anything in between, gives an
//! error value (never a panic), and a problem document keeps its code.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use paygate_sdk::{decode_problem, Error};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    status: u16,
    retry_after: &'a [u8],
    body: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_bytes(input.retry_after) {
        headers.insert(http::header::RETRY_AFTER, value);
    }
    match decode_problem(input.status, &headers, input.body) {
        Error::Api(err) => {
            let reparsed: paygate_proto::Problem =
                serde_json::from_slice(input.body).expect("decoded once, decodes again");
            assert_eq!(err.code(), reparsed.code);
            let _ = err.to_string();
        }
        Error::Decode { message, .. } => assert!(message.chars().count() <= 200),
        other => panic!("unexpected {other:?}"),
    }
});
