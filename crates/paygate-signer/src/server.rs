//! The signer's Unix socket: mode 0600, a peer-uid check on every
//! connection (SO_PEERCRED), one JSON intent per line and one JSON answer per
//! line; every decision is written to the audit log before it is answered.

use std::fs;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Mutex;

use crate::audit::AuditLog;
use crate::hd::Seed;
use crate::payout::{self, PayoutDecision, PayoutIntent};
use crate::policy::{Intent, Outcome, Policy, Refusal};
use crate::store::{self, PayoutStore};

/// The longest request line read; longer ones close the connection.
const MAX_LINE: usize = 16 * 1024;

pub struct Signer {
    pub seed: Seed,
    pub policy: Policy,
    pub audit: Mutex<AuditLog>,
    pub data_dir: PathBuf,
    /// Held across a payout's decision, its persistence and its audit line,
    /// so payouts are decided one at a time.
    pub payouts: Mutex<PayoutStore>,
}

/// Whether a peer may talk to the signer: its own uid or one the policy
/// names. An unknown peer (no credentials) is refused.
pub fn peer_allowed(peer_uid: Option<u32>, own_uid: u32, allowed: &[u32]) -> bool {
    match peer_uid {
        Some(uid) => uid == own_uid || allowed.contains(&uid),
        None => false,
    }
}

/// Binds the socket (replacing a stale socket file, never another file) and
/// restricts it to mode 0600. Returns the listener and the signer's uid.
pub fn bind(path: &Path) -> anyhow::Result<(UnixListener, u32)> {
    if let Ok(meta) = fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            anyhow::bail!("{} exists and is not a socket", path.display());
        }
        fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    let own_uid = fs::metadata(path)?.uid();
    Ok((listener, own_uid))
}

pub async fn serve(listener: UnixListener, own_uid: u32, signer: Arc<Signer>) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let signer = signer.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(stream, own_uid, &signer).await {
                eprintln!("paygate-signer: connection closed: {e}");
            }
        });
    }
}

fn answer(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Address(address) => json!({"ok": true, "address": address.checksummed()}),
        Outcome::Signed { from, to, raw, hash } => json!({
            "ok": true,
            "from": from.checksummed(),
            "to": to.checksummed(),
            "raw_tx": format!("0x{}", hex::encode(raw)),
            "tx_hash": format!("0x{}", hex::encode(hash)),
        }),
    }
}

async fn connection(stream: UnixStream, own_uid: u32, signer: &Signer) -> anyhow::Result<()> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let (read, mut write) = stream.into_split();
    if !peer_allowed(peer_uid, own_uid, &signer.policy.allowed_uids) {
        signer
            .audit
            .lock()
            .await
            .record(peer_uid, "connect", "refused", json!({"reason": "peer_uid"}))?;
        write.write_all(b"{\"ok\":false,\"error\":\"peer_refused\"}\n").await?;
        return Ok(());
    }
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE as u64 + 1).read_line(&mut line).await?;
        if n == 0 {
            return Ok(());
        }
        if n > MAX_LINE {
            signer
                .audit
                .lock()
                .await
                .record(peer_uid, "request", "refused", json!({"reason": "too_long"}))?;
            write
                .write_all(b"{\"ok\":false,\"error\":\"refused\",\"reason\":\"too_long\"}\n")
                .await?;
            return Ok(());
        }
        let reply = decide(signer, peer_uid, line.trim()).await?;
        write.write_all(format!("{reply}\n").as_bytes()).await?;
    }
}

/// Decides one request line, records the decision, and returns the answer.
pub async fn decide(signer: &Signer, peer_uid: Option<u32>, line: &str) -> anyhow::Result<Value> {
    let intent: Intent = match serde_json::from_str(line) {
        Ok(intent) => intent,
        Err(_) => {
            let op = serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| {
                    v.get("op")
                        .and_then(Value::as_str)
                        .map(|s| s.chars().take(40).collect::<String>())
                })
                .unwrap_or_default();
            signer
                .audit
                .lock()
                .await
                .record(peer_uid, &op, "refused", json!({"reason": "unknown_intent"}))?;
            return Ok(json!({"ok": false, "error": "refused", "reason": "unknown_intent"}));
        }
    };
    if let Intent::SignPayout(payout) = &intent {
        return decide_payout(signer, peer_uid, payout).await;
    }
    let detail = audit_detail(&intent);
    match signer.policy.decide(&signer.seed, &intent) {
        Ok(outcome) => {
            let mut detail = detail;
            if let (Some(object), Outcome::Signed { hash, .. }) = (detail.as_object_mut(), &outcome) {
                object.insert("tx_hash".to_owned(), json!(format!("0x{}", hex::encode(hash))));
            }
            signer
                .audit
                .lock()
                .await
                .record(peer_uid, intent.name(), "allowed", detail)?;
            Ok(answer(&outcome))
        }
        Err(refusal) => refuse(signer, peer_uid, intent.name(), detail, refusal).await,
    }
}

