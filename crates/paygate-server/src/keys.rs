//! Issuing API keys: the key (shown once, stored as a hash) and its secret
//! (shown once, stored sealed under the master key).

use ipnet::IpNet;
use paygate_proto::{ApiKey, ApiSecret, Environment, MerchantId, Scope};
use rand::rngs::OsRng;

use crate::crypto::MasterKey;
use crate::ids;
use crate::store::{NewKey, Store, StoreError};

/// A freshly issued key with its secret: the only time either is readable.
pub struct IssuedKey {
    pub id: String,
    pub merchant_id: MerchantId,
    pub env: Environment,
    pub key: ApiKey,
    pub secret: ApiSecret,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("id", &self.id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl From<IssueError> for crate::http::ApiError {
    fn from(err: IssueError) -> Self {
        crate::http::ApiError::internal(err)
    }
}

/// What a new key may do and from where.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub allowed_ips: Vec<IpNet>,
    pub expires_at: Option<i64>,
}

impl KeySpec {
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            scopes: vec![Scope::All],
            allowed_ips: Vec::new(),
            expires_at: None,
        }
    }
}

/// The associated data that binds a sealed API secret to its key row.
pub fn secret_context(key_id: &str) -> String {
    format!("api_secret:{key_id}")
}

/// Parses an allowlist entry: an address (a host route) or a CIDR.
pub fn parse_ip_net(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

/// Issues a key and secret for `merchant` in `env`.
pub async fn issue_key(
    store: &Store,
    master_key: &MasterKey,
    merchant: &MerchantId,
    env: Environment,
    spec: &KeySpec,
    now: i64,
) -> Result<IssuedKey, IssueError> {
    let row = prepare_key(master_key, merchant, env, spec, now)?;
    store.insert_key(&row.record).await?;
    Ok(row.issued)
}

/// A key ready to be inserted, in a caller's own transaction if need be.
pub struct PreparedKey {
    pub record: NewKey,
    pub issued: IssuedKey,
}

pub fn prepare_key(
    master_key: &MasterKey,
    merchant: &MerchantId,
    env: Environment,
    spec: &KeySpec,
    now: i64,
) -> Result<PreparedKey, IssueError> {
    if env == Environment::Live && master_key.is_sandbox_file() {
        tracing::warn!(
            merchant_id = %merchant,
            "a live key was issued while the master key is kept beside the database; supply PAYGATE_MASTER_KEY or master_key_file in production"
        );
    }
    let id = ids::new_id("key");
    let key = ApiKey::generate(env, &mut OsRng);
    let secret = ApiSecret::generate(env, &mut OsRng);
    let sealed = master_key.seal(secret.expose().as_bytes(), &secret_context(&id))?;
    let record = NewKey {
        id: id.clone(),
        merchant_id: merchant.clone(),
        env,
        name: spec.name.clone(),
        key_hash: key.lookup_hash(),
        prefix: key.masked(),
        secret: sealed,
        scopes: spec.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        allowed_ips: spec.allowed_ips.iter().map(|n| n.to_string()).collect(),
        created_at: now,
        expires_at: spec.expires_at,
    };
    Ok(PreparedKey {
        record,
        issued: IssuedKey {
            id,
            merchant_id: merchant.clone(),
            env,
            key,
            secret,
        },
    })
}
