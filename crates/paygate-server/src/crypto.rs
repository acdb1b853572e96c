//! The master key and the secrets it protects at rest (AES-256-GCM).
//!
//! Each ciphertext is stored with the id of the master key that sealed it, so
//! the master key can be rotated, and is bound to its purpose and row by the
//! associated data, so a ciphertext copied into another row does not open.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("a stored secret could not be decrypted")]
    Open,
    #[error("a secret could not be encrypted")]
    Seal,
}

/// Where the master key came from; the sandbox file earns a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    Environment,
    File(PathBuf),
    /// `DATA_DIR/master.key`, beside the database: a sandbox convenience.
    SandboxFile(PathBuf),
}

pub struct MasterKey {
    key: SecretBox<[u8; 32]>,
    id: String,
    source: MasterKeySource,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[redacted]")
            .finish()
    }
}

/// A sealed secret as stored: the master key id and `nonce || ciphertext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl MasterKey {
    /// Resolves the master key: `PAYGATE_MASTER_KEY`, else `master_key_file`,
    /// else `DATA_DIR/master.key`, created (mode 0600) when `create_sandbox`.
    pub fn resolve(
        env_value: Option<SecretString>,
        key_file: &str,
        data_dir: &Path,
        create_sandbox: bool,
    ) -> Result<Self, CryptoError> {
        if let Some(value) = env_value {
            return Self::from_hex(value.expose_secret(), MasterKeySource::Environment);
        }
        if !key_file.is_empty() {
            let path = PathBuf::from(key_file);
            let text = Zeroizing::new(
                fs::read_to_string(&path)
                    .map_err(|_| CryptoError::MasterKey("master_key_file cannot be read".to_owned()))?,
            );
            return Self::from_hex(text.trim(), MasterKeySource::File(path));
        }
        let path = data_dir.join("master.key");
        if !path.exists() {
            if !create_sandbox {
                return Err(CryptoError::MasterKey(
                    "no master key: set PAYGATE_MASTER_KEY (64 hex characters) or master_key_file".to_owned(),
                ));
            }
            let mut bytes = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(bytes.as_mut());
            write_private_file(&path, hex::encode(bytes.as_ref()).as_bytes())
                .map_err(|e| CryptoError::MasterKey(format!("cannot create the sandbox master key file: {e}")))?;
        }
        let text = Zeroizing::new(
            fs::read_to_string(&path).map_err(|_| CryptoError::MasterKey("master.key cannot be read".to_owned()))?,
        );
        Self::from_hex(text.trim(), MasterKeySource::SandboxFile(path))
    }

    fn from_hex(text: &str, source: MasterKeySource) -> Result<Self, CryptoError> {
        let decoded = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| CryptoError::MasterKey("must be 64 hex characters".to_owned()))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::MasterKey("must be 64 hex characters (32 bytes)".to_owned()))?;
        let id = format!("mk_{}", &hex::encode(Sha256::digest(Sha256::digest(bytes)))[..12]);
        Ok(Self {
            key: SecretBox::new(Box::new(bytes)),
            id,
            source,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn source(&self) -> &MasterKeySource {
        &self.source
    }

    pub fn is_sandbox_file(&self) -> bool {
        matches!(self.source, MasterKeySource::SandboxFile(_))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.expose_secret().into())
    }

    /// Encrypts `plaintext`, bound to `context` (purpose and row).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<Sealed, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.id.clone(),
            bytes,
        })
    }

    /// Decrypts a value sealed under this key for the same `context`.
    pub fn open(&self, sealed: &Sealed, context: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.key_id != self.id || sealed.bytes.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.bytes.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }

    /// A 32-byte key for one purpose, derived from the master key
    /// (HMAC-SHA256 over `label`), so no purpose ever uses the master key itself.
    pub fn derive(&self, label: &str) -> zeroize::Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        if let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(self.key.expose_secret()) {
            mac.update(label.as_bytes());
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        out
    }

    /// Decrypts a sealed UTF-8 secret.
    pub fn open_string(&self, sealed: &Sealed, context: &str) -> Result<SecretString, CryptoError> {
        let bytes = self.open(sealed, context)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CryptoError::Open)?;
        Ok(SecretString::from(text.to_owned()))
    }
}

/// Writes a file readable only by its owner (mode 0600), failing if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::resolve(None, "", dir.path(), true).unwrap();
        assert!(key.is_sandbox_file());
        let sealed = key.seal(b"sec_test_abc", "api_secret:key_1").unwrap();
        assert!(!sealed.bytes.windows(12).any(|w| w == b"sec_test_abc"));
        assert_eq!(
            key.open(&sealed, "api_secret:key_1").unwrap().as_slice(),
            b"sec_test_abc"
        );
        assert!(key.open(&sealed, "api_secret:key_2").is_err());
        let again = MasterKey::resolve(None, "", dir.path(), false).unwrap();
        assert_eq!(again.id(), key.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(dir.path().join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn missing_or_bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::resolve(None, "", dir.path(), false).is_err());
        assert!(MasterKey::resolve(Some(SecretString::from("abcd".to_owned())), "", dir.path(), false).is_err());
        let good = SecretString::from("11".repeat(32));
        let key = MasterKey::resolve(Some(good), "", dir.path(), false).unwrap();
        assert_eq!(key.source(), &MasterKeySource::Environment);
        assert!(!format!("{key:?}").contains("1111"));
    }
}
