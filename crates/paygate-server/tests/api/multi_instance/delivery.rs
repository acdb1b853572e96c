//! Across three instances: nothing acknowledged lost when one is killed
//! under load, every webhook delivered once, and an event made on one
//! instance pushed to a socket held by another.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt as _;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::cluster::{services, Cluster, LENIENT_LIMITS};
use crate::money_support::{acknowledged_id, card_payment, iban_destination, Api};
use crate::support::tls_connect;

use super::THREE;

/// Event ids a local webhook receiver got, with how often each arrived.
#[derive(Clone, Default)]
struct Deliveries(Arc<Mutex<HashMap<String, usize>>>);

impl Deliveries {
    /// Listens on 127.0.0.1 and answers 200 to every delivery.
    async fn listen() -> (Deliveries, String) {
        async fn receive(State(seen): State<Deliveries>, body: axum::body::Bytes) -> &'static str {
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let id = event["id"].as_str().unwrap_or_default().to_owned();
            *seen.0.lock().unwrap().entry(id).or_default() += 1;
            "ok"
        }
        let seen = Deliveries::default();
        let app = Router::new().route("/hook", post(receive)).with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (seen, url)
    }

    fn counts(&self) -> HashMap<String, usize> {
        self.0.lock().unwrap().clone()
    }
}

/// Subscribes a local receiver to every event of the sandbox merchant.
async fn subscribe(cluster: &Cluster) -> Deliveries {
    let (deliveries, url) = Deliveries::listen().await;
    let endpoint = cluster
        .api(0)
        .without_secret()
        .post("/v1/webhook-endpoints", json!({"url": url, "events": ["*"]}))
        .await;
    endpoint.ok();
    deliveries
}

/// Every event id in the outbox.
async fn event_ids(cluster: &Cluster) -> Vec<String> {
    let db = sqlx::AnyPool::connect(&cluster.database_url).await.unwrap();
    let ids = sqlx::query_scalar("SELECT id FROM events")
        .fetch_all(&db)
        .await
        .unwrap();
    db.close().await;
    ids
}

