//! docs/api.md sections 3 and 4.1/4.4: key formats, lookups, environments,
//! revocation and the secret check.

use paygate_proto::{ApiKey, Environment, ErrorCode, MerchantId};
use paygate_server::keys::{issue_key, KeySpec};
use serde_json::Value;

use crate::support::spawn_app;

fn tamper(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let i = 12;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[tokio::test]
async fn the_sandbox_key_reads_the_balance_through_the_sdk() {
    let app = spawn_app().await;
    let balance = app.sdk().balance().await.expect("balance");
    assert_eq!(balance.env, Environment::Test);
    assert_eq!(balance.object, "balance");
    let aliased = app
        .http()
        .get(app.url("/v1/balance"))
        .header("apikey", &app.key)
        .send()
        .await
        .expect("req");
    assert_eq!(aliased.status(), 200, "the apikey alias is accepted");
}

#[tokio::test]
async fn a_bad_checksum_is_refused_before_any_lookup() {
    let app = spawn_app().await;
    let tampered = tamper(&app.key);
    assert!(ApiKey::parse(&tampered).is_err());
    // Take the key table away: a key that reached the store would now fail
    // with a 500; one refused by its checksum never gets there.
    let db = app.raw_db().await;
    sqlx::query("ALTER TABLE api_keys RENAME TO api_keys_away")
        .execute(&db)
        .await
        .expect("rename");
    let response = app.sdk_for(&app.key).balance().await.expect_err("store is gone");
    assert_eq!(response.code(), Some(ErrorCode::InternalError));
    let response = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &tampered)
        .send()
        .await
        .expect("req");
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["code"], "invalid_api_key");
    sqlx::query("ALTER TABLE api_keys_away RENAME TO api_keys")
        .execute(&db)
        .await
        .expect("rename back");
}

