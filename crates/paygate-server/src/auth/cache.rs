//! Caches of what authentication reads on every request: keys (by hash and
//! by id, with the opened secret), sessions, policies and verified tokens.
//!
//! Correctness comes from the revocation epoch: every change that can end a
//! credential bumps `auth_epoch` in its own transaction (in any process), each
//! request asks the store for the epoch first (answered from memory, see
//! `store::epoch`), and a new epoch empties these caches. So a revocation is
//! effective on the next request in the process that made it and in the CLI's
//! case on the same SQLite file, and within a second on other instances.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use paygate_proto::{Environment, MerchantId, Scope};
use secrecy::SecretString;

use super::tokens::Claims;
use crate::store::auth::{PolicyRecord, SessionRecord};
use crate::store::KeyRecord;

/// Entries kept per map before it is emptied (a bound, not a tuning knob).
const MAX_ENTRIES: usize = 50_000;

/// A key as authentication needs it, parsed once.
pub struct KeyEntry {
    pub record: KeyRecord,
    pub scopes: Vec<Scope>,
    pub allowed: Vec<IpNet>,
    /// The API secret, opened from its sealed form.
    pub secret: SecretString,
}

/// A token whose signature and claims were verified once.
pub struct TokenEntry {
    pub claims: Claims,
    pub merchant_id: MerchantId,
    pub env: Environment,
}

struct Maps {
    epoch: i64,
    keys_by_hash: HashMap<String, Arc<KeyEntry>>,
    keys_by_id: HashMap<String, Arc<KeyEntry>>,
    sessions: HashMap<String, Arc<SessionRecord>>,
    policies: HashMap<(MerchantId, Environment), PolicyRecord>,
    tokens: HashMap<[u8; 32], Arc<TokenEntry>>,
}

pub struct CredentialCache {
    maps: RwLock<Maps>,
}

fn bounded_insert<K: Eq + Hash, V>(map: &mut HashMap<K, V>, key: K, value: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(key, value);
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self {
            maps: RwLock::new(Maps {
                epoch: i64::MIN,
                keys_by_hash: HashMap::new(),
                keys_by_id: HashMap::new(),
                sessions: HashMap::new(),
                policies: HashMap::new(),
                tokens: HashMap::new(),
            }),
        }
    }
}

impl CredentialCache {
    /// Empties every map when `epoch` is newer than the one they were filled
    /// at. Epochs only grow, so a request holding an older reading never
    /// rolls the maps back.
    pub fn sync(&self, epoch: i64) {
        let stale = self.maps.read().map(|m| m.epoch < epoch).unwrap_or(true);
        if stale {
            let mut maps = self.maps.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if maps.epoch < epoch {
                maps.epoch = epoch;
                maps.keys_by_hash.clear();
                maps.keys_by_id.clear();
                maps.sessions.clear();
                maps.policies.clear();
                maps.tokens.clear();
            }
        }
    }

    fn read<T>(&self, f: impl FnOnce(&Maps) -> Option<T>) -> Option<T> {
        self.maps.read().ok().and_then(|m| f(&m))
    }

    /// Stores a value only if the maps are still at `epoch`, so a value read
    /// before a revocation is never kept after it.
    fn write(&self, epoch: i64, f: impl FnOnce(&mut Maps)) {
        if let Ok(mut maps) = self.maps.write() {
            if maps.epoch == epoch {
                f(&mut maps);
            }
        }
    }

    pub fn key_by_hash(&self, hash: &str) -> Option<Arc<KeyEntry>> {
        self.read(|m| m.keys_by_hash.get(hash).cloned())
    }

    pub fn key_by_id(&self, id: &str) -> Option<Arc<KeyEntry>> {
        self.read(|m| m.keys_by_id.get(id).cloned())
    }

    pub fn put_key(&self, epoch: i64, hash: Option<String>, entry: Arc<KeyEntry>) {
        self.write(epoch, |m| {
            if let Some(hash) = hash {
                bounded_insert(&mut m.keys_by_hash, hash, entry.clone());
            }
            bounded_insert(&mut m.keys_by_id, entry.record.id.clone(), entry);
        });
    }

    pub fn session(&self, id: &str) -> Option<Arc<SessionRecord>> {
        self.read(|m| m.sessions.get(id).cloned())
    }

    pub fn put_session(&self, epoch: i64, session: Arc<SessionRecord>) {
        self.write(epoch, |m| bounded_insert(&mut m.sessions, session.id.clone(), session));
    }

    pub fn policy(&self, merchant: &MerchantId, env: Environment) -> Option<PolicyRecord> {
        self.read(|m| m.policies.get(&(merchant.clone(), env)).copied())
    }

    pub fn put_policy(&self, epoch: i64, merchant: &MerchantId, env: Environment, policy: PolicyRecord) {
        self.write(epoch, |m| {
            bounded_insert(&mut m.policies, (merchant.clone(), env), policy)
        });
    }

    pub fn token(&self, digest: &[u8; 32]) -> Option<Arc<TokenEntry>> {
        self.read(|m| m.tokens.get(digest).cloned())
    }

    pub fn put_token(&self, epoch: i64, digest: [u8; 32], entry: Arc<TokenEntry>) {
        self.write(epoch, |m| bounded_insert(&mut m.tokens, digest, entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_epoch_empties_the_maps_and_an_older_reading_changes_nothing() {
        let cache = CredentialCache::default();
        let merchant = MerchantId::parse("MCH-ZA-7K2Q9X").unwrap();
        cache.sync(2);
        cache.put_policy(2, &merchant, Environment::Test, PolicyRecord::default());
        assert!(cache.policy(&merchant, Environment::Test).is_some());
        // A request that read the epoch earlier neither clears nor stores.
        cache.sync(1);
        assert!(cache.policy(&merchant, Environment::Test).is_some());
        cache.put_policy(1, &merchant, Environment::Live, PolicyRecord::default());
        assert!(cache.policy(&merchant, Environment::Live).is_none());
        // A revocation (epoch 3) empties everything.
        cache.sync(3);
        assert!(cache.policy(&merchant, Environment::Test).is_none());
    }
}
