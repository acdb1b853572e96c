//! The request path trusts cached credentials on the revocation epoch held
//! in memory (docs/architecture.md, "Revocation on every instance"). These
//! tests hold it to its bounds from outside: a revocation by the operator's
//! CLI (another process) is refused on the server's next request even while
//! the server is busy; on PostgreSQL a session ended on one instance is
//! refused on another within a second; and when the epoch cannot be read,
//! requests are refused rather than trusted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::auth_helpers::{create_key, exchange, exchange_at, problem};
use crate::cluster::{services, Cluster, LENIENT_LIMITS};
use crate::money_support::generous_limits;
use crate::support::{spawn_with, TestApp};

async fn balance_by_key(client: &reqwest::Client, base: &str, key: &str) -> reqwest::Response {
    client
        .get(format!("{base}/v1/balance"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

async fn balance_by_token(client: &reqwest::Client, base: &str, token: &str, session: &str) -> reqwest::Response {
    client
        .get(format!("{base}/v1/balance"))
        .bearer_auth(token)
        .header("x-session-id", session)
        .send()
        .await
        .unwrap()
}

/// Keeps the server answering (and committing audit batches, so the file
/// changes under the epoch check) until `stop`; counts the answers.
fn keep_busy(app: &TestApp, stop: Arc<AtomicBool>, answered: Arc<AtomicU64>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..4)
        .map(|_| {
            let (client, base, key) = (app.http(), app.base_url.clone(), app.key.clone());
            let (stop, answered) = (stop.clone(), answered.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let status = balance_by_key(&client, &base, &key).await.status();
                    assert_eq!(status, 200, "the untouched key keeps working");
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cli_revocation_is_refused_on_the_next_request_of_a_busy_server() {
    let app = spawn_with(generous_limits).await;
    let victim = create_key(&app, json!({"name": "victim"})).await;
    let (key, id) = (victim["key"].as_str().unwrap(), victim["id"].as_str().unwrap());
    let client = app.http();
    let (token, session) = exchange(&app, &client, &app.base_url, key).await;
    // Both credentials are verified, and so cached, before the revocation.
    for _ in 0..3 {
        assert_eq!(balance_by_key(&client, &app.base_url, key).await.status(), 200);
        assert_eq!(
            balance_by_token(&client, &app.base_url, &token, &session)
                .await
                .status(),
            200
        );
    }
    let (stop, answered) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let busy = keep_busy(&app, stop.clone(), answered.clone());
    tokio::time::sleep(Duration::from_millis(200)).await;

    let output = tokio::task::block_in_place(|| app.cli(&["--json", "keys", "revoke", id]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The very next requests, with no wait: both credentials are refused.
    let (status, code, _) = problem(balance_by_key(&client, &app.base_url, key).await).await;
    assert_eq!((status, code.as_str()), (401, "invalid_api_key"));
    let (status, code, _) = problem(balance_by_token(&client, &app.base_url, &token, &session).await).await;
    assert_eq!((status, code.as_str()), (401, "session_revoked"));

    stop.store(true, Ordering::SeqCst);
    for task in busy {
        task.await.unwrap();
    }
    assert!(answered.load(Ordering::SeqCst) > 10, "the server was kept busy");
}

/// On PostgreSQL (with Redis), two `paygate serve` processes: a session
/// ended through instance 0 is refused there at once and on instance 1,
/// which had cached it, within a second.
#[tokio::test]
async fn a_session_ended_on_one_instance_is_refused_on_another_within_a_second() {
    let Some((_, redis)) = services("a_session_ended_on_one_instance_is_refused_on_another_within_a_second") else {
        return;
    };
    let cluster = Cluster::start(&redis, 2, &LENIENT_LIMITS).await;
    let http = cluster.http();
    let (a, b) = (&cluster.instances[0].base_url, &cluster.instances[1].base_url);
    let (token, session) = exchange_at(&http, a, &cluster.key, &cluster.merchant_id).await;
    let (token, session) = (token.as_str(), session.as_str());
    for base in [a, b] {
        assert_eq!(balance_by_token(&http, base, token, session).await.status(), 200);
    }
    let ended = http
        .delete(format!("{a}/v1/auth/sessions/{session}"))
        .header("x-api-key", &cluster.key)
        .header("x-api-secret", &cluster.secret)
        .send()
        .await
        .unwrap();
    assert!(ended.status().is_success(), "{}", ended.status());
    let ended_at = Instant::now();
    let (status, code, _) = problem(balance_by_token(&http, a, token, session).await).await;
    assert_eq!((status, code.as_str()), (401, "session_revoked"), "instance 0, at once");
    loop {
        let response = balance_by_token(&http, b, token, session).await;
        if response.status() == 401 {
            let (_, code, _) = problem(response).await;
            assert_eq!(code, "session_revoked");
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(
            ended_at.elapsed() < Duration::from_secs(1),
            "instance 1 still accepts the ended session"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ended_at.elapsed() < Duration::from_secs(1));
}

/// Past the bound of the last successful reading (50 ms on SQLite, 1 s on
/// PostgreSQL), a request whose server cannot read the epoch is refused with
/// a server error, never served from the credential cache; once the epoch
/// can be read again, requests are served again.
#[tokio::test]
async fn when_the_epoch_cannot_be_read_requests_are_refused_not_trusted() {
    let app = spawn_with(generous_limits).await;
    let client = app.http();
    assert_eq!(balance_by_key(&client, &app.base_url, &app.key).await.status(), 200);
    let db = app.raw_db().await;
    sqlx::query("ALTER TABLE auth_epoch RENAME TO auth_epoch_away")
        .execute(&db)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for _ in 0..3 {
        let status = balance_by_key(&client, &app.base_url, &app.key).await.status();
        assert!(status.is_server_error(), "served from memory: {status}");
    }
    sqlx::query("ALTER TABLE auth_epoch_away RENAME TO auth_epoch")
        .execute(&db)
        .await
        .unwrap();
    let started = Instant::now();
    while balance_by_key(&client, &app.base_url, &app.key).await.status() != 200 {
        assert!(started.elapsed() < Duration::from_secs(2), "not served again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
