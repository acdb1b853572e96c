//! The seed at rest: AES-256-GCM under the signer's own seal key (never the
//! app's master key), bound to its purpose by the associated data.
//!
//! Files in the signer's data directory, each mode 0600: `seed.sealed`
//! (`nonce || ciphertext`) and, unless `PAYGATE_SIGNER_SEAL_KEY` supplies the
//! key (64 hex digits), `seal.key`.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::hd::Seed;

const NONCE_LEN: usize = 12;
const AAD: &[u8] = b"paygate-signer/seed/v1";
pub const SEAL_KEY_ENV: &str = "PAYGATE_SIGNER_SEAL_KEY";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the signer is already initialised ({0} exists)")]
    Exists(PathBuf),
    #[error("the signer is not initialised: run `paygate-signer init`")]
    Missing,
    #[error("the seal key is not 64 hexadecimal digits")]
    KeyFormat,
    #[error("the sealed seed does not open under this seal key")]
    Open,
    #[error("{0}")]
    Io(String),
}

fn io(context: &str, e: std::io::Error) -> SealError {
    SealError::Io(format!("{context}: {e}"))
}

pub struct SealKey(Zeroizing<[u8; 32]>);

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SealError> {
    if path.exists() {
        return Err(SealError::Exists(path.to_path_buf()));
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("create", e))?;
    file.write_all(bytes).map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("sync", e))
}

impl SealKey {
    fn from_hex(text: &str) -> Result<Self, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut key[..]).map_err(|_| SealError::KeyFormat)?;
        Ok(SealKey(key))
    }

    /// The environment's key, else `DATA_DIR/seal.key`, created when `create`.
    pub fn resolve(data_dir: &Path, create: bool) -> Result<Self, SealError> {
        if let Ok(value) = std::env::var(SEAL_KEY_ENV) {
            let value = Zeroizing::new(value);
            return Self::from_hex(&value);
        }
        let path = data_dir.join("seal.key");
        if !path.exists() && create {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut key[..]);
            let text = Zeroizing::new(hex::encode(&key[..]));
            write_private(&path, text.as_bytes())?;
        }
        let text = Zeroizing::new(fs::read_to_string(&path).map_err(|_| SealError::Missing)?);
        Self::from_hex(&text)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new((&*self.0).into())
    }
}

/// Creates the data directory (0700) and writes the sealed seed.
pub fn store(data_dir: &Path, key: &SealKey, seed: &Seed) -> Result<(), SealError> {
    fs::create_dir_all(data_dir).map_err(|e| io("data dir", e))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700)).map_err(|e| io("data dir", e))?;
    let path = data_dir.join("seed.sealed");
    if path.exists() {
        return Err(SealError::Exists(path));
    }
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: seed.expose(),
                aad: AAD,
            },
        )
        .map_err(|_| SealError::Io("seal".to_owned()))?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&ciphertext);
    write_private(&path, &bytes)
}

/// Opens the sealed seed.
pub fn load(data_dir: &Path, key: &SealKey) -> Result<Seed, SealError> {
    let bytes = fs::read(data_dir.join("seed.sealed")).map_err(|_| SealError::Missing)?;
    if bytes.len() <= NONCE_LEN {
        return Err(SealError::Open);
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let plain = key
        .cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: AAD,
            },
        )
        .map_err(|_| SealError::Open)?;
    Seed::from_bytes(plain).map_err(|_| SealError::Open)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_seed_opens_only_under_its_key_and_is_not_in_the_clear() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("signer");
        let key = SealKey::from_hex(&"11".repeat(32)).unwrap();
        let seed = Seed::from_bytes(b"canary-seed-0123456789abcdef!!".to_vec()).unwrap();
        store(&data, &key, &seed).unwrap();
        let raw = fs::read(data.join("seed.sealed")).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"canary-seed-"));
        let mode = fs::metadata(data.join("seed.sealed")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&data, &key).unwrap().expose(), seed.expose());
        let other = SealKey::from_hex(&"22".repeat(32)).unwrap();
        assert!(matches!(load(&data, &other), Err(SealError::Open)));
        assert!(matches!(store(&data, &key, &seed), Err(SealError::Exists(_))));
    }
}
