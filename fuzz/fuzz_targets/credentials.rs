//! Credentials as presented in headers: API keys, API secrets, merchant ids,
//! webhook secrets, scopes and opaque tokens. Parsing never panics, and what
//! parses prints back to the same text and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_proto::{ApiKey, ApiSecret, MerchantId};

fuzz_target!(|text: &str| {
    if let Ok(key) = ApiKey::parse(text) {
        assert_eq!(key.expose(), text);
        assert!(ApiKey::parse(key.expose()).is_ok());
        assert!(!key.masked().contains(text), "the masked form never holds the key");
        let _ = key.lookup_hash();
    }
    if let Ok(secret) = ApiSecret::parse(text) {
        assert!(secret.matches(text));
        let _ = secret.environment();
    }
    if let Ok(merchant) = MerchantId::parse(text) {
        assert_eq!(merchant.as_str(), text);
    }
    if let Ok(secret) = paygate_proto::webhooks::WebhookSecret::parse(text) {
        let _ = secret.masked();
    }
    let _ = paygate_proto::scopes::Scope::parse(text);
    let _ = paygate_proto::Environment::parse(text);
    for prefix in ["ev_", "cs_", ""] {
        let _ = paygate_proto::credentials::is_opaque_token(text, prefix);
    }
    let _ = paygate_proto::credentials::contains_server_credential(text);
});