#[tokio::test]
async fn unknown_revoked_expired_and_foreign_keys_are_all_invalid_api_key() {
    let app = spawn_app().await;
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).expect("id");

    let unknown = ApiKey::generate(Environment::Test, &mut rand::rngs::OsRng);
    let err = app.sdk_for(unknown.expose()).balance().await.expect_err("unknown");
    assert_eq!(err.code(), Some(ErrorCode::InvalidApiKey));

    let expired = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Test,
        &KeySpec {
            expires_at: Some(state.now() - 1),
            ..KeySpec::named("old")
        },
        state.now(),
    )
    .await
    .expect("issue");
    let err = app.sdk_for(expired.key.expose()).balance().await.expect_err("expired");
    assert_eq!(err.code(), Some(ErrorCode::InvalidApiKey));

    let mismatch = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", "MCH-ZA-000000")
        .send()
        .await
        .expect("req");
    assert_eq!(mismatch.json::<Value>().await.expect("json")["code"], "invalid_api_key");
    let matching = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-merchant-id", &app.merchant_id)
        .send()
        .await
        .expect("req");
    assert_eq!(matching.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let sdk = app.sdk();
    sdk.balance().await.expect("works before");
    let db = app.raw_db().await;
    let id: String = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(&db)
        .await
        .expect("id");
    let output = tokio::task::block_in_place(|| app.cli(&["--json", "keys", "revoke", &id]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let err = sdk.balance().await.expect_err("revoked");
    assert_eq!(err.code(), Some(ErrorCode::InvalidApiKey));
}

#[tokio::test]
async fn test_and_live_never_mix() {
    let app = spawn_app().await;
    let state = &app.running.state;
    let merchant = MerchantId::parse(&app.merchant_id).expect("id");
    let live = issue_key(
        state.store(),
        state.master_key(),
        &merchant,
        Environment::Live,
        &KeySpec::named("live"),
        state.now(),
    )
    .await
    .expect("issue");
    assert!(live.key.expose().starts_with("sk_live_"));
    assert!(live.secret.expose().starts_with("sec_live_"));
    // Money in the test environment only, posted through the ledger.
    let test_merchant = merchant.clone();
    state
        .store()
        .write(move |conn| {
            Box::pin(async move {
                paygate_server::ledger::transfer(
                    conn,
                    &test_merchant,
                    Environment::Test,
                    paygate_proto::money::Currency::USD,
                    5000,
                    paygate_server::ledger::Account::ExternalCard,
                    paygate_server::ledger::Account::Available,
                    paygate_server::ledger::Source::new("payment", "pay_seeded"),
                    0,
                )
                .await
            })
        })
        .await
        .expect("posted");
    let test_balance = app.sdk().balance().await.expect("test");
    assert_eq!(test_balance.balances["USD"].available, 5000);
    let live_balance = app.sdk_for(live.key.expose()).balance().await.expect("live");
    assert_eq!(live_balance.env, Environment::Live);
    assert!(
        live_balance.balances.is_empty(),
        "live sees no test money: {live_balance:?}"
    );

    // A key created with a live key is a live key.
    let created: Value = app
        .http()
        .post(app.url("/v1/api-keys"))
        .header("x-api-key", live.key.expose())
        .header("x-api-secret", live.secret.expose())
        .json(&serde_json::json!({"name": "live two"}))
        .send()
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(created["env"], "live");
    assert!(created["key"].as_str().expect("key").starts_with("sk_live_"));
}

#[tokio::test]
async fn the_secret_is_checked_when_sent_and_stored_encrypted() {
    let app = spawn_app().await;
    let ok = app
        .http()
        .get(app.url("/v1/balance"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .send()
        .await
        .expect("req");
    assert_eq!(ok.status(), 200);
    for bad in ["nonsense", &app.secret[..app.secret.len() - 1]] {
        let response = app
            .http()
            .get(app.url("/v1/balance"))
            .header("x-api-key", &app.key)
            .header("x-api-secret", bad)
            .send()
            .await
            .expect("req");
        assert_eq!(
            response.json::<Value>().await.expect("json")["code"],
            "invalid_api_secret"
        );
    }
    // At rest: the key only as a hash, the secret only sealed.
    let db = app.raw_db().await;
    let (hash, prefix, sealed): (String, String, Vec<u8>) =
        sqlx::query_as("SELECT key_hash, prefix, secret_sealed FROM api_keys")
            .fetch_one(&db)
            .await
            .expect("row");
    let mut stored = [hash.as_bytes(), prefix.as_bytes(), &sealed].concat();
    if !app.is_postgres() {
        stored.extend(std::fs::read(app.db_path()).expect("db"));
        stored.extend(std::fs::read(app.data_dir.join("paygate.db-wal")).unwrap_or_default());
    }
    for haystack in [&stored] {
        for needle in [app.key.as_bytes(), app.secret.as_bytes()] {
            assert!(
                !haystack.windows(needle.len()).any(|w| w == needle),
                "a credential is stored in the clear"
            );
        }
    }
}

#[tokio::test]
async fn allowlists_refuse_other_addresses() {
    let app = spawn_app().await;
    let create = |ips: Vec<&str>| {
        app.http()
            .post(app.url("/v1/api-keys"))
            .header("x-api-key", &app.key)
            .header("x-api-secret", &app.secret)
            .json(&serde_json::json!({"name": "office", "allowed_ips": ips}))
            .send()
    };
    let elsewhere: Value = create(vec!["10.0.0.0/8", "2001:db8::/32"])
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    let err = app
        .sdk_for(elsewhere["key"].as_str().expect("key"))
        .balance()
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Some(ErrorCode::IpNotAllowed));
    let here: Value = create(vec!["127.0.0.1"])
        .await
        .expect("req")
        .json()
        .await
        .expect("json");
    assert_eq!(here["allowed_ips"][0], "127.0.0.1/32");
    app.sdk_for(here["key"].as_str().expect("key"))
        .balance()
        .await
        .expect("allowed");
}
