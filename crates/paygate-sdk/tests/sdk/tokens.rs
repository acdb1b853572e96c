//! Access tokens against the real server: one exchange however many tasks
//! need a token at once, renewal about 10 s before expiry, and renewal when
//! the server answers `token_expired`. Exchanges are counted in the audit
//! log (`session.created`, one row per exchange).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use paygate_server::clock::{ManualClock, SystemClock};
use paygate_server::config::Limit;

use crate::support;

fn roomy_limits(config: &mut paygate_server::config::Config) {
    let roomy = Limit {
        limit: 10_000,
        window_secs: 60,
    };
    config.rate_limits.standard = roomy;
    config.rate_limits.merchant = roomy;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_token_exchange_and_renew_together() {
    let server = support::start_with(Arc::new(SystemClock), |config| {
        roomy_limits(config);
        // Renewed half-way (6 s) as it is shorter than twice the 10 s margin.
        config.auth.token_ttl_secs = 12;
    })
    .await;
    let client = server.builder().access_tokens().build().unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains(&server.key[8..]), "{debug}");
    let answers = join_all((0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.balance().await })
    }))
    .await;
    for answer in answers {
        assert!(answer.unwrap().is_ok());
    }
    assert_eq!(
        server.audit_count("session.created").await,
        1,
        "one exchange for 20 tasks"
    );
    client.balance().await.unwrap();
    assert_eq!(
        server.audit_count("session.created").await,
        1,
        "the cached token is reused"
    );
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let answers = join_all((0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.balance().await })
    }))
    .await;
    for answer in answers {
        assert!(answer.unwrap().is_ok());
    }
    assert_eq!(
        server.audit_count("session.created").await,
        2,
        "one renewal for 20 tasks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expired_renews_the_token_once_and_the_request_succeeds() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = ManualClock::at(now);
    let server = support::start_with(Arc::new(clock.clone()), roomy_limits).await;
    let client = server.builder().access_tokens().build().unwrap();
    client.balance().await.unwrap();
    // The server's time jumps past the token's expiry (and its leeway); the
    // client still believes its token fresh.
    clock.advance(120);
    let tasks = join_all((0..5).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.balance().await })
    }))
    .await;
    for answer in tasks {
        assert!(answer.unwrap().is_ok());
    }
    assert_eq!(
        server.audit_count("session.created").await,
        2,
        "renewed once, for all five"
    );
}
