//! The stablecoin API against a real anvil and a real `paygate-signer`:
//! USDC/USDT payments and `ethereum` wallets with custodial addresses from
//! the signer, `422 network_unavailable`, bad input, the start checks
//! (live https only, chain id, token decimals), and the canary isolation
//! test: a seed known to the test is in the signer's memory and nowhere in
//! the app's.

use paygate_server::chain::config::Token;
use paygate_server::clock::SystemClock;
use paygate_server::config::Config;
use paygate_server::serve::{self, ServeOptions};
use serde_json::{json, Value};

use crate::chain_api_support::{
    init_signer, memory_holds, process_children, signer_bin, start_signer, with_chain, Anvil, Killed, DEV_ACCOUNTS,
    DEV_MNEMONIC,
};
use crate::money_support::{generous_limits, live_api, Api};
use crate::support::spawn_with;

fn crypto(amount: Value, currency: &str) -> Value {
    json!({"amount": amount, "currency": currency, "method": "crypto"})
}

#[tokio::test]
async fn stablecoin_payments_and_wallets_get_fresh_custodial_addresses_from_the_signer() {
    let Some(anvil) = Anvil::start().await else { return };
    let signer_dir = tempfile::tempdir().unwrap();
    let (_signer, socket) = start_signer(signer_dir.path(), DEV_MNEMONIC, &anvil);
    let chain = anvil.chain(&[Token::Usdc, Token::Usdt], 3);
    let app = spawn_with(|c| {
        generous_limits(c);
        with_chain(c, chain, &socket);
    })
    .await;
    let api = Api::sandbox(&app);

    let usdc = api
        .post_idem("/v1/payments", crypto(json!(2_500_000), "USDC"), "usdc-1")
        .await
        .ok();
    assert_eq!(usdc["status"], "requires_payment");
    assert_eq!(
        usdc["crypto"],
        json!({"network": "ethereum", "address": DEV_ACCOUNTS[0], "token_contract": anvil.usdc, "confirmations_required": 3}),
        "deposit index 0 of the signer's seed, the configured contract and confirmations"
    );
    // A replay answers the same address and takes no new index.
    let again = api
        .post_idem("/v1/payments", crypto(json!(2_500_000), "USDC"), "usdc-1")
        .await;
    assert!(again.replayed);
    assert_eq!(again.body["crypto"]["address"], DEV_ACCOUNTS[0]);

    let usdt = api.post("/v1/payments", crypto(json!(10), "USDT")).await.ok();
    assert_eq!(usdt["crypto"]["address"], DEV_ACCOUNTS[1]);
    assert_eq!(usdt["crypto"]["token_contract"], json!(anvil.usdt));
    let wallet = api
        .post("/v1/wallet/generate", json!({"network": "ethereum"}))
        .await
        .ok();
    assert_eq!(
        (
            wallet["network"].as_str(),
            wallet["address"].as_str(),
            wallet["payment"].as_str()
        ),
        (Some("ethereum"), Some(DEV_ACCOUNTS[2]), None)
    );
    assert_eq!(wallet["derivation_path"], "m/44'/60'/0'/0/2");

    // The address the API shows is the one a read shows, and BTC answers keep their shape.
    let read = api
        .get(&format!("/v1/payments/{}", usdc["id"].as_str().unwrap()))
        .await
        .ok();
    assert_eq!(read["crypto"], usdc["crypto"]);
    let btc = api.post("/v1/payments", crypto(json!(5000), "BTC")).await.ok();
    assert_eq!(btc["crypto"]["network"], "bitcoin");
    assert!(btc["crypto"].get("token_contract").is_none(), "{btc}");

    // The watcher's rows: one per index, globally unique, tied to their payment.
    let db = app.raw_db().await;
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT derivation_index, address, payment_id FROM wallet_addresses WHERE network = 'ethereum' ORDER BY derivation_index",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let expected: Vec<(i64, String, Option<String>)> = vec![
        (0, DEV_ACCOUNTS[0].to_owned(), usdc["id"].as_str().map(str::to_owned)),
        (1, DEV_ACCOUNTS[1].to_owned(), usdt["id"].as_str().map(str::to_owned)),
        (2, DEV_ACCOUNTS[2].to_owned(), None),
    ];
    assert_eq!(rows, expected);
    let duplicate = sqlx::query(
        "INSERT INTO wallet_addresses (id, merchant_id, env, network, address, derivation_index, payment_id, created_at) \
         VALUES ('wal_dup', $1, 'live', 'ethereum', '0x0000000000000000000000000000000000000001', 1, NULL, 0)",
    )
    .bind(&app.merchant_id)
    .execute(&db)
    .await;
    assert!(
        duplicate.is_err(),
        "an index is never handed out twice, whatever the environment"
    );

    // Live mode has no chain here.
    let live = live_api(&app).await;
    let refused = live.post("/v1/payments", crypto(json!(1_000_000), "USDC")).await;
    assert_eq!(
        (refused.status, refused.code()),
        (422, "network_unavailable"),
        "{:?}",
        refused.body
    );
    let refused = live.post("/v1/wallet/generate", json!({"network": "ethereum"})).await;
    assert_eq!((refused.status, refused.code()), (422, "network_unavailable"));
}

