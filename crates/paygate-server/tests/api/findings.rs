//! Regression tests for the outside security test's findings 1, 2, 3 and 5:
//! credentials sent twice, scope escalation through key management, and
//! bodies that no handler reads (docs/security.md lists each one).

use serde_json::{json, Value};

use crate::auth_helpers::{create_key, exchange, problem, signed, unix_now};
use crate::money_support::{generous_limits, Api};
use crate::support::spawn_with;

/// Finding 1: two credentials, first one wins.
#[tokio::test]
async fn a_credential_sent_twice_or_under_both_names_is_ambiguous() {
    let app = spawn_with(generous_limits).await;
    let other = create_key(&app, json!({"name": "other"})).await;
    let other_key = other["key"].as_str().unwrap();
    let http = app.http();
    let balance = || http.get(app.url("/v1/balance"));

    let twice = balance().header("x-api-key", &app.key).header("x-api-key", other_key);
    let both_names = balance().header("x-api-key", &app.key).header("apikey", other_key);
    let same_twice = balance().header("x-api-key", &app.key).header("x-api-key", &app.key);
    for request in [twice, both_names, same_twice] {
        let (status, code, body) = problem(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "ambiguous_credentials"), "{body}");
    }
    let (token, session) = exchange(&app, &http, &app.base_url, &app.key).await;
    let (other_token, _) = exchange(&app, &http, &app.base_url, other_key).await;
    let two_bearers = balance()
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {other_token}"))
        .header("x-session-id", &session);
    let (status, code, _) = problem(two_bearers.send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "ambiguous_credentials"));
    // One of each still works.
    let single = balance().header("x-api-key", &app.key).send().await.unwrap();
    assert_eq!(single.status(), 200);
}

/// Finding 2: duplicate companion headers, first one wins.
#[tokio::test]
async fn a_companion_header_sent_twice_is_ambiguous() {
    let app = spawn_with(generous_limits).await;
    let http = app.http();
    let (token, session) = exchange(&app, &http, &app.base_url, &app.key).await;
    let (_, other_session) = exchange(&app, &http, &app.base_url, &app.key).await;
    let with_key = || http.get(app.url("/v1/balance")).header("x-api-key", &app.key);
    let now = unix_now().to_string();
    let signature = paygate_proto::signing::sign_request(&app.secret, "GET", "/v1/balance", b"", &now);
    let cases = [
        with_key()
            .header("x-merchant-id", &app.merchant_id)
            .header("x-merchant-id", "MCH-ZA-000000"),
        with_key()
            .header("x-api-secret", &app.secret)
            .header("x-api-secret", "sec_test_wrong"),
        http.get(app.url("/v1/balance"))
            .header("authorization", format!("Bearer {token}"))
            .header("x-session-id", &session)
            .header("x-session-id", &other_session),
        signed(with_key(), &app.secret, "GET", "/v1/balance", b"", &now).header("x-timestamp", &now),
        signed(with_key(), &app.secret, "GET", "/v1/balance", b"", &now).header("x-signature", &signature),
    ];
    for (i, request) in cases.into_iter().enumerate() {
        let (status, code, body) = problem(request.send().await.unwrap()).await;
        assert_eq!(
            (status, code.as_str()),
            (400, "ambiguous_credentials"),
            "case {i}: {body}"
        );
    }
    // Each sent once is accepted.
    let once = signed(
        with_key(),
        &app.secret,
        "GET",
        "/v1/balance",
        b"",
        &unix_now().to_string(),
    )
    .header("x-merchant-id", &app.merchant_id)
    .header("x-api-secret", &app.secret);
    assert_eq!(once.send().await.unwrap().status(), 200);
}

/// Also seen: `x-timestamp` takes digits only.
#[tokio::test]
async fn a_signed_timestamp_with_a_sign_is_refused() {
    let app = spawn_with(generous_limits).await;
    let http = app.http();
    for stamp in [
        format!("+{}", unix_now()),
        format!("{}.0", unix_now()),
        "0x10".to_owned(),
    ] {
        let request = signed(
            http.get(app.url("/v1/balance")).header("x-api-key", &app.key),
            &app.secret,
            "GET",
            "/v1/balance",
            b"",
            &stamp,
        );
        let (status, code, _) = problem(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (401, "timestamp_out_of_range"), "{stamp:?}");
    }
}

