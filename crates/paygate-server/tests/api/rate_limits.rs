//! docs/api.md section 5 and issue 4: exact sliding windows per IP tier, per
//! merchant and for token issuing, both header forms, a truthful
//! `Retry-After`, no quota spent by refused requests, and the same rules
//! through Redis (when `PAYGATE_TEST_REDIS_URL` is set), shared by instances.

use std::time::{Duration, Instant};

use paygate_proto::Environment;
use paygate_server::config::{Config, Limit};
use paygate_server::keys::{issue_key, KeySpec};
use paygate_server::merchants::create_merchant;

use crate::auth_helpers::{backends, use_backend};
use crate::support::{spawn_with, TestApp};

fn client_from(app: &TestApp, local: &str) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .local_address(local.parse::<std::net::IpAddr>().unwrap());
    for cert in reqwest::Certificate::from_pem_bundle(&app.ca_pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

fn base(app: &TestApp) -> String {
    format!("https://127.0.0.1:{}", app.running.local_addr.port())
}

async fn balance(app: &TestApp, client: &reqwest::Client, key: &str) -> reqwest::Response {
    client
        .get(format!("{}/v1/balance", base(app)))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_limit_20_of_100_concurrent_requests_exactly_20_pass() {
    for redis in backends() {
        let app = spawn_with(|c| {
            c.rate_limits.standard = Limit {
                limit: 20,
                window_secs: 900,
            };
            use_backend(c, &redis);
        })
        .await;
        let client = client_from(&app, "127.0.0.1");
        let url = format!("{}/v1/balance", base(&app));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (client, url, key) = (client.clone(), url.clone(), app.key.clone());
                tokio::spawn(async move {
                    client
                        .get(url)
                        .header("x-api-key", key)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        let accepted = statuses.iter().filter(|s| **s == 200).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((accepted, refused), (20, 80), "backend {redis:?}");
        // Health checks are never limited.
        let health = client.get(format!("{}/healthz", base(&app))).send().await.unwrap();
        assert_eq!(health.status(), 200);
    }
}

#[tokio::test]
async fn a_steady_stream_over_three_windows_never_exceeds_n_in_any_window() {
    for redis in backends() {
        let (n, window) = (5usize, Duration::from_secs(2));
        let app = spawn_with(|c| {
            c.rate_limits.standard = Limit {
                limit: 5,
                window_secs: 2,
            };
            use_backend(c, &redis);
        })
        .await;
        let client = client_from(&app, "127.0.0.1");
        let mut accepted: Vec<(Instant, Instant)> = Vec::new();
        let started = Instant::now();
        while started.elapsed() < window * 3 + Duration::from_millis(500) {
            let sent = Instant::now();
            let response = balance(&app, &client, &app.key).await;
            if response.status() == 200 {
                accepted.push((sent, Instant::now()));
            } else {
                assert_eq!(response.status(), 429);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The server decided each between send and receipt: the (i+n)th
        // acceptance came at least a window after the ith.
        for i in 0..accepted.len().saturating_sub(n) {
            let (first_sent, _) = accepted[i];
            let (_, later_received) = accepted[i + n];
            assert!(
                later_received.duration_since(first_sent) >= window,
                "more than {n} accepted within {window:?} ({redis:?})"
            );
        }
        assert!(
            accepted.len() >= 3 * n,
            "the limiter lets {n} through per window: {}",
            accepted.len()
        );
    }
}

#[tokio::test]
async fn a_client_retrying_at_retry_after_is_accepted_and_headers_describe_the_limit() {
    for redis in backends() {
        let app = spawn_with(|c| {
            c.rate_limits.standard = Limit {
                limit: 2,
                window_secs: 3,
            };
            use_backend(c, &redis);
        })
        .await;
        let client = client_from(&app, "127.0.0.1");
        let first = balance(&app, &client, &app.key).await;
        assert_eq!(first.status(), 200);
        let h = first.headers();
        assert_eq!(h["ratelimit-policy"], "\"standard\";q=2;w=3");
        assert_eq!(h["ratelimit-limit"], "2");
        assert_eq!(h["ratelimit-remaining"], "1");
        assert!(h["ratelimit"].to_str().unwrap().starts_with("\"standard\";r=1;t="));
        assert_eq!(balance(&app, &client, &app.key).await.status(), 200);
        let refused = balance(&app, &client, &app.key).await;
        assert_eq!(refused.status(), 429, "{redis:?}");
        let h = refused.headers().clone();
        let retry_after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        assert_eq!(h["ratelimit-remaining"], "0");
        assert_eq!(h["ratelimit-reset"].to_str().unwrap(), retry_after.to_string());
        assert_eq!(
            h["ratelimit"].to_str().unwrap(),
            format!("\"standard\";r=0;t={retry_after}")
        );
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["code"], "rate_limited");
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        assert_eq!(
            balance(&app, &client, &app.key).await.status(),
            200,
            "retry at Retry-After ({redis:?})"
        );
    }
}

#[tokio::test]
async fn clients_on_other_addresses_are_counted_apart() {
    for redis in backends() {
        let app = spawn_with(|c| {
            c.rate_limits.standard = Limit {
                limit: 2,
                window_secs: 900,
            };
            c.tls.trusted_proxies = vec!["127.0.0.4/32".parse().unwrap()];
            use_backend(c, &redis);
        })
        .await;
        let two = client_from(&app, "127.0.0.2");
        let three = client_from(&app, "127.0.0.3");
        for _ in 0..2 {
            assert_eq!(balance(&app, &two, &app.key).await.status(), 200);
        }
        assert_eq!(balance(&app, &two, &app.key).await.status(), 429);
        assert_eq!(balance(&app, &three, &app.key).await.status(), 200, "{redis:?}");

        // X-Forwarded-For counts only from a trusted proxy.
        let forwarded = |client: &reqwest::Client, xff: &'static str| {
            client
                .get(format!("{}/v1/balance", base(&app)))
                .header("x-api-key", &app.key)
                .header("x-forwarded-for", xff)
                .send()
        };
        let proxy = client_from(&app, "127.0.0.4");
        for _ in 0..2 {
            assert_eq!(forwarded(&proxy, "203.0.113.5").await.unwrap().status(), 200);
        }
        assert_eq!(forwarded(&proxy, "203.0.113.5").await.unwrap().status(), 429);
        assert_eq!(forwarded(&proxy, "203.0.113.6").await.unwrap().status(), 200);
        // From an untrusted peer the header is ignored: 127.0.0.3 has one left.
        assert_eq!(forwarded(&three, "198.51.100.1").await.unwrap().status(), 200);
        assert_eq!(forwarded(&three, "198.51.100.2").await.unwrap().status(), 429);
    }
}

#[tokio::test]
async fn a_request_refused_by_one_limit_spends_nothing_of_the_others() {
    for redis in backends() {
        let app = spawn_with(|c| {
            c.rate_limits.standard = Limit {
                limit: 4,
                window_secs: 900,
            };
            c.rate_limits.merchant = Limit {
                limit: 3,
                window_secs: 60,
            };
            use_backend(c, &redis);
        })
        .await;
        let state = &app.running.state;
        let other = create_merchant(state.store(), "ZA", "other@example.com", state.now())
            .await
            .unwrap();
        let other_key = issue_key(
            state.store(),
            state.master_key(),
            &other,
            Environment::Test,
            &KeySpec::named("other"),
            state.now(),
        )
        .await
        .unwrap();
        let client = client_from(&app, "127.0.0.2");
        for _ in 0..3 {
            assert_eq!(balance(&app, &client, &app.key).await.status(), 200);
        }
        let refused = balance(&app, &client, &app.key).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(
            refused.headers()["ratelimit-limit"],
            "3",
            "the merchant limit refused it"
        );
        // The IP has used 3 of its 4: the refused request took nothing.
        assert_eq!(
            balance(&app, &client, other_key.key.expose()).await.status(),
            200,
            "{redis:?}"
        );
        let ip_refused = balance(&app, &client, other_key.key.expose()).await;
        assert_eq!(ip_refused.status(), 429);
        assert_eq!(ip_refused.headers()["ratelimit-limit"], "4", "now the IP limit");
    }
}

#[tokio::test]
async fn two_instances_sharing_one_redis_admit_n_in_total() {
    let Some(url) = backends().into_iter().flatten().next() else {
        return;
    };
    let prefix = format!("paygate-test:{}:", uuid::Uuid::new_v4());
    let configure = |c: &mut Config| {
        c.rate_limits.standard = Limit {
            limit: 10,
            window_secs: 900,
        };
        c.redis_url.clone_from(&url);
        c.redis_key_prefix.clone_from(&prefix);
    };
    let first = spawn_with(configure).await;
    let second = spawn_with(configure).await;
    let one = client_from(&first, "127.0.0.5");
    let two = client_from(&second, "127.0.0.5");
    let mut accepted = 0;
    for i in 0..30 {
        let response = if i % 2 == 0 {
            balance(&first, &one, &first.key).await
        } else {
            balance(&second, &two, &second.key).await
        };
        if response.status() == 200 {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 10, "N in total across both instances");

    // The replay guard is shared too: a signature accepted by one instance
    // is refused by the other (same key material is not needed: the
    // guard's entry is what is shared, checked here through its trait).
    let guard = first.running.state.auth().replay();
    let other = second.running.state.auth().replay();
    let now = first.running.state.now();
    assert!(guard.first_use("shared-signature", now + 60, now).await.unwrap());
    assert!(!other.first_use("shared-signature", now + 60, now).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_refuses_rather_than_dropping_every_limit() {
    // Nothing listens on port 1: the limiter cannot decide.
    let app = spawn_with(|c| c.redis_url = "redis://127.0.0.1:1".to_owned()).await;
    let client = client_from(&app, "127.0.0.1");
    let response = balance(&app, &client, &app.key).await;
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "service_unavailable");
    // What is never limited still answers.
    let health = client.get(format!("{}/healthz", base(&app))).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Not ready, so a load balancer sends traffic to an instance that is.
    let ready = client.get(format!("{}/readyz", base(&app))).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}