#[tokio::test]
async fn without_a_chain_or_a_token_contract_the_network_is_unavailable() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    for currency in ["USDC", "USDT"] {
        let reply = api.post("/v1/payments", crypto(json!(1_000_000), currency)).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "network_unavailable"),
            "{:?}",
            reply.body
        );
    }
    let reply = api.post("/v1/wallet/generate", json!({"network": "ethereum"})).await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    let address = DEV_ACCOUNTS[1];
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1_000_000, "currency": "USDC", "destination": {"type": "ethereum", "address": address}}),
            "wd-eth-1",
        )
        .await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    // Bitcoin is untouched.
    let btc = api
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    assert_eq!(btc["network"], "bitcoin");

    // A chain with only USDC configured: USDT is named as the missing token.
    let Some(anvil) = Anvil::start().await else { return };
    let signer_dir = tempfile::tempdir().unwrap();
    let (_signer, socket) = start_signer(signer_dir.path(), DEV_MNEMONIC, &anvil);
    let chain = anvil.chain(&[Token::Usdc], 12);
    let app = spawn_with(|c| {
        generous_limits(c);
        with_chain(c, chain, &socket);
    })
    .await;
    let api = Api::sandbox(&app);
    let reply = api.post("/v1/payments", crypto(json!(1_000_000), "USDT")).await;
    assert_eq!((reply.status, reply.code()), (422, "network_unavailable"));
    assert!(
        reply.body["detail"].as_str().unwrap().contains("USDT"),
        "{}",
        reply.body
    );
    let ok = api.post("/v1/payments", crypto(json!(1_000_000), "USDC")).await.ok();
    assert_eq!(ok["crypto"]["confirmations_required"], 12);
}

