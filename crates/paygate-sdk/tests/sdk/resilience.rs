//! Safety by default against the real server: `Retry-After` honoured on a
//! `429`, a POST whose answer was lost retried into one object, a caller's
//! idempotency key kept, and identical signed requests never colliding.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use paygate_sdk::proto::payments::{CardDetails, CreatePayment};
use paygate_sdk::proto::ErrorCode;
use paygate_sdk::{Error, ListParams, RetryPolicy};
use paygate_server::clock::SystemClock;
use paygate_server::config::Limit;
use reqwest::Method;

use crate::{proxy, support};

fn card_payment(amount: i64) -> CreatePayment {
    CreatePayment {
        amount,
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_retry_after_and_succeeds() {
    let server = support::start_with(std::sync::Arc::new(SystemClock), |config| {
        config.rate_limits.standard = Limit {
            limit: 3,
            window_secs: 2,
        };
    })
    .await;
    let no_retries = server
        .builder()
        .retry_policy(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    for _ in 0..3 {
        no_retries.balance().await.unwrap();
    }
    let Err(Error::Api(refused)) = no_retries.balance().await else {
        panic!("the fourth request in the window is limited");
    };
    assert_eq!(refused.code(), ErrorCode::RateLimited);
    let wait = refused.retry_after.expect("Retry-After on a 429");
    assert!(wait >= 1);
    let started = Instant::now();
    let balance = server.builder().build().unwrap().balance().await;
    assert!(balance.is_ok(), "{balance:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the retry waited for Retry-After ({:?})",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_whose_answer_was_lost_is_retried_into_one_object() {
    let server = support::start().await;
    let proxy = proxy::start(&server, true).await;
    // Signed: every attempt carries a fresh signature and nonce, and the
    // same idempotency key.
    let client = server
        .builder_for(&proxy.base_url)
        .api_secret(&server.secret)
        .add_root_certificate_pem(proxy.ca_pem.clone())
        .build()
        .unwrap();
    let body = serde_json::to_vec(&card_payment(4200)).unwrap();
    let answer = client
        .send_raw(Method::POST, "/v1/payments", Some(&body))
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    assert!(answer.replayed(), "the second attempt got the first one's answer");
    assert_eq!(proxy.stats.connections.load(Ordering::SeqCst), 2, "exactly one retry");
    let payments = server
        .signed()
        .list_payments(&ListParams::default())
        .page()
        .await
        .unwrap();
    assert_eq!(payments.data.len(), 1, "one payment, not two");
    assert_eq!(payments.data[0].amount, 4200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_idempotency_key_is_kept_and_signed_twins_do_not_collide() {
    let server = support::start().await;
    let client = server.signed();
    let keyed = client.with_idempotency_key("order-42-attempt");
    let first = keyed.create_payment(&card_payment(100)).await.unwrap();
    let again = keyed.create_payment(&card_payment(100)).await.unwrap();
    assert_eq!(first.id, again.id, "the same key acts once");
    let reused = keyed.create_payment(&card_payment(101)).await.unwrap_err();
    assert_eq!(reused.code(), Some(ErrorCode::IdempotencyKeyReused));
    // Generated keys differ: two identical creations are two payments.
    let (a, b) = (
        client.create_payment(&card_payment(100)).await.unwrap(),
        client.create_payment(&card_payment(100)).await.unwrap(),
    );
    assert_ne!(a.id, b.id);
    // Identical signed requests in the same second are all accepted.
    let no_retries = server
        .builder()
        .api_secret(&server.secret)
        .retry_policy(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let answers = join_all((0..8).map(|_| no_retries.balance())).await;
    for answer in answers {
        assert!(answer.is_ok(), "{answer:?}");
    }
}
