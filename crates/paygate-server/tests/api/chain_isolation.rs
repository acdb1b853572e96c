//! Isolation of the signer's keys (docs/stablecoins.md): `paygate serve`
//! starts the sandbox signer on a seed the test imported into the signer's
//! own directory; the seed is then found in the signer's process memory and
//! in none of the app's memory, environment, database, WAL or logs. (That
//! the socket refuses another uid is tested by paygate-signer's own suite,
//! `a_peer_with_another_uid_is_refused`.)

use serde_json::{json, Value};

use crate::chain_api::crypto;
use crate::chain_api_support::{init_signer, memory_holds, process_children, signer_bin, Anvil, Killed, DEV_ACCOUNTS};
use crate::money_support::Api;

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
