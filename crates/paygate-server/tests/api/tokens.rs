//! docs/api.md section 4.2: token exchange, Ed25519 JWTs with `kid`, the JWK set, every
//! 401 of the token path, sessions ending, and IP allowlists on tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use paygate_proto::{Environment, MerchantId};
use paygate_server::auth::tokens::claims_for;
use ring::signature::Ed25519KeyPair;
use serde_json::{json, Value};

use crate::auth_helpers::{create_key, exchange, problem};
use crate::support::{spawn_app, spawn_with, TestApp};

async fn call_with_token(app: &TestApp, token: &str, session: Option<&str>) -> reqwest::Response {
    let mut request = app
        .http()
        .get(app.url("/v1/balance"))
        .header("authorization", format!("Bearer {token}"));
    if let Some(session) = session {
        request = request.header("x-session-id", session);
    }
    request.send().await.expect("request")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_token_works_with_its_session_and_carries_the_contract_claims() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    assert!(uuid::Uuid::parse_str(&session).is_ok_and(|u| u.get_version_num() == 4));
    let response = call_with_token(&app, &token, Some(&session)).await;
    assert_eq!(response.status(), 200);

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let kid = header["kid"].as_str().expect("kid");
    assert_eq!(claims["sub"], app.merchant_id.as_str());
    assert_eq!(claims["env"], "test");
    assert_eq!(claims["sid"], session.as_str());
    for claim in ["iss", "iat", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "{claim} is present");
    }
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 60);

    // The JWK set publishes the signing key; the token verifies against it.
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("kid published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let public = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public)
        .verify(signed.as_bytes(), &signature)
        .expect("the published key verifies the token");
}

#[tokio::test]
async fn forged_tokens_are_invalid() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let parts: Vec<&str> = token.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let mut claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();

    // alg: none, no signature.
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), parts[1]);
    // Signed by another Ed25519 key under the same kid.
    let rng = ring::rand::SystemRandom::new();
    let other = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&rng).unwrap().as_ref()).unwrap();
    let body = format!("{}.{}", parts[0], parts[1]);
    let foreign = format!("{body}.{}", URL_SAFE_NO_PAD.encode(other.sign(body.as_bytes())));
    // An edited payload with the original signature.
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let edited = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    // HS256 keyed with the public key (algorithm confusion).
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let mut hs_header = header.clone();
    hs_header["alg"] = json!("HS256");
    let hs_body = format!("{}.{}", b64(&hs_header), parts[1]);
    let mac = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public_x.as_bytes()),
        hs_body.as_bytes(),
    );
    let confused = format!("{hs_body}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));

    for (what, forged) in [
        ("alg none", none),
        ("another key", foreign),
        ("edited payload", edited),
        ("HS256 with the public key", confused),
        ("garbage", "not.a.token".to_owned()),
    ] {
        let (status, code, _) = problem(call_with_token(&app, &forged, Some(&session)).await).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{what}");
    }
    // The genuine token still works.
    assert_eq!(call_with_token(&app, &token, Some(&session)).await.status(), 200);
}

