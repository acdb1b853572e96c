//! Webhook target URLs as merchants submit them (`vet_url`), under the live
//! and test policies: any text is refused or accepted without a panic, and an
//! accepted live URL is https and never names an internal address.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paygate_proto::Environment;
use paygate_server::webhooks::egress::{vet_url, Policy};

fuzz_target!(|text: &str| {
    for (env, allow_private) in [
        (Environment::Live, false),
        (Environment::Test, false),
        (Environment::Test, true),
    ] {
        if let Ok((url, _host)) = vet_url(text, Policy::for_env(env, allow_private)) {
            if env == Environment::Live {
                assert_eq!(url.scheme(), "https", "{text:?}");
                if let Some(url::Host::Ipv4(ip)) = url.host() {
                    assert!(!ip.is_private() && !ip.is_loopback() && !ip.is_link_local(), "{text:?}");
                }
            }
        }
    }
});
