//! The client's protocol handling against a scripted socket peer; the real
//! signer is exercised by the black-box tests (tests/api/chain_api.rs).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::UnixListener;

use super::*;

const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// A peer that answers each line with `reply(request, connection number)`
/// and closes each connection after `per_connection` answers.
fn peer(
    per_connection: usize,
    reply: impl Fn(&Value, usize) -> String + Send + Sync + 'static,
) -> (tempfile::TempDir, PathBuf, Arc<AtomicUsize>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signer.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let reply = reply.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                for _ in 0..per_connection {
                    let Ok(Some(line)) = lines.next_line().await else {
                        return;
                    };
                    let request: Value = serde_json::from_str(&line).unwrap();
                    let _ = write.write_all(reply(&request, n).as_bytes()).await;
                }
            });
        }
    });
    (dir, path, connections)
}

#[tokio::test]
async fn addresses_and_signed_transactions_are_read_and_checked() {
    let (_dir, path, _) = peer(100, |request, _| match request["op"].as_str() {
        Some("hot_wallet") => format!("{{\"ok\":true,\"address\":\"{ADDRESS}\"}}\n"),
        Some("derive_address") if request["index"] == 7 => "{\"ok\":true,\"address\":\"0x1234\"}\n".to_owned(),
        Some("sign_sweep") => {
            assert_eq!(request["amount"], "1000000", "amounts travel as decimal strings");
            assert_eq!(request["max_fee_per_gas"], "2000000000");
            format!(
                "{{\"ok\":true,\"from\":\"{ADDRESS}\",\"to\":\"{ADDRESS}\",\"raw_tx\":\"0x02f8\",\"tx_hash\":\"0x{}\"}}\n",
                "ab".repeat(32)
            )
        }
        _ => "{\"ok\":false,\"error\":\"refused\",\"reason\":\"unknown_intent\"}\n".to_owned(),
    });
    let client = SignerClient::connect(&path).await.unwrap();
    assert_eq!(client.hot_wallet().await.unwrap(), ADDRESS);
    // A malformed address is never passed on.
    assert!(matches!(client.derive_address(7).await, Err(SignerError::Protocol(_))));
    let signed = client
        .sign_sweep(&SweepIntent {
            index: 1,
            token: ADDRESS.to_owned(),
            amount: 1_000_000,
            nonce: 0,
            gas_limit: 60_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1,
        })
        .await
        .unwrap();
    assert_eq!(signed.tx_hash.len(), 66);
    let topup = TopupIntent {
        index: 1,
        value_wei: 1,
        nonce: 0,
        gas_limit: 21_000,
        max_fee_per_gas: 1,
        max_priority_fee_per_gas: 1,
    };
    match client.sign_gas_topup(&topup).await {
        Err(SignerError::Refused(code)) => assert_eq!(code, "unknown_intent"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refusals_carry_the_code_and_a_peer_refusal_fails_connect() {
    let (_dir, path, _) = peer(1, |_, _| "{\"ok\":false,\"error\":\"peer_refused\"}\n".to_owned());
    match SignerClient::connect(&path).await {
        Err(SignerError::Refused(code)) => assert_eq!(code, "peer_refused"),
        other => panic!("{other:?}"),
    }
    // A code that is not a plain identifier is not echoed.
    assert!(matches!(
        refusal(json!({"ok": false, "error": "x\ny"})),
        Err(SignerError::Refused(code)) if code == "refused"
    ));
    assert!(matches!(
        refusal(json!({"address": ADDRESS})),
        Err(SignerError::Protocol(_))
    ));
}

#[tokio::test]
async fn a_closed_connection_is_reopened_and_a_missing_socket_is_unavailable() {
    // Each connection answers once, then closes.
    let (_dir, path, connections) = peer(1, |_, n| {
        let _ = n;
        format!("{{\"ok\":true,\"address\":\"{ADDRESS}\"}}\n")
    });
    let client = SignerClient::connect(&path).await.unwrap();
    for _ in 0..3 {
        assert_eq!(client.hot_wallet().await.unwrap(), ADDRESS);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 4);
    let missing = path.with_file_name("absent.sock");
    assert!(matches!(
        SignerClient::connect(&missing).await,
        Err(SignerError::Unavailable(_))
    ));
    assert_eq!(format!("{client:?}"), format!("SignerClient {{ path: {path:?} }}"));
}

#[tokio::test]
async fn an_endless_answer_is_cut_off() {
    let (_dir, path, _) = peer(1, |_, _| "x".repeat(2 * MAX_ANSWER as usize));
    assert!(matches!(
        SignerClient::connect(&path).await,
        Err(SignerError::Protocol("answer too long"))
    ));
}
