//! What the signer keeps in its data directory besides the seed and the
//! audit log: the payout book (`payouts.jsonl`, one signed payout version a
//! line, appended and synced before the answer leaves) and the payout
//! allowlist (`allowlist`, one checksummed address a line, changed only by
//! the operator's `paygate-signer allow` / `disallow`). Both files are 0600.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::eth::Address;
use crate::payout::{PayoutBook, PayoutRecord};

pub const PAYOUTS_FILE: &str = "payouts.jsonl";
pub const ALLOWLIST_FILE: &str = "allowlist";
const ALLOWLIST_LOCK: &str = "allowlist.lock";
const SERVE_LOCK: &str = "serve.lock";

fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// The payout book and the file it is persisted in.
#[derive(Debug)]
pub struct PayoutStore {
    path: PathBuf,
    pub book: PayoutBook,
}

impl PayoutStore {
    /// Loads `DATA_DIR/payouts.jsonl`. A last line without its newline is a
    /// write cut short by a crash (never answered, since an answer waits for
    /// the sync) and is dropped; any other unreadable line stops the signer.
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join(PAYOUTS_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        if complete.len() != text.len() {
            let file = fs::OpenOptions::new().write(true).open(&path)?;
            file.set_len(complete.len() as u64)?;
            file.sync_all()?;
        }
        let mut book = PayoutBook::default();
        for (n, line) in complete.lines().enumerate() {
            let record: PayoutRecord = serde_json::from_str(line)
                .with_context(|| format!("{} line {}: not a payout record", path.display(), n + 1))?;
            book.insert(record);
        }
        Ok(PayoutStore { path, book })
    }

    /// Appends a newly signed version and syncs it, then adds it to the book.
    pub fn append(&mut self, record: PayoutRecord) -> anyhow::Result<()> {
        let created = !self.path.exists();
        let mut file = open_private(&self.path)?;
        writeln!(file, "{}", serde_json::to_string(&record)?)?;
        file.sync_data()?;
        if created {
            if let Some(dir) = self.path.parent() {
                sync_dir(dir)?;
            }
        }
        self.book.insert(record);
        Ok(())
    }
}

/// Holds the data directory's serve lock for the process's life, so two
/// signers never share one payout book and audit log.
/// When `wait` is not zero, a lock held by another process is tried again
/// until `wait` has passed (a sandbox signer whose parent died may still be
/// exiting when the parent's successor starts the next one).
pub fn lock_serving(data_dir: &Path, wait: std::time::Duration) -> anyhow::Result<fs::File> {
    let file = open_private(&data_dir.join(SERVE_LOCK))?;
    let deadline = std::time::Instant::now() + wait;
    while file.try_lock().is_err() {
        if std::time::Instant::now() >= deadline {
            anyhow::bail!("another paygate-signer serves {}", data_dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(file)
}

/// The allowed payout destinations (empty when the file does not exist).
pub fn allowlist(data_dir: &Path) -> anyhow::Result<BTreeSet<Address>> {
    let path = data_dir.join(ALLOWLIST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| Address::parse(line.trim()).map_err(|e| anyhow::anyhow!("{}: {line}: {e}", path.display())))
        .collect()
}

/// Adds (`allowed`) or removes an address, under a lock and by an atomic
/// rename, and returns the list now in force.
pub fn set_allowed(data_dir: &Path, address: Address, allowed: bool) -> anyhow::Result<BTreeSet<Address>> {
    let lock = open_private(&data_dir.join(ALLOWLIST_LOCK))?;
    lock.lock()?;
    let mut list = allowlist(data_dir)?;
    if allowed {
        list.insert(address);
    } else {
        list.remove(&address);
    }
    let tmp = data_dir.join(format!("{ALLOWLIST_FILE}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    for entry in &list {
        writeln!(file, "{}", entry.checksummed())?;
    }
    file.sync_all()?;
    fs::rename(&tmp, data_dir.join(ALLOWLIST_FILE))?;
    sync_dir(data_dir)?;
    lock.unlock()?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_payout_line_is_dropped_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let record = PayoutRecord {
            payout: crate::payout::PayoutIntent {
                payout_id: "po_1".into(),
                token: "0x5FbDB2315678afecb367f032d93F642f64180aa3".into(),
                to: "0x0000000000000000000000000000000000000001".into(),
                amount: "5".into(),
                nonce: 0,
                gas_limit: 60_000,
                max_fee_per_gas: "2".into(),
                max_priority_fee_per_gas: "1".into(),
            },
            first_at: 100,
            from: "0x0000000000000000000000000000000000000002".into(),
            raw_tx: "0x02".into(),
            tx_hash: "0x00".into(),
        };
        let mut store = PayoutStore::open(dir.path()).unwrap();
        store.append(record.clone()).unwrap();
        let path = dir.path().join(PAYOUTS_FILE);
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"payout_id\":\"po_2\",\"tok").unwrap();
        let store = PayoutStore::open(dir.path()).unwrap();
        assert_eq!(store.book.versions("po_1"), [record]);
        assert!(store.book.versions("po_2").is_empty());
        assert!(fs::read_to_string(&path).unwrap().ends_with("}\n"));
        fs::write(&path, "not json\n").unwrap();
        assert!(PayoutStore::open(dir.path()).is_err());
    }

    #[test]
    fn the_allowlist_persists_allow_and_disallow() {
        let dir = tempfile::tempdir().unwrap();
        let a = Address([1u8; 20]);
        let b = Address([2u8; 20]);
        assert!(allowlist(dir.path()).unwrap().is_empty());
        set_allowed(dir.path(), a, true).unwrap();
        set_allowed(dir.path(), b, true).unwrap();
        set_allowed(dir.path(), a, false).unwrap();
        assert_eq!(allowlist(dir.path()).unwrap(), BTreeSet::from([b]));
        let none = std::time::Duration::ZERO;
        let lock = lock_serving(dir.path(), none).unwrap();
        assert!(lock_serving(dir.path(), none).is_err());
        assert!(lock_serving(dir.path(), std::time::Duration::from_millis(200)).is_err());
        drop(lock);
        assert!(lock_serving(dir.path(), none).is_ok());
    }

    #[test]
    fn a_signer_that_may_wait_takes_the_lock_once_the_holder_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock_serving(dir.path(), std::time::Duration::ZERO).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(150));
            drop(held);
        });
        assert!(lock_serving(dir.path(), std::time::Duration::from_secs(5)).is_ok());
        releaser.join().unwrap();
    }
}
