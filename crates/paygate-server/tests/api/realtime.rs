//! API.md section 9, realtime: single-use 60-second tokens minted server to
//! server, refused before the upgrade when bad, and a socket that pushes the
//! merchant's events as webhooks deliver them.

use std::time::Duration;

use futures_util::StreamExt as _;
use paygate_proto::{Environment, MerchantId};
use paygate_server::keys::{issue_key, KeySpec};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{spawn_app, tls_connect, TestApp};

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

pub async fn mint(app: &TestApp, key: &str, body: Value) -> String {
    let response = app
        .http()
        .post(app.url("/v1/realtime/tokens"))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.expect("json");
    assert_eq!(token["expires_in"], 60);
    token["ws_token"].as_str().expect("token").to_owned()
}

pub async fn open(app: &TestApp, token: &str) -> Socket {
    open_on(app, app.running.local_addr, token).await
}

/// Opens a socket on the instance listening at `addr`.
pub async fn open_on(app: &TestApp, addr: std::net::SocketAddr, token: &str) -> Socket {
    let tls = tls_connect(&app.ca_pem, addr).await;
    let url = format!("wss://localhost:{}/v1/realtime?ws_token={token}", addr.port());
    let (socket, response) = tokio_tungstenite::client_async(url, tls).await.expect("upgrade");
    assert_eq!(response.status(), 101);
    socket
}

pub async fn next_event(socket: &mut Socket, within: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).expect("event json")),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

async fn create_key(app: &TestApp, name: &str) {
    let response = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_socket_receives_the_merchants_events_as_they_happen() {
    let app = spawn_app().await;
    let token = mint(&app, &app.key, json!({})).await;
    assert!(token.starts_with("wst_") && token.len() == 47);
    let mut socket = open(&app, &token).await;
    create_key(&app, "pushed").await;
    let event = next_event(&mut socket, Duration::from_secs(5))
        .await
        .expect("an event arrives");
    assert_eq!(event["type"], "api_key.created");
    assert_eq!(event["env"], "test");
    assert_eq!(event["data"]["object"]["name"], "pushed");
    // The same object as stored in the outbox (and delivered by webhooks).
    let db = app.raw_db().await;
    let stored: String = sqlx::query_scalar("SELECT payload FROM events WHERE id = $1")
        .bind(event["id"].as_str().expect("id"))
        .fetch_one(&db)
        .await
        .expect("stored");
    assert_eq!(serde_json::from_str::<Value>(&stored).expect("json"), event);
}

#[tokio::test]
async fn tokens_are_single_use_and_bad_ones_are_refused_before_the_upgrade() {
    let app = spawn_app().await;
    let token = mint(&app, &app.key, json!({})).await;
    let _socket = open(&app, &token).await;

    let url = |t: &str| app.url(&format!("/v1/realtime?ws_token={t}"));
    let reused = app.http().get(url(&token)).send().await.expect("req");
    assert_eq!(reused.status(), 401);
    assert_eq!(reused.json::<Value>().await.expect("json")["code"], "invalid_ws_token");

    let unknown = format!("wst_{}", "A".repeat(43));
    for bad in [unknown.as_str(), "wst_short", "", "sk_test_nope"] {
        let response = app.http().get(url(bad)).send().await.expect("req");
        assert_eq!(response.status(), 401, "{bad}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["code"],
            "invalid_ws_token"
        );
    }

    let expired = mint(&app, &app.key, json!({})).await;
    let db = app.raw_db().await;
    sqlx::query("UPDATE ws_tokens SET expires_at = expires_at - 61 WHERE used_at IS NULL")
        .execute(&db)
        .await
        .expect("age the token");
    let response = app.http().get(url(&expired)).send().await.expect("req");
    assert_eq!(
        response.json::<Value>().await.expect("json")["code"],
        "invalid_ws_token"
    );

    let minted_without_key = app
        .http()
        .post(app.url("/v1/realtime/tokens"))
        .json(&json!({}))
        .send()
        .await
        .expect("req");
    assert_eq!(
        minted_without_key.status(),
        401,
        "tokens are minted server to server only"
    );
}

#[tokio::test]
async fn a_socket_sees_only_its_merchant_and_environment() {
    let app = spawn_app().await;
    let state = &app.running.state;
    let other = paygate_server::merchants::create_merchant(state.store(), "ZA", "other@example.com", state.now())
        .await
        .expect("merchant");
    let other_key = issue_key(
        state.store(),
        state.master_key(),
        &other,
        Environment::Test,
        &KeySpec::named("o"),
        state.now(),
    )
    .await
    .expect("key");
    let merchant = MerchantId::parse(&app.merchant_id).expect("id");
    let live_key = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Live,
        &KeySpec::named("l"),
        state.now(),
    )
    .await
    .expect("key");
    let mut foreign = open(&app, &mint(&app, other_key.key.expose(), json!({})).await).await;
    let mut live = open(&app, &mint(&app, live_key.key.expose(), json!({})).await).await;
    let mut own = open(&app, &mint(&app, &app.key, json!({})).await).await;
    let mut scoped = open(
        &app,
        &mint(&app, &app.key, json!({"checkout_session": "cs_unrelated"})).await,
    )
    .await;
    create_key(&app, "private").await;
    assert!(next_event(&mut own, Duration::from_secs(5)).await.is_some());
    assert!(
        next_event(&mut foreign, Duration::from_millis(500)).await.is_none(),
        "another merchant sees nothing"
    );
    assert!(
        next_event(&mut live, Duration::from_millis(300)).await.is_none(),
        "live sees no test events"
    );
    assert!(
        next_event(&mut scoped, Duration::from_millis(300)).await.is_none(),
        "a session-scoped socket sees only its session"
    );
}
