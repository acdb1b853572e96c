//! The HD seed and BIP44 derivation: deposit address `i` is
//! `m/44'/60'/0'/0/i`, the hot wallet `m/44'/60'/1'/0/0`.

use std::num::NonZeroU32;

use bitcoin::bip32::{ChildNumber, Xpriv};
use bitcoin::NetworkKind;
use secp256k1::{Secp256k1, SecretKey};
use zeroize::{Zeroize, Zeroizing};

use crate::eth::Address;

/// The highest deposit index (BIP32 normal children stop at 2^31 - 1).
pub const MAX_INDEX: u32 = 0x7fff_ffff;

/// The BIP32 seed. Never printed, zeroed on drop.
pub struct Seed(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Seed([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HdError {
    #[error("a seed is 16 to 64 bytes")]
    SeedLength,
    #[error("a mnemonic is 12 to 24 words")]
    Mnemonic,
    #[error("deposit index out of range")]
    Index,
    #[error("key derivation failed")]
    Derive,
}

/// Which key of the seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPath {
    Deposit(u32),
    HotWallet,
}

impl Seed {
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, HdError> {
        let bytes = Zeroizing::new(bytes);
        if !(16..=64).contains(&bytes.len()) {
            return Err(HdError::SeedLength);
        }
        Ok(Seed(bytes))
    }

    /// A fresh random 32-byte seed.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        Seed(bytes)
    }

    /// The BIP39 seed of a mnemonic (PBKDF2-HMAC-SHA512, 2048 rounds, salt
    /// "mnemonic" + passphrase). The words are normalised by whitespace; the
    /// wordlist checksum is not checked (import of an existing phrase only).
    pub fn from_mnemonic(phrase: &str, passphrase: &str) -> Result<Self, HdError> {
        let words: Vec<&str> = phrase.split_whitespace().collect();
        if !(12..=24).contains(&words.len()) {
            return Err(HdError::Mnemonic);
        }
        let normalised = Zeroizing::new(words.join(" "));
        let salt = Zeroizing::new(format!("mnemonic{passphrase}"));
        let mut out = Zeroizing::new(vec![0u8; 64]);
        let rounds = NonZeroU32::new(2048).ok_or(HdError::Derive)?;
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA512,
            rounds,
            salt.as_bytes(),
            normalised.as_bytes(),
            &mut out,
        );
        Ok(Seed(out))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret key at `path`.
    pub fn secret_key(&self, path: KeyPath) -> Result<SecretKey, HdError> {
        let (account, index) = match path {
            KeyPath::Deposit(i) if i <= MAX_INDEX => (0, i),
            KeyPath::Deposit(_) => return Err(HdError::Index),
            KeyPath::HotWallet => (1, 0),
        };
        let secp = Secp256k1::new();
        let master = Xpriv::new_master(NetworkKind::Main, &self.0).map_err(|_| HdError::Derive)?;
        let hardened = |n| ChildNumber::from_hardened_idx(n).map_err(|_| HdError::Derive);
        let normal = |n| ChildNumber::from_normal_idx(n).map_err(|_| HdError::Derive);
        let path = [
            hardened(44)?,
            hardened(60)?,
            hardened(account)?,
            normal(0)?,
            normal(index)?,
        ];
        let child = master.derive_priv(&secp, &path).map_err(|_| HdError::Derive)?;
        let mut bytes = child.private_key.secret_bytes();
        let key = SecretKey::from_slice(&bytes).map_err(|_| HdError::Derive);
        bytes.zeroize();
        key
    }

    pub fn address(&self, path: KeyPath) -> Result<Address, HdError> {
        Ok(Address::from_secret_key(&self.secret_key(path)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Copied from the project's EVM vectors (testdata/evm.json, whose
    // source line says where they come from).
    fn vectors() -> serde_json::Value {
        let text = include_str!("../../../testdata/evm.json");
        serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
    }

    #[test]
    fn derivation_matches_the_bip44_vectors() {
        let v = vectors();
        let phrase = v["bip44"]["mnemonic"].as_str().unwrap_or_default();
        let seed = Seed::from_mnemonic(phrase, "").unwrap();
        let accounts = v["bip44"]["accounts"].as_array().cloned().unwrap_or_default();
        assert_eq!(accounts.len(), 3);
        for account in accounts {
            let index = account["index"].as_u64().unwrap_or(u64::MAX) as u32;
            let key = seed.secret_key(KeyPath::Deposit(index)).unwrap();
            assert_eq!(
                format!("0x{}", hex::encode(key.secret_bytes())),
                account["private_key"].as_str().unwrap_or("")
            );
            assert_eq!(
                seed.address(KeyPath::Deposit(index)).unwrap().checksummed(),
                account["address"].as_str().unwrap_or("")
            );
        }
    }

    #[test]
    fn the_hot_wallet_is_not_a_deposit_address() {
        let seed = Seed::from_bytes(vec![7u8; 32]).unwrap();
        let hot = seed.address(KeyPath::HotWallet).unwrap();
        for i in 0..5 {
            assert_ne!(seed.address(KeyPath::Deposit(i)).unwrap(), hot);
        }
        assert!(seed.secret_key(KeyPath::Deposit(MAX_INDEX + 1)).is_err());
    }

    #[test]
    fn eip55_vectors() {
        let v = vectors();
        for a in v["eip55_valid"].as_array().cloned().unwrap_or_default() {
            let text = a.as_str().unwrap_or("");
            let parsed = crate::eth::Address::parse(text).unwrap();
            if text[2..].chars().any(|c| c.is_ascii_uppercase()) {
                assert_eq!(parsed.checksummed()[2..], text[2..]);
            }
        }
        for a in v["eip55_invalid_checksum"].as_array().cloned().unwrap_or_default() {
            assert_eq!(
                crate::eth::Address::parse(a.as_str().unwrap_or("")),
                Err(crate::eth::AddressError::Checksum)
            );
        }
    }

    #[test]
    fn seed_debug_is_redacted() {
        let seed = Seed::from_bytes(vec![0xab; 32]).unwrap();
        assert!(!format!("{seed:?}").contains("ab"));
    }
}
