//! The signer's own audit log: one JSON line per decision, each carrying the
//! SHA-256 of the previous line's hash and its own content, so an edited,
//! removed or reordered line breaks the chain `paygate-signer verify` walks.
//!
//! The serving signer and the operator's commands (`allow`, `disallow`) both
//! append; each append holds an exclusive lock on the file and first walks
//! whatever another process appended since, so the chain stays one chain.

use std::fs;
use std::io::{BufRead, BufReader, Read as _, Seek as _, SeekFrom, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub struct AuditLog {
    path: PathBuf,
    seq: u64,
    prev: String,
    /// The file's length as this process last knew it.
    len: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log: {0}")]
    Io(String),
    #[error("audit log line {line}: {reason}")]
    Broken { line: u64, reason: &'static str },
}

fn entry_hash(prev: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(body.to_string().as_bytes());
    hex::encode(hasher.finalize())
}

fn io_error(e: std::io::Error) -> AuditError {
    AuditError::Io(e.to_string())
}

/// Walks the log; returns the number of entries and the last hash.
pub fn verify(path: &Path) -> Result<(u64, String), AuditError> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, GENESIS.to_owned())),
        Err(e) => return Err(io_error(e)),
    };
    file.lock_shared().map_err(io_error)?;
    walk(BufReader::new(&file), 0, GENESIS.to_owned())
}

/// Walks lines that follow entry `count` whose hash is `prev`.
fn walk(reader: impl BufRead, mut count: u64, mut prev: String) -> Result<(u64, String), AuditError> {
    for line in reader.lines() {
        let line = line.map_err(io_error)?;
        count += 1;
        let broken = |reason| AuditError::Broken { line: count, reason };
        let mut entry: Value = serde_json::from_str(&line).map_err(|_| broken("not JSON"))?;
        let object = entry.as_object_mut().ok_or_else(|| broken("not an object"))?;
        let hash = object
            .remove("hash")
            .and_then(|h| h.as_str().map(str::to_owned))
            .ok_or_else(|| broken("no hash"))?;
        if object.get("seq").and_then(Value::as_u64) != Some(count) {
            return Err(broken("sequence number out of order"));
        }
        if object.get("prev").and_then(Value::as_str) != Some(prev.as_str()) {
            return Err(broken("does not chain to the previous line"));
        }
        if entry_hash(&prev, &entry) != hash {
            return Err(broken("content does not match its hash"));
        }
        prev = hash;
    }
    Ok((count, prev))
}

fn open_locked(path: &Path) -> Result<fs::File, AuditError> {
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error)?;
    file.lock().map_err(io_error)?;
    Ok(file)
}

impl AuditLog {
    /// Opens the log, verifying the chain so far (a broken log stops the
    /// signer from starting).
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let mut log = AuditLog {
            path: path.to_path_buf(),
            seq: 0,
            prev: GENESIS.to_owned(),
            len: 0,
        };
        let mut file = open_locked(path)?;
        log.catch_up(&mut file)?;
        Ok(log)
    }

    /// Walks what other processes appended since this one last wrote.
    fn catch_up(&mut self, file: &mut fs::File) -> Result<(), AuditError> {
        let len = file.metadata().map_err(io_error)?.len();
        if len < self.len {
            return Err(AuditError::Broken {
                line: self.seq,
                reason: "the log was truncated",
            });
        }
        if len > self.len {
            file.seek(SeekFrom::Start(self.len)).map_err(io_error)?;
            let appended = BufReader::new(file.take(len - self.len));
            (self.seq, self.prev) = walk(appended, self.seq, self.prev.clone())?;
            self.len = len;
        }
        Ok(())
    }

    /// Appends one decision and syncs it before the answer leaves.
    pub fn record(&mut self, peer_uid: Option<u32>, op: &str, decision: &str, detail: Value) -> Result<(), AuditError> {
        let mut file = open_locked(&self.path)?;
        self.catch_up(&mut file)?;
        let at = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let seq = self.seq + 1;
        let mut entry = json!({
            "seq": seq,
            "at": at,
            "peer_uid": peer_uid,
            "op": op,
            "decision": decision,
            "detail": detail,
            "prev": self.prev,
        });
        let hash = entry_hash(&self.prev, &entry);
        if let Some(object) = entry.as_object_mut() {
            object.insert("hash".to_owned(), Value::String(hash.clone()));
        }
        let line = format!("{entry}\n");
        file.write_all(line.as_bytes()).map_err(io_error)?;
        file.sync_data().map_err(io_error)?;
        self.seq = seq;
        self.prev = hash;
        self.len += line.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_verifies_and_an_edit_breaks_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut log = AuditLog::open(&path).unwrap();
        log.record(Some(1000), "derive_address", "allowed", json!({"index": 0}))
            .unwrap();
        log.record(Some(1000), "sign_bytes", "refused", json!({"reason": "unknown_intent"}))
            .unwrap();
        drop(log);
        let mut log = AuditLog::open(&path).unwrap();
        log.record(None, "sign_sweep", "allowed", json!({"index": 1})).unwrap();
        assert_eq!(verify(&path).unwrap().0, 3);

        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"refused\"", "\"allowed\"")).unwrap();
        assert!(matches!(verify(&path), Err(AuditError::Broken { line: 2, .. })));

        let lines: Vec<&str> = text.lines().collect();
        fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(verify(&path), Err(AuditError::Broken { line: 2, .. })));
        assert!(AuditLog::open(&path).is_err());
    }

    #[test]
    fn two_writers_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut serving = AuditLog::open(&path).unwrap();
        serving.record(Some(1), "hot_wallet", "allowed", json!({})).unwrap();
        let mut operator = AuditLog::open(&path).unwrap();
        operator
            .record(Some(1), "allow", "allowed", json!({"address": "0x01"}))
            .unwrap();
        serving.record(Some(1), "sign_payout", "refused", json!({})).unwrap();
        operator.record(Some(1), "disallow", "allowed", json!({})).unwrap();
        assert_eq!(verify(&path).unwrap(), (4, operator.prev.clone()));
        assert_eq!(serving.seq, 3);
        // A log cut short under a writer is noticed, not extended.
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, &text[..text.len() / 2]).unwrap();
        assert!(serving.record(None, "hot_wallet", "allowed", json!({})).is_err());
    }
}
