//! Request signature headers (`x-timestamp`, `x-signature`) as the server
//! checks them, on any method, target and body; and webhook signature
//! headers as a receiver checks them with `verify_delivery`. Whatever
//! arrives, the check answers (never panics), and a forged signature never
//! passes.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use paygate_proto::webhooks::{verify_delivery, WebhookSecret};
use paygate_server::auth::replay::MemoryReplayGuard;
use paygate_server::auth::signature;
use secrecy::SecretString;

const SECRET: &str = "sec_test_fuzzingfuzzingfuzzingfuzzing";
const NOW: i64 = 1_700_000_000;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    method: &'a str,
    target: &'a str,
    timestamp: &'a [u8],
    signature: &'a [u8],
    body: &'a [u8],
    tolerance: i64,
    webhook_id: &'a str,
    webhook_timestamp: &'a str,
    webhook_signature: &'a str,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
    })
}

fn webhook_secret() -> &'static WebhookSecret {
    static SECRET: OnceLock<WebhookSecret> = OnceLock::new();
    SECRET.get_or_init(WebhookSecret::generate)
}

fuzz_target!(|input: Input<'_>| {
    let mut request = http::Request::builder().method(input.method).uri(input.target);
    for (name, value) in [("x-timestamp", input.timestamp), ("x-signature", input.signature)] {
        if let Ok(value) = http::HeaderValue::from_bytes(value) {
            request = request.header(name, value);
        }
    }
    if let Ok(request) = request.body(()) {
        let (parts, ()) = request.into_parts();
        let secret = SecretString::from(SECRET.to_owned());
        let guard = MemoryReplayGuard::default();
        let checked = runtime().block_on(signature::verify(
            &parts,
            input.body,
            &secret,
            "key_fuzz",
            input.tolerance,
            NOW,
            &guard,
        ));
        if checked.is_ok() {
            // Only a signature computed with the secret passes.
            let expected = paygate_proto::signing::sign_request(
                SECRET,
                parts.method.as_str(),
                signature::request_target(&parts),
                input.body,
                std::str::from_utf8(input.timestamp).unwrap_or_default().trim(),
            );
            assert_eq!(expected.as_bytes(), input.signature.trim_ascii());
        }
    }
    let secret = webhook_secret();
    let verified = verify_delivery(
        secret,
        input.webhook_id,
        input.webhook_timestamp,
        input.webhook_signature,
        input.body,
        NOW,
        300,
    );
    assert!(verified.is_err(), "a delivery signature cannot be forged without the secret");
});
