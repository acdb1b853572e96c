//! Regression test for the outside security test's finding 4: revoking a key
//! left its realtime tokens and sockets working. Revoking (by the API, a
//! leak report) or rolling a key ends its unused ws tokens at once and
//! closes the sockets opened with it, on every instance.

use std::time::Duration;

use serde_json::{json, Value};

use crate::auth_helpers::create_key;
use crate::money_support::{card_payment, generous_limits};
use crate::realtime::{mint, next_event, open, open_on, Socket};
use crate::support::{spawn_with, TestApp};

/// Reads a socket until it closes (or `within` passes) and returns the
/// event types it pushed; `None` when it was still open.
async fn until_closed(socket: &mut Socket, within: Duration) -> Option<Vec<String>> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        match next_event(socket, left).await {
            Some(event) => seen.push(event["type"].as_str().unwrap_or_default().to_owned()),
            None if tokio::time::Instant::now() < deadline => return Some(seen),
            None => return None,
        }
    }
}

async fn redeem_status(app: &TestApp, base: &str, token: &str) -> u16 {
    let response = app
        .http()
        .get(format!("{base}/v1/realtime?ws_token={token}"))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn pay(app: &TestApp) -> Value {
    let response = app
        .http()
        .post(app.url("/v1/payments"))
        .header("x-api-key", &app.key)
        .json(&card_payment(700, "USD", "4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn revoking_a_key_ends_its_ws_tokens_and_closes_its_sockets_on_every_instance() {
    let app = spawn_with(generous_limits).await;
    let second = app.second_instance().await;
    let doomed = create_key(&app, json!({"name": "doomed", "scopes": ["payments:read"]})).await;
    let key = doomed["key"].as_str().unwrap();
    let unused = mint(&app, key, json!({})).await;
    let mut here = open(&app, &mint(&app, key, json!({})).await).await;
    let mut there = open_on(&app, second.running.local_addr, &mint(&app, key, json!({})).await).await;
    let mut bystander = open(&app, &mint(&app, &app.key, json!({})).await).await;

    let revoked = app
        .http()
        .delete(app.url(&format!("/v1/api-keys/{}", doomed["id"].as_str().unwrap())))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let payment = pay(&app).await;

    for base in [&app.base_url, &second.base_url] {
        assert_eq!(
            redeem_status(&app, base, &unused).await,
            401,
            "an unused token is spent"
        );
    }
    for socket in [&mut here, &mut there] {
        let seen = until_closed(socket, Duration::from_secs(5))
            .await
            .expect("the socket closed");
        assert!(
            !seen.iter().any(|t| t.starts_with("payment.")),
            "no payment after the revocation reached it: {seen:?}"
        );
    }
    // A socket of another key still hears the payment.
    let heard = loop {
        let event = next_event(&mut bystander, Duration::from_secs(5))
            .await
            .expect("bystander open");
        if event["data"]["object"]["id"] == payment["id"] {
            break event;
        }
    };
    assert!(heard["type"].as_str().unwrap().starts_with("payment."));
}

#[tokio::test]
async fn rolling_or_reporting_a_key_ends_its_sockets_when_it_stops_working() {
    let app = spawn_with(generous_limits).await;
    let rolled = create_key(&app, json!({"name": "rolled", "scopes": ["payments:read"]})).await;
    let key = rolled["key"].as_str().unwrap();
    let mut socket = open(&app, &mint(&app, key, json!({})).await).await;
    let unused = mint(&app, key, json!({})).await;
    let roll = app
        .http()
        .post(app.url(&format!("/v1/api-keys/{}/roll", rolled["id"].as_str().unwrap())))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .json(&json!({"expire_old_in": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(roll.status(), 200);
    // Still working during the overlap, closed once the old key stops.
    loop {
        let during = next_event(&mut socket, Duration::from_secs(1))
            .await
            .expect("open during the overlap");
        if during["type"] == "api_key.rolled" {
            break;
        }
    }
    until_closed(&mut socket, Duration::from_secs(6))
        .await
        .expect("closed at the old key's expiry");
    assert_eq!(
        redeem_status(&app, &app.base_url, &unused).await,
        401,
        "the expired key's token"
    );

    let leaked = create_key(&app, json!({"name": "leaked", "scopes": ["payments:read"]})).await;
    let leaked_key = leaked["key"].as_str().unwrap();
    let mut socket = open(&app, &mint(&app, leaked_key, json!({})).await).await;
    let unused = mint(&app, leaked_key, json!({})).await;
    let report = app
        .http()
        .post(app.url("/v1/leaked-keys"))
        .json(&json!({ "key": leaked_key }))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 202);
    until_closed(&mut socket, Duration::from_secs(5))
        .await
        .expect("closed on the report");
    assert_eq!(redeem_status(&app, &app.base_url, &unused).await, 401);
}
