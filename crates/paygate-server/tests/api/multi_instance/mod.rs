//! Three `paygate serve` processes on one PostgreSQL database and one Redis,
//! as DESIGN.md "State and scale" deploys them: limits shared, a revoke seen
//! everywhere within a second, withdrawals and idempotency exact across
//! instances, nothing acknowledged lost when one is killed, every webhook
//! delivered, and an event made on one instance pushed to a socket on
//! another. Skipped (with a line saying so) without both services.
//! Webhooks, sockets and the kill under load are in [`delivery`].

mod delivery;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::cluster::{services, Cluster, LENIENT_LIMITS};
use crate::money_support::Api;

const THREE: usize = 3;

async fn balance_status(http: &reqwest::Client, base_url: &str, key: &str) -> u16 {
    http.get(format!("{base_url}/v1/balance"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_rate_limit_is_shared_by_all_three_instances() {
    let Some((_, redis)) = services("a_rate_limit_is_shared_by_all_three_instances") else {
        return;
    };
    let cluster = Cluster::start(
        &redis,
        THREE,
        &[
            ("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "9"),
            ("PAYGATE_RATE_LIMITS__MERCHANT__LIMIT", "1000000"),
        ],
    )
    .await;
    let http = cluster.http();
    let mut statuses = Vec::new();
    for i in 0..27 {
        let instance = &cluster.instances[i % THREE];
        statuses.push(balance_status(&http, &instance.base_url, &cluster.key).await);
    }
    let accepted = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((accepted, refused), (9, 18), "{statuses:?}");
}

#[tokio::test]
async fn a_revoked_key_fails_on_every_instance_within_a_second() {
    let Some((_, redis)) = services("a_revoked_key_fails_on_every_instance_within_a_second") else {
        return;
    };
    let cluster = Cluster::start(&redis, THREE, &LENIENT_LIMITS).await;
    let victim = cluster
        .api(0)
        .post("/v1/api-keys", json!({"name": "victim"}))
        .await
        .ok();
    let key = victim["key"].as_str().unwrap();
    let http = cluster.http();
    // Every instance has seen (and cached) the key before it is revoked.
    for instance in &cluster.instances {
        assert_eq!(balance_status(&http, &instance.base_url, key).await, 200);
    }
    let id = victim["id"].as_str().unwrap();
    let revoke = http
        .delete(format!("{}/v1/api-keys/{id}", cluster.instances[1].base_url))
        .header("x-api-key", &cluster.key)
        .header("x-api-secret", &cluster.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    let revoked_at = Instant::now();
    for (n, instance) in cluster.instances.iter().enumerate() {
        while balance_status(&http, &instance.base_url, key).await != 401 {
            assert!(
                revoked_at.elapsed() < Duration::from_secs(1),
                "instance {n} still accepts the revoked key"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(revoked_at.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_withdrawals_over_three_instances_accept_exactly_fifty() {
    let Some((_, redis)) = services("two_hundred_concurrent_withdrawals_over_three_instances_accept_exactly_fifty")
    else {
        return;
    };
    let cluster = Cluster::start(&redis, THREE, &LENIENT_LIMITS).await;
    let apis: Vec<Api> = (0..THREE).map(|n| cluster.api(n)).collect();
    apis[0].fund(50 * 100, "ZAR").await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let api = apis[i % THREE].clone();
        tasks.push(tokio::spawn(async move {
            api.withdraw(100, "ZAR", &format!("race-{i}")).await
        }));
    }
    let mut accepted = Vec::new();
    let mut refused = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let reply = task.await.unwrap();
        match (reply.status, reply.code()) {
            (200, _) => accepted.push((i, reply.id())),
            (422, "insufficient_funds") => refused += 1,
            other => panic!("unexpected answer {other:?}: {}", reply.body),
        }
    }
    assert_eq!((accepted.len(), refused), (50, 150));
    for api in &apis {
        assert_eq!(api.balance("ZAR").await, (0, 0, 5_000));
    }
    // A retry sent to another instance replays the first answer.
    for (i, id) in accepted.iter().take(10) {
        let retry = apis[(i + 1) % THREE].withdraw(100, "ZAR", &format!("race-{i}")).await;
        assert!(retry.replayed && retry.id() == *id, "{}", retry.body);
    }
    assert_eq!(apis[2].balance("ZAR").await, (0, 0, 5_000));

    // One idempotency key sent to all three at once: it runs once.
    apis[1].fund(100, "ZAR").await;
    let twins: Vec<_> = apis
        .iter()
        .map(|api| {
            let api = api.clone();
            tokio::spawn(async move { api.withdraw(100, "ZAR", "twin").await })
        })
        .collect();
    let mut ran = Vec::new();
    for twin in twins {
        let reply = twin.await.unwrap();
        match (reply.status, reply.code(), reply.replayed) {
            (200, _, false) => ran.push(reply.id()),
            (200, _, true) | (409, "idempotency_in_progress", _) => {}
            other => panic!("unexpected answer {other:?}: {}", reply.body),
        }
    }
    assert_eq!(ran.len(), 1, "the key ran once: {ran:?}");
    assert_eq!(apis[0].balance("ZAR").await, (0, 0, 5_100));

    // Approved on one instance and rejected on another at the same moment:
    // one decision stands, and the reserved funds move once.
    let decide = |n: usize, verb: &'static str| {
        let api = apis[n].clone();
        let path = format!("/v1/withdrawal-requests/{}/{verb}", ran[0]);
        tokio::spawn(async move { api.post_empty(&path).await })
    };
    let (approve, reject) = (decide(0, "approve"), decide(2, "reject"));
    let (approve, reject) = (approve.await.unwrap(), reject.await.unwrap());
    let (available, _, reserved) = apis[1].balance("ZAR").await;
    match (approve.status, reject.status) {
        (200, _) => {
            assert_eq!(reject.code(), "invalid_state", "{}", reject.body);
            assert_eq!((available, reserved), (0, 5_000));
        }
        (_, 200) => {
            assert_eq!(approve.code(), "invalid_state", "{}", approve.body);
            assert_eq!((available, reserved), (100, 5_000));
        }
        other => panic!("neither decision stood: {other:?} {} {}", approve.body, reject.body),
    }
    cluster.assert_verified();
}

/// Two transactions that lock the same two rows in opposite orders: the one
/// PostgreSQL picks as the deadlock victim was rolled back whole, so the
/// API answers it `503` with `Retry-After` (safe to send again), not `500`.
#[tokio::test]
async fn a_deadlock_victim_is_answered_as_retryable() {
    let url = crate::support::fresh_database_url().await;
    if !url.starts_with("postgres") {
        println!("SKIPPED: a_deadlock_victim_is_answered_as_retryable needs PAYGATE_TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    sqlx::query("CREATE TABLE pair (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .expect("create");
    sqlx::query("INSERT INTO pair (id, v) VALUES (1, 0), (2, 0)")
        .execute(&pool)
        .await
        .expect("insert");
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let run = |first: i32, second: i32| {
        let (pool, barrier) = (pool.clone(), barrier.clone());
        tokio::spawn(async move {
            let mut tx = pool.begin().await.expect("begin");
            let bump = "UPDATE pair SET v = v + 1 WHERE id = $1";
            sqlx::query(bump)
                .bind(first)
                .execute(&mut *tx)
                .await
                .expect("first row");
            barrier.wait().await;
            let second = sqlx::query(bump).bind(second).execute(&mut *tx).await;
            match second {
                Ok(_) => tx.commit().await.map(|_| ()),
                Err(err) => Err(err),
            }
        })
    };
    let (a, b) = (run(1, 2), run(2, 1));
    let mut victims: Vec<sqlx::Error> = [a.await.expect("task"), b.await.expect("task")]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert_eq!(victims.len(), 1, "one transaction is the victim: {victims:?}");
    let victim = victims.remove(0);
    assert!(paygate_server::store::is_contention(&victim), "{victim:?}");
    let answer = paygate_server::http::ApiError::from(victim);
    assert_eq!(answer.code(), paygate_proto::ErrorCode::ServiceUnavailable);
    // Any other database failure stays an opaque 500.
    let other = paygate_server::http::ApiError::from(sqlx::Error::Protocol("not contention".into()));
    assert_eq!(other.code(), paygate_proto::ErrorCode::InternalError);
}
