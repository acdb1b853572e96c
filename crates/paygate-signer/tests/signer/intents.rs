//! The signer's intents other than payouts: its socket, its policy, its
//! audit log and attestation, and a top-up and a sweep executed by anvil.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{anvil, ask, balance_of, init, mined, rpc, serve, verify, TestToken, SIGNER};

#[test]
fn intents_only_default_deny_audited_and_attested() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let hot = init(&dir);
    let token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let policy = ["--chain-id", "31337", "--token", token];
    let (_child, socket) = serve(&dir, &policy, false);

    assert_eq!(
        std::fs::metadata(&socket)
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o600
    );
    // Deposit index 0 of the anvil mnemonic is its well-known first account.
    let a = ask(&socket, &json!({"op": "derive_address", "index": 0}));
    assert_eq!(a["address"], "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_eq!(ask(&socket, &json!({"op": "hot_wallet"}))["address"], hot.as_str());

    for refused in [
        json!({"op": "sign_bytes", "data": "0xdeadbeef"}),
        json!({"op": "sign_message", "message": "hello"}),
        json!({"op": "export_key", "index": 0}),
        json!({"op": "sign_sweep", "index": 0, "token": "0x0000000000000000000000000000000000000001", "amount": "1", "nonce": 0, "gas_limit": 60000, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "1"}),
        json!({"op": "sign_gas_topup", "index": 0, "value_wei": "1000000000000000000", "nonce": 0, "gas_limit": 21000, "max_fee_per_gas": "1", "max_priority_fee_per_gas": "1"}),
    ] {
        let answer = ask(&socket, &refused);
        assert_eq!(answer["ok"], false, "{refused} was not refused");
        assert!(answer.get("raw_tx").is_none() && answer.get("address").is_none());
        assert!(!answer.to_string().contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478"));
    }

    let out = verify(&dir);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("7 entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = std::fs::read_to_string(dir.join("audit.log")).unwrap();
    assert_eq!(log.matches("\"refused\"").count(), 5);
    assert!(
        !log.contains("ac0974bec39a17e36ba4a6b4d238ff944bacb478"),
        "no key in the audit log"
    );

    let out = Command::new(SIGNER)
        .args(["--data-dir", dir.to_str().unwrap(), "attest", "--json"])
        .args(policy)
        .env_remove("PAYGATE_SIGNER__ALLOWLIST_ONLY")
        .output()
        .unwrap();
    let attest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(attest["tee"], "none");
    assert_eq!(attest["hot_wallet"], hot.as_str());
    let binary = std::fs::read(SIGNER).unwrap();
    use sha2::Digest as _;
    assert_eq!(attest["binary_sha256"], hex::encode(sha2::Sha256::digest(&binary)));
    assert_eq!(attest["policy_sha256"].as_str().unwrap().len(), 64);
    let other: Value = serde_json::from_slice(
        &Command::new(SIGNER)
            .args([
                "--data-dir",
                dir.to_str().unwrap(),
                "attest",
                "--json",
                "--chain-id",
                "1",
                "--token",
                token,
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_ne!(other["policy_sha256"], attest["policy_sha256"]);

    // An edited decision breaks the chain.
    std::fs::write(dir.join("audit.log"), log.replacen("\"refused\"", "\"allowed\"", 1)).unwrap();
    assert!(!verify(&dir).status.success());
}

#[test]
fn a_peer_with_another_uid_is_refused() {
    if !nix_root() {
        eprintln!("SKIPPED: the peer-uid test runs the signer as uid 65534 and needs root and setpriv");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    init(&dir);
    let chown = Command::new("chown")
        .args(["-R", "65534:65534", dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (_child, socket) = serve(&dir, &["--chain-id", "31337"], true);
    // Root passes the socket's mode; the signer's own uid check still refuses it.
    let answer = ask(&socket, &json!({"op": "derive_address", "index": 0}));
    assert_eq!(answer, json!({"ok": false, "error": "peer_refused"}));
}

fn nix_root() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    uid.unwrap_or(false) && Command::new("setpriv").arg("--version").output().is_ok()
}

#[tokio::test]
async fn top_up_and_sweep_signed_by_the_signer_execute_on_anvil() {
    let Some(chain) = anvil().await else { return };
    let url = chain.url.as_str();
    // The USDT-like token: its transfer returns nothing.
    let token = chain.deploy(TestToken::Usdt).await;

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("signer");
    let hot = init(&dir);
    let (_signer, socket) = serve(&dir, &["--chain-id", "31337", "--token", &token], false);
    let deposit = ask(&socket, &json!({"op": "derive_address", "index": 17}))["address"]
        .as_str()
        .unwrap()
        .to_owned();

    chain.mint(&token, &deposit, 2_500_000).await;
    rpc(url, "anvil_setBalance", json!([hot, "0xde0b6b3a7640000"])).await;

    let fees = json!({"max_fee_per_gas": "20000000000", "max_priority_fee_per_gas": "1000000000"});
    let mut topup =
        json!({"op": "sign_gas_topup", "index": 17, "value_wei": "5000000000000000", "nonce": 0, "gas_limit": 21000});
    topup.as_object_mut().unwrap().extend(fees.as_object().unwrap().clone());
    let signed = ask(&socket, &topup);
    assert_eq!(signed["from"], hot.as_str());
    let hash = chain.send_raw(&signed).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(
        rpc(url, "eth_getBalance", json!([deposit, "latest"])).await,
        "0x11c37937e08000"
    );

    let mut sweep =
        json!({"op": "sign_sweep", "index": 17, "token": token, "amount": "2500000", "nonce": 0, "gas_limit": 100000});
    sweep.as_object_mut().unwrap().extend(fees.as_object().unwrap().clone());
    let signed = ask(&socket, &sweep);
    assert_eq!(signed["from"], deposit.as_str());
    let hash = chain.send_raw(&signed).await;
    assert_eq!(mined(url, &hash).await["status"], "0x1");
    assert_eq!(balance_of(url, &token, &hot).await, 2_500_000);
    assert_eq!(balance_of(url, &token, &deposit).await, 0);
}