/// Waits until the receiver has every event of the outbox, or `within`.
async fn await_all_delivered(cluster: &Cluster, deliveries: &Deliveries, within: Duration) -> HashMap<String, usize> {
    let deadline = Instant::now() + within;
    loop {
        let expected = event_ids(cluster).await;
        let counts = deliveries.counts();
        let missing: Vec<&String> = expected.iter().filter(|id| !counts.contains_key(*id)).collect();
        if missing.is_empty() {
            return counts;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events never delivered, such as {:?}",
            missing.len(),
            expected.len(),
            missing.first()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What clients were told succeeded, to look for after the kill.
#[derive(Default)]
struct Acknowledged {
    payments: Vec<String>,
    withdrawals: Vec<(String, String)>,
}

/// Sends payments and withdrawals to one instance until `stop` or its first
/// failure, recording what was acknowledged.
async fn load(api: Api, worker: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Acknowledged>>) {
    for i in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let idempotency_key = format!("kill-{worker}-{i}");
        let outcome = if i % 2 == 0 {
            api.http
                .post(format!("{}/v1/payments", api.base_url))
                .header("x-api-key", &api.key)
                .json(&card_payment(1_000, "USD", "4242424242424242"))
                .send()
                .await
        } else {
            api.http
                .post(format!("{}/v1/withdrawal-requests", api.base_url))
                .header("x-api-key", &api.key)
                .header("idempotency-key", &idempotency_key)
                .json(&json!({"amount": 100, "currency": "USD", "destination": iban_destination()}))
                .send()
                .await
        };
        let Some(id) = acknowledged_id(outcome).await else {
            return;
        };
        let mut acked = acked.lock().unwrap();
        if i % 2 == 0 {
            acked.payments.push(id);
        } else {
            acked.withdrawals.push((id, idempotency_key));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_killed_under_load_loses_no_acknowledged_write_and_strands_no_webhook() {
    let Some((_, redis)) = services("an_instance_killed_under_load_loses_no_acknowledged_write_and_strands_no_webhook")
    else {
        return;
    };
    let mut settings = LENIENT_LIMITS.to_vec();
    // A short attempt timeout keeps the lease of a killed worker short too.
    settings.extend([
        ("PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
        ("PAYGATE_WEBHOOKS__TIMEOUT_SECS", "2"),
    ]);
    let mut cluster = Cluster::start(&redis, THREE, &settings).await;
    let deliveries = subscribe(&cluster).await;
    cluster.api(0).fund(1_000_000, "USD").await;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let workers: Vec<_> = (0..9)
        .map(|w| tokio::spawn(load(cluster.api(w % THREE), w, stop.clone(), acked.clone())))
        .collect();
    let count = |acked: &Mutex<Acknowledged>| {
        let a = acked.lock().unwrap();
        a.payments.len() + a.withdrawals.len()
    };
    while count(&acked) < 150 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.instances[2].kill();
    // The survivors keep taking writes for a while after the kill.
    let at_kill = count(&acked);
    while count(&acked) < at_kill + 60 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());

    for (n, (id, _)) in acked.withdrawals.iter().enumerate() {
        let api = cluster.api(n % 2);
        let w = api.get(&format!("/v1/withdrawal-requests/{id}")).await;
        assert_eq!(
            (w.status, w.body["status"].as_str()),
            (200, Some("pending_approval")),
            "{id}"
        );
    }
    for (n, (id, idempotency_key)) in acked.withdrawals.iter().enumerate() {
        // The retry a client makes after the crash replays, never repeats.
        let retry = cluster.api(n % 2).withdraw(100, "USD", idempotency_key).await;
        assert!(retry.replayed && retry.id() == *id, "{}", retry.body);
    }
    for (n, id) in acked.payments.iter().enumerate() {
        let p = cluster.api(n % 2).get(&format!("/v1/payments/{id}")).await;
        assert_eq!((p.status, p.body["status"].as_str()), (200, Some("succeeded")), "{id}");
    }
    let (_, _, reserved) = cluster.api(0).balance("USD").await;
    assert!(reserved >= 100 * i64::try_from(acked.withdrawals.len()).unwrap());
    cluster.assert_verified();

    // Deliveries the killed instance had leased go out once the lease
    // (attempt timeout plus 30 s) runs out.
    await_all_delivered(&cluster, &deliveries, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_webhook_is_delivered_once_by_three_instances_sharing_the_work() {
    let Some((_, redis)) = services("every_webhook_is_delivered_once_by_three_instances_sharing_the_work") else {
        return;
    };
    let mut settings = LENIENT_LIMITS.to_vec();
    settings.push(("PAYGATE_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"));
    let cluster = Cluster::start(&redis, THREE, &settings).await;
    let deliveries = subscribe(&cluster).await;
    let mut socket = open_socket(&cluster, 1).await;
    let mut tasks = Vec::new();
    for i in 0..90 {
        let api = cluster.api(i % THREE);
        tasks.push(tokio::spawn(async move {
            api.post("/v1/payments", card_payment(500, "USD", "4242424242424242"))
                .await
                .ok();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let counts = await_all_delivered(&cluster, &deliveries, Duration::from_secs(30)).await;
    assert!(counts.len() >= 90, "{} events", counts.len());
    // Give any second sender time to show itself before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let twice: Vec<_> = deliveries.counts().into_iter().filter(|(_, n)| *n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");

    // The socket on one instance got every event, wherever it was made and
    // in whatever order the three instances committed them.
    let mut pushed = std::collections::HashSet::new();
    while pushed.len() < counts.len() {
        let Some(event) = next_event(&mut socket).await else {
            break;
        };
        pushed.insert(event["id"].as_str().unwrap().to_owned());
    }
    let unpushed: Vec<_> = counts.keys().filter(|id| !pushed.contains(*id)).collect();
    assert!(unpushed.is_empty(), "never pushed: {unpushed:?}");
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A realtime socket of the sandbox merchant held by instance `n`.
async fn open_socket(cluster: &Cluster, n: usize) -> Socket {
    let token = cluster
        .api(n)
        .without_secret()
        .post("/v1/realtime/tokens", json!({}))
        .await
        .ok();
    let token = token["ws_token"].as_str().unwrap();
    let addr = cluster.instances[n].addr;
    let tls = tls_connect(&cluster.ca_pem, addr).await;
    let url = format!("wss://localhost:{}/v1/realtime?ws_token={token}", addr.port());
    tokio_tungstenite::client_async(url, tls).await.expect("upgrade").0
}

/// The next event pushed within 5 s.
async fn next_event(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test]
async fn an_event_made_on_one_instance_reaches_a_socket_held_by_another() {
    let Some((_, redis)) = services("an_event_made_on_one_instance_reaches_a_socket_held_by_another") else {
        return;
    };
    let cluster = Cluster::start(&redis, THREE, &LENIENT_LIMITS).await;
    let mut socket = open_socket(&cluster, 0).await;
    let made = Instant::now();
    cluster
        .api(2)
        .post("/v1/api-keys", json!({"name": "elsewhere"}))
        .await
        .ok();
    let event = next_event(&mut socket)
        .await
        .expect("an event on the other instance's socket");
    assert_eq!(event["type"], "api_key.created");
    assert_eq!(event["data"]["object"]["name"], "elsewhere");
    println!("realtime across instances: {} ms", made.elapsed().as_millis());
}