async fn refuse(
    signer: &Signer,
    peer_uid: Option<u32>,
    op: &str,
    mut detail: Value,
    refusal: Refusal,
) -> anyhow::Result<Value> {
    if let Some(object) = detail.as_object_mut() {
        object.insert("reason".to_owned(), json!(refusal.to_string()));
    }
    signer.audit.lock().await.record(peer_uid, op, "refused", detail)?;
    Ok(json!({"ok": false, "error": "refused", "reason": refusal.to_string()}))
}

/// Decides a payout against the book, persists a newly signed version
/// before it is audited and answered, and answers a repeated request with
/// the version signed before.
async fn decide_payout(signer: &Signer, peer_uid: Option<u32>, intent: &PayoutIntent) -> anyhow::Result<Value> {
    let mut payouts = signer.payouts.lock().await;
    let mut detail = serde_json::to_value(intent)?;
    let allowlist = if signer.policy.allowlist_only {
        match store::allowlist(&signer.data_dir) {
            Ok(list) => list,
            Err(e) => {
                eprintln!("paygate-signer: {e:#}");
                return refuse(signer, peer_uid, "sign_payout", detail, Refusal::Allowlist).await;
            }
        }
    } else {
        Default::default()
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let decision = payout::decide(&signer.policy, &signer.seed, &payouts.book, &allowlist, intent, now);
    let (record, kind) = match decision {
        Err(refusal) => return refuse(signer, peer_uid, "sign_payout", detail, refusal).await,
        Ok(PayoutDecision::Replay(record)) => (record, "replay"),
        Ok(PayoutDecision::Signed { record, replacement }) => {
            payouts.append(record.clone())?;
            (record, if replacement { "replacement" } else { "first" })
        }
    };
    let outcome = record
        .outcome()
        .ok_or_else(|| anyhow::anyhow!("payout {} is stored malformed", record.payout.payout_id))?;
    if let Some(object) = detail.as_object_mut() {
        object.insert("signed".to_owned(), json!(kind));
        object.insert("tx_hash".to_owned(), json!(record.tx_hash));
    }
    signer
        .audit
        .lock()
        .await
        .record(peer_uid, "sign_payout", "allowed", detail)?;
    Ok(answer(&outcome))
}

fn audit_detail(intent: &Intent) -> Value {
    match intent {
        Intent::DeriveAddress { index } => json!({"index": index}),
        Intent::HotWallet => json!({}),
        Intent::SignSweep {
            index,
            token,
            amount,
            nonce,
            ..
        } => {
            json!({"index": index, "token": token, "amount": amount, "nonce": nonce})
        }
        Intent::SignGasTopup {
            index,
            value_wei,
            nonce,
            ..
        } => {
            json!({"index": index, "value_wei": value_wei, "nonce": nonce})
        }
        Intent::SignPayout(_) => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signers_uid_and_named_uids_are_allowed() {
        assert!(peer_allowed(Some(1000), 1000, &[]));
        assert!(peer_allowed(Some(1001), 1000, &[1001]));
        assert!(!peer_allowed(Some(1002), 1000, &[1001]));
        assert!(!peer_allowed(None, 1000, &[1001]));
        assert!(!peer_allowed(Some(0), 1000, &[]));
    }

    #[tokio::test]
    async fn the_socket_is_mode_0600_and_replaces_only_a_stale_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s").join("signer.sock");
        let (listener, _) = bind(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        drop(listener);
        assert!(bind(&path).is_ok());
        let file = dir.path().join("plain");
        fs::write(&file, b"x").unwrap();
        assert!(bind(&file).is_err());
        assert_eq!(fs::read(&file).unwrap(), b"x");
    }
}