async fn create_with(app: &crate::support::TestApp, key: &str, secret: &str, body: Value) -> reqwest::Response {
    app.http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", key)
        .header("x-api-secret", secret)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Finding 3: a `keys:manage` key made a `*` key and rolled one.
#[tokio::test]
async fn a_key_creates_and_rolls_only_keys_within_its_own_scopes() {
    let app = spawn_with(generous_limits).await;
    let manager = create_key(
        &app,
        json!({"name": "manager", "scopes": ["keys:manage", "payments:read"]}),
    )
    .await;
    let (key, secret) = (manager["key"].as_str().unwrap(), manager["secret"].as_str().unwrap());
    for scopes in [
        json!(["*"]),
        json!(["payouts:approve"]),
        json!(["payments:read", "payments:write"]),
    ] {
        let response = create_with(&app, key, secret, json!({"name": "up", "scopes": scopes})).await;
        let (status, code, _) = problem(response).await;
        assert_eq!((status, code.as_str()), (403, "insufficient_scope"), "{scopes}");
    }
    // Leaving the scopes out asks for `*`.
    let (status, code, _) = problem(create_with(&app, key, secret, json!({"name": "default"})).await).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_scope"));
    let within = create_with(
        &app,
        key,
        secret,
        json!({"name": "reader", "scopes": ["payments:read"]}),
    )
    .await;
    assert_eq!(within.status(), 200);
    let same = create_with(
        &app,
        key,
        secret,
        json!({"name": "twin", "scopes": ["keys:manage", "payments:read"]}),
    )
    .await;
    assert_eq!(same.status(), 200);

    // Rolling the sandbox `*` key would hand over a `*` key and its secret.
    let db = app.raw_db().await;
    let star_id: String = sqlx::query_scalar(
        "SELECT id FROM api_keys WHERE env = 'test' AND scopes LIKE '%\"*\"%' ORDER BY created_at LIMIT 1",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    let roll = |id: String| {
        app.http()
            .post(app.url(&format!("/v1/api-keys/{id}/roll")))
            .header("x-api-key", key)
            .header("x-api-secret", secret)
            .send()
    };
    let (status, code, body) = problem(roll(star_id.clone()).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "insufficient_scope"), "{body}");
    assert!(body.get("key").is_none() && body.get("secret").is_none());
    let still: Option<i64> = sqlx::query_scalar("SELECT expires_at FROM api_keys WHERE id = $1")
        .bind(&star_id)
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(still, None, "the refused roll left the key alone");
    let reader_id = within_id(&app, "reader").await;
    assert_eq!(roll(reader_id).await.unwrap().status(), 200);
    // The `*` key may grant anything.
    assert_eq!(
        create_key(&app, json!({"name": "all", "scopes": ["*"]})).await["scopes"],
        json!(["*"])
    );
}

async fn within_id(app: &crate::support::TestApp, name: &str) -> String {
    sqlx::query_scalar("SELECT id FROM api_keys WHERE name = $1")
        .bind(name)
        .fetch_one(&app.raw_db().await)
        .await
        .unwrap()
}

/// Finding 5: a body sent to a route that takes none was ignored, and the
/// action done.
#[tokio::test]
async fn a_body_sent_to_a_route_that_takes_none_is_refused_and_nothing_happens() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    api.fund(10_000, "EUR").await;
    let withdrawal = api.withdraw(4_000, "EUR", "wd-body").await.ok();
    let wd = withdrawal["id"].as_str().unwrap();
    let pending = api
        .post(
            "/v1/payments",
            json!({"amount": 300, "currency": "GBP", "method": "card"}),
        )
        .await
        .ok();
    let payment = pending["id"].as_str().unwrap();

    let approve = format!("/v1/withdrawal-requests/{wd}/approve");
    let refused = api
        .post(
            &approve,
            json!({"amount": 1, "destination": {"type": "bank", "iban": "GB82WEST12345698765432", "name": "X"}}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "validation_failed"),
        "{}",
        refused.body
    );
    let cancel = format!("/v1/payments/{payment}/cancel");
    let refused = api.post(&cancel, json!({"status": "succeeded"})).await;
    assert_eq!((refused.status, refused.code()), (400, "validation_failed"));
    let refused = api.post(&cancel, json!({})).await;
    assert_eq!(
        (refused.status, refused.code()),
        (400, "validation_failed"),
        "an empty object is a body"
    );
    assert_eq!(
        api.get(&format!("/v1/withdrawal-requests/{wd}")).await.ok()["status"],
        "pending_approval"
    );
    assert_eq!(
        api.get(&format!("/v1/payments/{payment}")).await.ok()["status"],
        "requires_payment"
    );

    let token = app
        .http()
        .post(app.url("/v1/auth/token"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", &app.merchant_id)
        .json(&json!({"expires_in": 86_400, "scopes": ["*"]}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(token).await;
    assert_eq!((status, code.as_str()), (400, "validation_failed"));
    // Without the body, each route works as before.
    assert_eq!(api.post_empty(&approve).await.ok()["status"], "paid");
    assert_eq!(api.post_empty(&cancel).await.ok()["status"], "canceled");
}

/// Finding 5, everywhere: every documented operation without a request body
/// refuses one, and every one with a body refuses an unknown field, before
/// anything else happens.
#[tokio::test]
async fn every_operation_refuses_unread_bodies_and_unknown_fields() {
    let app = spawn_with(generous_limits).await;
    let http = app.http();
    let document: Value = http
        .get(app.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let target = path.replace("{id}", "id_missing");
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let body = if operation.get("requestBody").is_some() {
                json!({"zz_not_a_field": 1})
            } else {
                json!({"zz_not_a_field": 1, "amount": 1})
            };
            let response = http
                .request(method.clone(), app.url(&target))
                .header("x-api-key", &app.key)
                .header("x-api-secret", &app.secret)
                .header("idempotency-key", format!("finding-5-{checked}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let (status, code, problem) = problem(response).await;
            assert_eq!(
                (status, code.as_str()),
                (400, "validation_failed"),
                "{method} {path}: {problem}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 35, "only {checked} operations");
}
