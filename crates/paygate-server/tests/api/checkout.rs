//! docs/api.md section 9: checkout sessions and the payor's routes, signed with
//! the session secret; a browser never holds a server credential.

use std::time::{SystemTime, UNIX_EPOCH};

use paygate_proto::signing::sign_request;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::{spawn_app, TestApp};

pub(crate) struct Payor {
    pub(crate) token: String,
    pub(crate) secret: String,
}

pub(crate) async fn create_session(app: &TestApp, body: Value) -> (Value, Payor) {
    let response = app
        .http()
        .post(app.url("/v1/checkout/sessions"))
        .header("x-api-key", &app.key)
        .json(&body)
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.expect("json");
    let payor = Payor {
        token: created["session_token"].as_str().expect("token").to_owned(),
        secret: created["session_secret"].as_str().expect("secret").to_owned(),
    };
    (created, payor)
}

fn now() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
        .to_string()
}

/// A payor request signed with `secret` (not necessarily the session's own).
pub(crate) async fn payor_call(
    app: &TestApp,
    token: &str,
    secret: &str,
    method: Method,
    target: &str,
    body: Option<&Value>,
) -> reqwest::Response {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let timestamp = now();
    let signature = sign_request(secret, method.as_str(), target, bytes.as_bytes(), &timestamp);
    let mut request = app
        .http()
        .request(method, app.url(target))
        .header("x-session-token", token)
        .header("x-timestamp", &timestamp)
        .header("x-signature", signature);
    if body.is_some() {
        request = request.header("content-type", "application/json").body(bytes);
    }
    request.send().await.expect("req")
}

async fn code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("json");
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

fn card(number: &str) -> Value {
    json!({"method": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2035, "cvc": "123"}})
}

#[tokio::test]
async fn a_payor_pays_the_fixed_amount_with_a_test_card() {
    let app = spawn_app().await;
    let (created, payor) = create_session(&app, json!({"amount": 2500, "currency": "USD"})).await;
    assert!(payor.token.starts_with("cst_") && payor.token.len() == 47);
    assert!(payor.secret.starts_with("cs_secret_"));
    let url = created["url"].as_str().expect("url");
    assert!(
        url.contains(&format!("/pay/{}#token=", created["id"].as_str().expect("id"))),
        "{url}"
    );
    assert_eq!(created["status"], "open");

    let session: Value = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::GET,
        "/v1/payor/session?n=1",
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        (session["amount"].as_i64(), session["currency"].as_str()),
        (Some(2500), Some("USD"))
    );

    // The browser cannot change the amount: a body naming it is refused.
    let mut tampered = card("4242424242424242");
    tampered["amount"] = json!(1);
    let (status, error) = code(
        payor_call(
            &app,
            &payor.token,
            &payor.secret,
            Method::POST,
            "/v1/payor/session/pay",
            Some(&tampered),
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (400, "validation_failed"));

    let declined = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::POST,
        "/v1/payor/session/pay?n=2",
        Some(&card("4000000000000002")),
    )
    .await;
    let declined: Value = declined.json().await.expect("json");
    assert_eq!(declined["payment"]["status"], "failed");
    assert_eq!(
        declined["status"], "open",
        "a declined card leaves the session open for another try"
    );

    let paid = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::POST,
        "/v1/payor/session/pay?n=3",
        Some(&card("4242424242424242")),
    )
    .await;
    assert_eq!(paid.status(), 200);
    let paid: Value = paid.json().await.expect("json");
    assert_eq!(paid["status"], "complete");
    assert_eq!(paid["payment"]["status"], "succeeded");
    assert_eq!(paid["payment"]["amount"], 2500);
    assert_eq!(
        app.sdk().balance().await.expect("balance").balances["USD"].available,
        2500
    );

    let (status, error) = code(
        payor_call(
            &app,
            &payor.token,
            &payor.secret,
            Method::POST,
            "/v1/payor/session/pay?n=4",
            Some(&card("4242424242424242")),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, error.as_str()),
        (409, "invalid_state"),
        "a session is paid once"
    );

    let merchant_view: Value = app
        .http()
        .get(app.url(&format!(
            "/v1/checkout/sessions/{}",
            created["id"].as_str().expect("id")
        )))
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(merchant_view["payment"]["id"], paid["payment"]["id"]);
}