#[tokio::test]
async fn bad_stablecoin_input_gets_clear_errors() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    // An unknown network.
    let reply = api.post("/v1/wallet/generate", json!({"network": "solana"})).await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "validation_failed"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "network");
    assert_eq!(reply.body["errors"][0]["message"], "must be bitcoin or ethereum");
    // A fractional amount: USDC has 6 decimals and amounts are whole minor units.
    let reply = api.post("/v1/payments", crypto(json!(1.5), "USDC")).await;
    assert_eq!(
        (reply.status, reply.code()),
        (400, "validation_failed"),
        "{:?}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["field"], "amount");
    assert!(
        reply.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("whole number"),
        "{}",
        reply.body
    );
    // Stablecoins are not card currencies, and crypto is not fiat.
    let reply = api
        .post(
            "/v1/payments",
            json!({"amount": 100, "currency": "USDC", "method": "card"}),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["errors"][0]["field"], "currency");
    let reply = api.post("/v1/payments", crypto(json!(100), "EUR")).await;
    assert_eq!(
        reply.body["errors"][0]["message"],
        "crypto payments take BTC, USDC or USDT"
    );

    // Withdrawal destinations: checksum, currency, format.
    let withdraw = |currency: &str, address: &str, key: &str| {
        let body =
            json!({"amount": 1_000_000, "currency": currency, "destination": {"type": "ethereum", "address": address}});
        let (api, key) = (api.clone(), key.to_owned());
        async move { api.post_idem("/v1/withdrawal-requests", body, &key).await }
    };
    let flipped = "0x70997970C51812dc3A010C7d01b50e0d17dc79c8"; // last letter's case changed
    for (currency, address, key) in [
        ("USDC", flipped, "wd-1"),
        ("USDC", "0x7099", "wd-2"),
        ("BTC", DEV_ACCOUNTS[1], "wd-3"),
    ] {
        let reply = withdraw(currency, address, key).await;
        assert_eq!(
            (reply.status, reply.code()),
            (422, "invalid_destination"),
            "{address}: {:?}",
            reply.body
        );
    }
    let reply = withdraw("USDC", flipped, "wd-4").await;
    assert!(
        reply.body["detail"].as_str().unwrap().contains("EIP-55"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn withdrawals_to_ethereum_are_checked_and_never_paid_by_pretence() {
    let Some(anvil) = Anvil::start().await else { return };
    let signer_dir = tempfile::tempdir().unwrap();
    let (_signer, socket) = start_signer(signer_dir.path(), DEV_MNEMONIC, &anvil);
    let chain = anvil.chain(&[Token::Usdc], 12);
    let app = spawn_with(|c| {
        generous_limits(c);
        with_chain(c, chain, &socket);
    })
    .await;
    let api = Api::sandbox(&app);
    // A lower-case address carries no checksum and is accepted; there is no
    // USDC balance until the watcher credits a deposit.
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "USDC", "destination": {"type": "ethereum", "address": DEV_ACCOUNTS[1].to_lowercase()}}),
            "wd-lower",
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "insufficient_funds"),
        "{:?}",
        reply.body
    );
    let reply = api
        .post_idem(
            "/v1/withdrawal-requests",
            json!({"amount": 1, "currency": "USDT", "destination": {"type": "ethereum", "address": DEV_ACCOUNTS[1]}}),
            "wd-usdt",
        )
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (422, "network_unavailable"),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn a_live_chain_takes_https_only_and_a_chain_id_must_match_the_node() {
    let Some(anvil) = Anvil::start().await else { return };
    // Live mode: a plain-http RPC URL is a configuration error naming its key.
    let mut config = Config::default();
    let mut live = anvil.chain(&[Token::Usdc], 12);
    live.chain_id = 1;
    config.chains.live = Some(live);
    config.signer.socket = Some("/run/paygate-signer/signer.sock".into());
    let err = config.validate().unwrap_err();
    assert_eq!(err.key, "chains.live.ethereum.rpc_url");
    // The same through `paygate serve`'s environment: it exits naming the key.
    let data = tempfile::tempdir().unwrap();
    let out = crate::support::paygate(
        data.path(),
        &["serve"],
        &[
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__RPC_URL", &anvil.url),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__CHAIN_ID", "1"),
            ("PAYGATE_SIGNER__SOCKET", "/run/paygate-signer/signer.sock"),
        ],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chains.live.ethereum.rpc_url") && stderr.contains("https"),
        "{stderr}"
    );

    // A chain id the node does not have: the server refuses to start.
    let start = |chain| async move {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            ..Config::default()
        };
        config.chains.test = Some(chain);
        config.signer.socket = Some(dir.path().join("no-signer.sock"));
        let options = ServeOptions {
            config,
            clock: std::sync::Arc::new(SystemClock),
            master_key: None,
            create_sandbox: true,
        };
        serve::start(options)
            .await
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    };
    let mut wrong = anvil.chain(&[Token::Usdc], 12);
    wrong.chain_id = 5;
    let err = start(wrong).await;
    assert!(
        err.contains("chains.test.ethereum.chain_id is 5") && err.contains("31337"),
        "{err}"
    );
    // A token contract that is not a 6-decimal token on this chain.
    let mut not_token = anvil.chain(&[Token::Usdc], 12);
    not_token.tokens.insert(Token::Usdc, DEV_ACCOUNTS[1].to_owned());
    let err = start(not_token).await;
    assert!(err.contains("chains.test.ethereum.tokens.USDC"), "{err}");
    // With the right chain, the next thing missing is the signer itself.
    let err = start(anvil.chain(&[Token::Usdc, Token::Usdt], 12)).await;
    assert!(err.contains("signer.socket"), "{err}");
}

/// A phrase no other test or process uses: the signer takes any words.
fn canary_mnemonic() -> String {
    let words: Vec<String> = (0..12)
        .map(|_| format!("canary{:08x}", rand::random::<u32>()))
        .collect();
    words.join(" ")
}

/// The BIP39 seed of `mnemonic` (empty passphrase), as the signer derives it.
fn bip39_seed(mnemonic: &str) -> Vec<u8> {
    let mut seed = vec![0u8; 64];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        std::num::NonZeroU32::new(2048).unwrap(),
        b"mnemonic",
        mnemonic.as_bytes(),
        &mut seed,
    );
    seed
}

