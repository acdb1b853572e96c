//! docs/api.md section 4.3 to 4.5: request signatures, the replay guard, `x-api-secret`,
//! and the security policy that can require signatures or tokens.

use serde_json::json;

use crate::auth_helpers::{backends, exchange, problem, signed, unix_now, use_backend};
use crate::support::{spawn_app, spawn_with};

#[tokio::test]
async fn a_signed_request_passes_once_and_its_replay_is_refused() {
    for redis in backends() {
        replay_is_refused(spawn_with(|c| use_backend(c, &redis)).await).await;
    }
}

async fn replay_is_refused(app: crate::support::TestApp) {
    let ts = unix_now().to_string();
    let target = "/v1/balance?attempt=1";
    let send = || {
        signed(
            app.http().get(app.url(target)).header("x-api-key", &app.key),
            &app.secret,
            "GET",
            target,
            b"",
            &ts,
        )
        .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    let (status, code, _) = problem(send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "signature_reused"));
    // Varying the request (here the query) gives a new signature.
    let other = "/v1/balance?attempt=2";
    let response = signed(
        app.http().get(app.url(other)).header("x-api-key", &app.key),
        &app.secret,
        "GET",
        other,
        b"",
        &ts,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn timestamps_outside_the_window_and_wrong_signatures_are_refused() {
    let app = spawn_app().await;
    let now = unix_now();
    let try_with = |timestamp: String, secret: String, target: &'static str| {
        signed(
            app.http().get(app.url(target)).header("x-api-key", &app.key),
            &secret,
            "GET",
            target,
            b"",
            &timestamp,
        )
        .send()
    };
    let (status, code, body) = problem(
        try_with((now * 1000).to_string(), app.secret.clone(), "/v1/balance?a")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "timestamp_out_of_range"));
    assert!(
        body["detail"].as_str().unwrap().contains("seconds, not milliseconds"),
        "{body}"
    );
    let (_, code, body) = problem(
        try_with((now - 301).to_string(), app.secret.clone(), "/v1/balance?b")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, "timestamp_out_of_range");
    assert!(!body["detail"].as_str().unwrap().contains("milliseconds"));
    let (_, code, _) = problem(
        // A few seconds past the edge: the server's clock moves on while the
        // earlier requests run, and a step of one second would fit it again.
        try_with((now + 305).to_string(), app.secret.clone(), "/v1/balance?c")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, "timestamp_out_of_range");
    assert_eq!(
        try_with((now - 290).to_string(), app.secret.clone(), "/v1/balance?d")
            .await
            .unwrap()
            .status(),
        200
    );
    let wrong = format!("{}x", app.secret);
    let (status, code, _) = problem(try_with(now.to_string(), wrong, "/v1/balance?e").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (401, "invalid_signature"));
    // Signed for another path than the one sent.
    let response = signed(
        app.http().get(app.url("/v1/balance?f")).header("x-api-key", &app.key),
        &app.secret,
        "GET",
        "/v1/balance?g",
        b"",
        &now.to_string(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(problem(response).await.1, "invalid_signature");
}

#[tokio::test]
async fn a_signature_covers_the_body_and_proves_the_secret() {
    let app = spawn_app().await;
    let body = serde_json::to_vec(&json!({"name": "signed"})).unwrap();
    let ts = unix_now().to_string();
    let request = |sent: Vec<u8>| {
        signed(
            app.http()
                .post(app.url("/v1/api-keys"))
                .header("x-api-key", &app.key)
                .header("content-type", "application/json")
                .body(sent),
            &app.secret,
            "POST",
            "/v1/api-keys",
            &body,
            &ts,
        )
        .send()
    };
    let tampered = serde_json::to_vec(&json!({"name": "signeD"})).unwrap();
    assert_eq!(problem(request(tampered).await.unwrap()).await.1, "invalid_signature");
    // Key management needs the secret: the signature proves it.
    assert_eq!(request(body.clone()).await.unwrap().status(), 200);
    let unsigned = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .json(&json!({"name": "unsigned"}))
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(unsigned).await;
    assert_eq!((status, code.as_str()), (401, "api_secret_required"));
}

#[tokio::test]
async fn tokens_sign_with_the_secret_of_their_key() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let ts = unix_now().to_string();
    let response = signed(
        app.http()
            .get(app.url("/v1/balance?t=1"))
            .header("authorization", format!("Bearer {token}"))
            .header("x-session-id", &session),
        &app.secret,
        "GET",
        "/v1/balance?t=1",
        b"",
        &ts,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_policy_can_require_signatures_and_tokens() {
    let app = spawn_app().await;
    let policy: serde_json::Value = app
        .http()
        .get(app.url("/v1/security/policy"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policy, json!({"require_signature": false, "require_token": false}));

    let put = app
        .http()
        .put(app.url("/v1/security/policy"))
        .header("x-api-key", &app.key)
        .json(&json!({"require_signature": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let (status, code, _) = problem(
        app.http()
            .get(app.url("/v1/balance"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "signature_required"));
    let ts = unix_now().to_string();
    let sign_put = |body: serde_json::Value, target: &'static str| {
        let bytes = serde_json::to_vec(&body).unwrap();
        signed(
            app.http()
                .put(app.url(target))
                .header("x-api-key", &app.key)
                .header("content-type", "application/json")
                .body(bytes.clone()),
            &app.secret,
            "PUT",
            target,
            &bytes,
            &ts,
        )
        .send()
    };
    let response = sign_put(json!({"require_token": true}), "/v1/security/policy")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // A plain key call is now refused, except the token exchange.
    let (status, code, _) = problem(
        signed(
            app.http().get(app.url("/v1/balance?k")).header("x-api-key", &app.key),
            &app.secret,
            "GET",
            "/v1/balance?k",
            b"",
            &ts,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((status, code.as_str()), (401, "missing_credentials"));
    let exchange = signed(
        app.http()
            .post(app.url("/v1/auth/token"))
            .header("x-api-key", &app.key)
            .header("x-merchant-id", &app.merchant_id),
        &app.secret,
        "POST",
        "/v1/auth/token",
        b"",
        &ts,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(exchange.status(), 200);
    let body: serde_json::Value = exchange.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let session = body["session_id"].as_str().unwrap();
    let with_token = |target: &'static str, sign: bool| {
        let builder = app
            .http()
            .get(app.url(target))
            .header("authorization", format!("Bearer {token}"))
            .header("x-session-id", session);
        if sign {
            signed(builder, &app.secret, "GET", target, b"", &ts).send()
        } else {
            builder.send()
        }
    };
    assert_eq!(
        problem(with_token("/v1/balance?u", false).await.unwrap()).await.1,
        "signature_required"
    );
    assert_eq!(with_token("/v1/balance?s", true).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_before_the_signature_is_checked() {
    let app = spawn_app().await;
    let body = vec![b'a'; 1024 * 1024 + 10];
    let response = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-timestamp", unix_now().to_string())
        .header("x-signature", "00")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}