#[tokio::test]
async fn payor_requests_need_their_own_session_and_a_fresh_signature() {
    let app = spawn_app().await;
    let (_, mine) = create_session(&app, json!({"amount": 100, "currency": "EUR"})).await;
    let (_, other) = create_session(&app, json!({"amount": 900, "currency": "EUR"})).await;

    // Another session's secret cannot sign for this token.
    let (status, error) = code(
        payor_call(
            &app,
            &mine.token,
            &other.secret,
            Method::GET,
            "/v1/payor/session?a",
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_signature"));

    // A captured request replayed is refused.
    let timestamp = now();
    let signature = sign_request(&mine.secret, "GET", "/v1/payor/session?b", b"", &timestamp);
    let send = || {
        app.http()
            .get(app.url("/v1/payor/session?b"))
            .header("x-session-token", &mine.token)
            .header("x-timestamp", &timestamp)
            .header("x-signature", &signature)
            .send()
    };
    assert_eq!(send().await.expect("req").status(), 200);
    let (status, error) = code(send().await.expect("req")).await;
    assert_eq!((status, error.as_str()), (401, "signature_reused"));

    // An unsigned request, and an unknown token.
    let unsigned = app
        .http()
        .get(app.url("/v1/payor/session"))
        .header("x-session-token", &mine.token)
        .send()
        .await
        .expect("req");
    assert_eq!(code(unsigned).await.1, "signature_required");
    let unknown = format!("cst_{}", "A".repeat(43));
    let (status, error) =
        code(payor_call(&app, &unknown, &mine.secret, Method::GET, "/v1/payor/session?c", None).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_session_token"));

    // A server key, in a header or anywhere in the request, is refused.
    let with_key = app
        .http()
        .get(app.url("/v1/payor/session"))
        .header("x-session-token", &mine.token)
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("req");
    assert_eq!(code(with_key).await, (401, "invalid_session_token".to_owned()));
    let smuggled = json!({"method": "card", "card": {"number": app.key, "exp_month": 1, "exp_year": 2035, "cvc": "1"}});
    let (status, error) = code(
        payor_call(
            &app,
            &mine.token,
            &mine.secret,
            Method::POST,
            "/v1/payor/session/pay",
            Some(&smuggled),
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_session_token"));
    let in_query = format!("/v1/payor/session?note={}", app.secret);
    let (status, error) = code(payor_call(&app, &mine.token, &mine.secret, Method::GET, &in_query, None).await).await;
    assert_eq!((status, error.as_str()), (401, "invalid_session_token"));

    // After expiry, the session's credentials stop working.
    let db = app.raw_db().await;
    sqlx::query("UPDATE checkout_sessions SET expires_at = 0")
        .execute(&db)
        .await
        .expect("expire");
    let (status, error) = code(
        payor_call(
            &app,
            &mine.token,
            &mine.secret,
            Method::GET,
            "/v1/payor/session?d",
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, error.as_str()), (401, "invalid_session_token"));
}

#[tokio::test]
async fn sessions_are_validated_and_scoped_to_the_merchant() {
    let app = spawn_app().await;
    let response = app
        .http()
        .post(app.url("/v1/checkout/sessions"))
        .header("x-api-key", &app.key)
        .json(&json!({"amount": 0, "currency": "XXX", "methods": ["cash"], "expires_in": 5}))
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["amount", "currency", "methods[0]", "expires_in"]);

    let (created, _) = create_session(&app, json!({"amount": 5000, "currency": "BTC"})).await;
    assert_eq!(created["methods"], json!(["crypto"]));
    let foreign = app
        .http()
        .get(app.url("/v1/checkout/sessions/cs_doesnotexist"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .expect("req");
    assert_eq!(foreign.status(), 404);
}

#[tokio::test]
async fn the_payors_socket_hears_its_own_payment_settle() {
    let app = spawn_app().await;
    let (created, payor) = create_session(&app, json!({"amount": 700, "currency": "GBP"})).await;
    let minted: Value = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::POST,
        "/v1/payor/session/realtime",
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let token = minted["ws_token"].as_str().expect("ws token");
    let mut socket = crate::realtime::open(&app, token).await;
    let paid = payor_call(
        &app,
        &payor.token,
        &payor.secret,
        Method::POST,
        "/v1/payor/session/pay",
        Some(&card("4242424242424242")),
    )
    .await;
    assert_eq!(paid.status(), 200);
    let mut types = Vec::new();
    while let Some(event) = crate::realtime::next_event(&mut socket, std::time::Duration::from_secs(5)).await {
        assert_eq!(event["data"]["object"]["metadata"]["checkout_session"], created["id"]);
        types.push(event["type"].as_str().unwrap_or_default().to_owned());
        if types.len() == 2 {
            break;
        }
    }
    assert_eq!(types, ["payment.created", "payment.succeeded"]);
}