#[tokio::test]
async fn expired_tokens_and_session_headers_get_their_codes() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let (_, code, _) = problem(call_with_token(&app, &token, None).await).await;
    assert_eq!(code, "session_id_missing");
    let other = uuid::Uuid::new_v4().to_string();
    let (_, code, _) = problem(call_with_token(&app, &token, Some(&other)).await).await;
    assert_eq!(code, "session_mismatch");

    // A token signed by the server's own key, but past its expiry.
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).unwrap();
    let auth = state.auth();
    let epoch = auth.epoch(state.store()).await.unwrap();
    let now = state.now();
    let mut claims = claims_for(
        auth.tokens().issuer(),
        &merchant,
        Environment::Test,
        &session,
        now - 120,
        60,
    );
    let expired = auth
        .tokens()
        .sign(state.store(), state.master_key(), epoch, now, &claims)
        .await
        .unwrap();
    let (status, code, _) = problem(call_with_token(&app, &expired, Some(&session)).await).await;
    assert_eq!((status, code.as_str()), (401, "token_expired"));
    // Within the few seconds of leeway it is still accepted.
    claims.exp = now - 2;
    let fresh = auth
        .tokens()
        .sign(state.store(), state.master_key(), epoch, now, &claims)
        .await
        .unwrap();
    assert_eq!(call_with_token(&app, &fresh, Some(&session)).await.status(), 200);

    // Both credentials at once.
    let both = app
        .http()
        .get(app.url("/v1/balance"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-session-id", &session)
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(both).await;
    assert_eq!((status, code.as_str()), (400, "ambiguous_credentials"));
}

#[tokio::test]
async fn token_exchange_needs_the_key_and_the_merchant_id() {
    let app = spawn_app().await;
    let without_merchant = app
        .http()
        .post(app.url("/v1/auth/token"))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(without_merchant).await;
    assert_eq!((status, code.as_str()), (401, "missing_credentials"));
    let wrong_merchant = app
        .http()
        .post(app.url("/v1/auth/token"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", "MCH-ZA-000000")
        .send()
        .await
        .unwrap();
    let (_, code, _) = problem(wrong_merchant).await;
    assert_eq!(code, "invalid_api_key");
    // A token cannot mint another token.
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let chained = app
        .http()
        .post(app.url("/v1/auth/token"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-session-id", &session)
        .header("x-merchant-id", &app.merchant_id)
        .send()
        .await
        .unwrap();
    let (status, _, _) = problem(chained).await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_a_session_or_revoking_its_key_refuses_its_token_at_once() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let (other_token, other_session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    assert_eq!(call_with_token(&app, &token, Some(&session)).await.status(), 200);
    let ended = app
        .http()
        .delete(app.url(&format!("/v1/auth/sessions/{session}")))
        .header("authorization", format!("Bearer {token}"))
        .header("x-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 200);
    let (status, code, _) = problem(call_with_token(&app, &token, Some(&session)).await).await;
    assert_eq!((status, code.as_str()), (401, "session_revoked"));
    // Other sessions are untouched.
    assert_eq!(
        call_with_token(&app, &other_token, Some(&other_session)).await.status(),
        200
    );
    let unknown = app
        .http()
        .delete(app.url(&format!("/v1/auth/sessions/{}", uuid::Uuid::new_v4())))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Revoking the key (here by the operator's CLI, another process) ends
    // every session made from it on the next request.
    let db = app.raw_db().await;
    let id: String = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(&db)
        .await
        .unwrap();
    let output = tokio::task::block_in_place(|| app.cli(&["--json", "keys", "revoke", &id]));
    assert!(output.status.success());
    let (_, code, _) = problem(call_with_token(&app, &other_token, Some(&other_session)).await).await;
    assert_eq!(code, "session_revoked");
}

fn client_from(app: &TestApp, local: &str) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .local_address(local.parse::<std::net::IpAddr>().unwrap());
    for cert in reqwest::Certificate::from_pem_bundle(&app.ca_pem).unwrap() {
        builder = builder.add_root_certificate(cert);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn allowlists_hold_for_token_exchange_and_for_tokens_made_earlier() {
    let app = spawn_app().await;
    let created = create_key(&app, json!({"name": "office", "allowed_ips": ["127.0.0.1"]})).await;
    let key = created["key"].as_str().unwrap();
    let base = format!("https://127.0.0.1:{}", app.running.local_addr.port());
    let office = client_from(&app, "127.0.0.1");
    let elsewhere = client_from(&app, "127.0.0.2");

    let (token, session) = exchange(&app, &office, &base, key).await;
    let refused = elsewhere
        .post(format!("{base}/v1/auth/token"))
        .header("x-api-key", key)
        .header("x-merchant-id", &app.merchant_id)
        .send()
        .await
        .unwrap();
    let (status, code, _) = problem(refused).await;
    assert_eq!((status, code.as_str()), (403, "ip_not_allowed"));
    let with_token = |client: &reqwest::Client| {
        client
            .get(format!("{base}/v1/balance"))
            .header("authorization", format!("Bearer {token}"))
            .header("x-session-id", &session)
            .send()
    };
    assert_eq!(with_token(&office).await.unwrap().status(), 200);
    let (status, code, _) = problem(with_token(&elsewhere).await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "ip_not_allowed"));
}

#[tokio::test]
async fn token_issuing_is_limited_per_merchant_and_environment() {
    let app = spawn_with(|config| {
        config.rate_limits.token_minute.limit = 3;
    })
    .await;
    for _ in 0..3 {
        exchange(&app, &app.http(), &app.base_url, &app.key).await;
    }
    let refused = app
        .http()
        .post(app.url("/v1/auth/token"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", &app.merchant_id)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers()["ratelimit-limit"], "3");
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    let (_, code, _) = problem(refused).await;
    assert_eq!(code, "rate_limited");
    // Other API calls are not limited by token issuing.
    assert_eq!(app.sdk().balance().await.map(|_| ()).ok(), Some(()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_signing_key_keeps_earlier_tokens_valid_and_signs_new_ones() {
    let app = spawn_app().await;
    let (token, session) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    let kid_of = |t: &str| -> String {
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(t.split('.').next().unwrap()).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let output = tokio::task::block_in_place(|| app.cli(&["--json", "auth", "rotate-signing-key"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(call_with_token(&app, &token, Some(&session)).await.status(), 200);
    let (new_token, _) = exchange(&app, &app.http(), &app.base_url, &app.key).await;
    assert_eq!(kid_of(&new_token), rotated["kid"].as_str().unwrap());
    assert_ne!(kid_of(&new_token), kid_of(&token));
    let jwks: Value = app
        .http()
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2);
    assert!(kids.contains(&kid_of(&token).as_str()) && kids.contains(&kid_of(&new_token).as_str()));
}