#[tokio::test]
async fn the_canary_seed_lives_in_the_sandbox_signer_and_nowhere_in_the_app() {
    use std::io::BufRead as _;
    use std::os::unix::fs::PermissionsExt as _;
    let Some(anvil) = Anvil::start().await else { return };
    let mnemonic = canary_mnemonic();
    let seed = bip39_seed(&mnemonic);
    let seed_hex = hex::encode(&seed);
    let needles: [&[u8]; 3] = [&seed, seed_hex.as_bytes(), mnemonic.as_bytes()];
    // The operator imports the seed into the signer's own directory; the
    // app only ever starts that signer.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    init_signer(&data.join("signer"), &mnemonic);

    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_paygate"));
    command
        .arg("--data-dir")
        .arg(&data)
        .args(["--json", "serve"])
        .env("PAYGATE_LISTEN", "127.0.0.1:0")
        .env("PAYGATE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("PAYGATE_SIGNER_BIN", signer_bin())
        .env_remove("PAYGATE_MASTER_KEY")
        .env_remove("PAYGATE_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in anvil.env_vars() {
        command.env(key, value);
    }
    let mut server = Killed(command.spawn().expect("paygate serve"));
    let mut stdout = std::io::BufReader::new(server.0.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let banner: Value = serde_json::from_str(&banner).unwrap_or_else(|_| panic!("banner: {banner}"));
    let server_pid = server.0.id();
    let signers: Vec<u32> = process_children(server_pid)
        .into_iter()
        .filter(|(_, name)| name == "paygate-signer")
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(signers.len(), 1, "one sandbox signer, a child of the server");
    let signer_pid = signers[0];

    // The app asks the signer for an address: the canary seed's key 0.
    let ca = std::fs::read(banner["cert_path"].as_str().unwrap()).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let api = Api {
        http,
        base_url: banner["url"].as_str().unwrap().replace("127.0.0.1", "localhost"),
        key: banner["sandbox"]["key"].as_str().unwrap().to_owned(),
        secret: None,
    };
    let payment = api.post("/v1/payments", crypto(json!(1_000_000), "USDC")).await.ok();
    let address = payment["crypto"]["address"].as_str().unwrap().to_owned();
    assert!(
        address.starts_with("0x") && !DEV_ACCOUNTS.contains(&address.as_str()),
        "{address}"
    );

    // The signer holds the seed (which shows the search finds it)...
    let in_signer = memory_holds(signer_pid, &needles);
    let Some(in_signer) = in_signer else {
        eprintln!("SKIPPED: /proc/{signer_pid}/mem cannot be read here (needs root or ptrace rights)");
        return;
    };
    assert!(in_signer[0], "the canary seed is in the signer's memory");
    // ...and the app has none of it: memory, environment, database, WAL, logs.
    let in_server = memory_holds(server_pid, &needles).expect("the server's memory can be read");
    assert_eq!(
        in_server,
        vec![false, false, false],
        "the canary is in the server's memory"
    );
    let environ = std::fs::read(format!("/proc/{server_pid}/environ")).unwrap();
    let signer_environ = std::fs::read(format!("/proc/{signer_pid}/environ")).unwrap();
    assert!(
        signer_environ.is_empty(),
        "the sandbox signer gets an empty environment"
    );
    let socket = data.join("signer/signer.sock");
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server_pid.to_string()])
        .status();
    let exited = tokio::task::spawn_blocking(move || {
        let status = server.0.wait();
        (server, status)
    });
    let (mut server, status) = tokio::time::timeout(std::time::Duration::from_secs(20), exited)
        .await
        .expect("the server stops")
        .unwrap();
    assert!(status.is_ok());
    assert!(
        !std::path::Path::new(&format!("/proc/{signer_pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{signer_pid}/stat")).is_ok_and(|s| s.contains(") Z ")),
        "the sandbox signer stops with the server"
    );
    let mut logs = Vec::new();
    std::io::Read::read_to_end(&mut server.0.stderr.take().unwrap(), &mut logs).unwrap();
    std::io::Read::read_to_end(stdout.get_mut(), &mut logs).unwrap();
    let mut files = vec![("environment", environ), ("logs", logs)];
    for name in ["paygate.db", "paygate.db-wal", "paygate.db-shm"] {
        if let Ok(bytes) = std::fs::read(data.join(name)) {
            files.push((name, bytes));
        }
    }
    assert!(files
        .iter()
        .any(|(name, bytes)| *name == "paygate.db" && !bytes.is_empty()));
    for (name, bytes) in &files {
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "the canary is in the app's {name}"
            );
        }
    }
}
