//! Webhooks over the real API: endpoint management, the egress guard (every
//! spelling of an internal address refused; names that resolve inside
//! refused at delivery, with no connection made), and the delivery log.
//! This module holds the local receiver and the helpers the tests share.

mod delivery;
mod egress;
mod endpoints;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use paygate_proto::{Environment, MerchantId};
use paygate_server::outbox;
use serde_json::{json, Value};

use crate::support::TestApp;

/// What a local receiver got, and what it answers.
#[derive(Default)]
struct Inbox {
    requests: Vec<(HeaderMap, Vec<u8>)>,
    answers: Vec<(u16, String)>,
}

#[derive(Clone, Default)]
pub(crate) struct Receiver(Arc<Mutex<Inbox>>);

impl Receiver {
    /// Listens on 127.0.0.1; answers `answers` in order, the last repeating.
    pub(crate) async fn start(answers: Vec<(u16, String)>) -> (Receiver, u16) {
        let receiver = Receiver::default();
        receiver.0.lock().unwrap().answers = answers;
        let app = Router::new().route("/hook", post(receive)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, port)
    }

    pub(crate) fn count(&self) -> usize {
        self.0.lock().unwrap().requests.len()
    }

    pub(crate) fn request(&self, i: usize) -> (HeaderMap, Vec<u8>) {
        self.0.lock().unwrap().requests[i].clone()
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, String) {
    let mut inbox = receiver.0.lock().unwrap();
    inbox.requests.push((headers, body.to_vec()));
    let index = (inbox.requests.len() - 1).min(inbox.answers.len().saturating_sub(1));
    let (status, body) = inbox.answers.get(index).cloned().unwrap_or((200, String::new()));
    (StatusCode::from_u16(status).unwrap(), body)
}

pub(crate) async fn create_endpoint(app: &TestApp, key: &str, url: &str) -> reqwest::Response {
    app.http()
        .post(app.url("/v1/webhook-endpoints"))
        .header("x-api-key", key)
        .json(&json!({"url": url, "events": ["*"]}))
        .send()
        .await
        .unwrap()
}

/// Writes an event into the outbox, as a resource would, and wakes the worker.
pub(crate) async fn emit(app: &TestApp, env: Environment) -> String {
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).unwrap();
    let mut tx = state.store().begin_write().await.unwrap();
    let id = outbox::record_event(
        tx.conn(),
        &merchant,
        env,
        "payment.created",
        json!({"id": "pay_test", "amount": 100}),
        state.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    state.webhooks().wake();
    id
}

async fn get_json(app: &TestApp, key: &str, path: &str) -> (u16, Value) {
    let response = app
        .http()
        .get(app.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Polls an endpoint's delivery log until `done` holds for it.
async fn wait_for_log(app: &TestApp, endpoint: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, log) = get_json(app, &app.key, &format!("/v1/webhook-endpoints/{endpoint}/deliveries")).await;
        assert_eq!(status, 200, "{log}");
        if done(&log) {
            return log;
        }
        assert!(Instant::now() < deadline, "the delivery log never got there: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
