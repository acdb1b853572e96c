//! The authentication services a running server holds: the credential
//! caches, the token service, the replay guard, the limiter and
//! the audit writer for decisions.

use std::sync::Arc;

use http::{HeaderMap, HeaderValue};
use paygate_proto::{headers, Environment, ErrorCode, MerchantId};
use sha2::{Digest, Sha256};

use super::cache::{CredentialCache, KeyEntry, TokenEntry};
use super::decisions::Decisions;
use super::replay::ReplayGuard;
use super::tokens::TokenService;
use super::Trail;
use crate::app::AppState;
use crate::config::Config;
use crate::http::{ApiError, ApiResult};
use crate::keys::{parse_ip_net, secret_context};
use crate::limits::Limiter;
use crate::store::auth::PolicyRecord;
use crate::store::{KeyRecord, Store};

/// How far past `exp` a token is still accepted: instances' clocks differ
/// slightly (the contract allows at most 30 s, docs/api.md section 4.2).
pub const TOKEN_LEEWAY_SECS: i64 = 5;

pub struct AuthServices {
    cache: CredentialCache,
    tokens: TokenService,
    replay: Arc<dyn ReplayGuard>,
    limiter: Arc<dyn Limiter>,
    decisions: Decisions,
    watch: crate::watch::Watch,
}

impl AuthServices {
    /// Redis-backed replay guard and limiter when `redis_url` is set, else
    /// in-process ones.
    pub fn new(config: &Config, store: &Store) -> Self {
        let (limiter, replay) = crate::limits::from_config(config);
        Self::with(config, store, replay, limiter)
    }

    pub fn with(config: &Config, store: &Store, replay: Arc<dyn ReplayGuard>, limiter: Arc<dyn Limiter>) -> Self {
        let issuer = if config.public_url.is_empty() {
            "paygate".to_owned()
        } else {
            config.public_url.clone()
        };
        Self {
            cache: CredentialCache::default(),
            tokens: TokenService::new(issuer),
            replay,
            limiter,
            decisions: Decisions::new(store.clone()),
            watch: crate::watch::Watch::new(&config.alerts),
        }
    }

    /// The revocation epoch (from memory, see `store::epoch`); caches older
    /// than it are emptied.
    pub async fn epoch(&self, store: &Store) -> ApiResult<i64> {
        let epoch = store.auth_epoch().await?;
        self.cache.sync(epoch);
        Ok(epoch)
    }

    /// The security watch, which raises alerts for bursts and new addresses.
    pub fn watch(&self) -> &crate::watch::Watch {
        &self.watch
    }

    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    pub fn replay(&self) -> &dyn ReplayGuard {
        self.replay.as_ref()
    }

    pub fn limiter(&self) -> &dyn Limiter {
        self.limiter.as_ref()
    }

    pub fn decisions(&self) -> &Decisions {
        &self.decisions
    }

    fn entry(state: &AppState, record: KeyRecord) -> ApiResult<Arc<KeyEntry>> {
        let secret = state
            .master_key()
            .open_string(&record.secret, &secret_context(&record.id))?;
        Ok(Arc::new(KeyEntry {
            scopes: record
                .scopes
                .iter()
                .filter_map(|s| paygate_proto::Scope::parse(s))
                .collect(),
            allowed: record.allowed_ips.iter().filter_map(|e| parse_ip_net(e)).collect(),
            secret,
            record,
        }))
    }

    pub(super) async fn key_by_hash(
        &self,
        state: &AppState,
        epoch: i64,
        hash: &str,
    ) -> ApiResult<Option<Arc<KeyEntry>>> {
        if let Some(entry) = self.cache.key_by_hash(hash) {
            return Ok(Some(entry));
        }
        let Some(record) = state.store().key_by_hash(hash).await? else {
            return Ok(None);
        };
        let entry = Self::entry(state, record)?;
        self.cache.put_key(epoch, Some(hash.to_owned()), entry.clone());
        Ok(Some(entry))
    }

    async fn key_by_id(&self, state: &AppState, epoch: i64, id: &str) -> ApiResult<Option<Arc<KeyEntry>>> {
        if let Some(entry) = self.cache.key_by_id(id) {
            return Ok(Some(entry));
        }
        let Some(record) = state.store().key_by_id(id).await? else {
            return Ok(None);
        };
        let entry = Self::entry(state, record)?;
        self.cache.put_key(epoch, None, entry.clone());
        Ok(Some(entry))
    }

    pub async fn policy(
        &self,
        store: &Store,
        epoch: i64,
        merchant: &MerchantId,
        env: Environment,
    ) -> ApiResult<PolicyRecord> {
        if let Some(policy) = self.cache.policy(merchant, env) {
            return Ok(policy);
        }
        let policy = store.policy(merchant, env).await?;
        self.cache.put_policy(epoch, merchant, env, policy);
        Ok(policy)
    }

    /// Verifies a bearer token and its session; returns the key behind it
    /// and the session ID.
    pub(super) async fn verify_token(
        &self,
        state: &AppState,
        epoch: i64,
        presented: &HeaderValue,
        headers: &HeaderMap,
        now: i64,
        trail: &mut Trail,
    ) -> Result<(Arc<KeyEntry>, String), ApiError> {
        let invalid = |trail: &mut Trail, why: &'static str| {
            trail.reason = Some(why);
            ApiError::new(ErrorCode::InvalidToken)
        };
        let token = presented
            .to_str()
            .ok()
            .and_then(|v| {
                let v = v.trim();
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| invalid(trail, "not a bearer token"))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let verified = match self.cache.token(&digest) {
            Some(entry) => entry,
            None => {
                let claims = match self
                    .tokens
                    .verify(state.store(), state.master_key(), epoch, now, token)
                    .await?
                {
                    Ok(claims) => claims,
                    Err(super::tokens::TokenRejection::Invalid(why)) => return Err(invalid(trail, why)),
                };
                let merchant_id = MerchantId::parse(&claims.sub).map_err(|_| invalid(trail, "bad sub"))?;
                let env = Environment::parse(&claims.env).ok_or_else(|| invalid(trail, "bad env"))?;
                let entry = Arc::new(TokenEntry {
                    claims,
                    merchant_id,
                    env,
                });
                self.cache.put_token(epoch, digest, entry.clone());
                entry
            }
        };
        let claims = &verified.claims;
        trail.session_id = Some(claims.sid.clone());
        if now > claims.exp + TOKEN_LEEWAY_SECS {
            return Err(ApiError::new(ErrorCode::TokenExpired));
        }
        if let Some(claimed) = headers.get(headers::MERCHANT_ID) {
            if claimed.as_bytes() != claims.sub.as_bytes() {
                return Err(invalid(trail, "x-merchant-id does not match the token"));
            }
        }
        let Some(session_id) = headers.get(headers::SESSION_ID) else {
            return Err(ApiError::new(ErrorCode::SessionIdMissing));
        };
        if session_id.to_str().map(str::trim).ok() != Some(claims.sid.as_str()) {
            return Err(ApiError::new(ErrorCode::SessionMismatch));
        }
        let session = match self.cache.session(&claims.sid) {
            Some(session) => session,
            None => {
                let session = state
                    .store()
                    .session(&claims.sid)
                    .await?
                    .ok_or_else(|| invalid(trail, "unknown session"))?;
                let session = Arc::new(session);
                self.cache.put_session(epoch, session.clone());
                session
            }
        };
        if session.merchant_id != verified.merchant_id || session.env != verified.env {
            return Err(invalid(trail, "session belongs elsewhere"));
        }
        let key = self
            .key_by_id(state, epoch, &session.key_id)
            .await?
            .ok_or_else(|| invalid(trail, "session key missing"))?;
        trail.key = Some(key.clone());
        if session.revoked_at.is_some() {
            trail.reason = Some("session ended");
            return Err(ApiError::new(ErrorCode::SessionRevoked));
        }
        if !crate::key_age::works(&key.record, &state.config().auth, now) {
            trail.reason = Some("the key behind the session was revoked or expired");
            return Err(ApiError::new(ErrorCode::SessionRevoked));
        }
        Ok((key, session.id.clone()))
    }
}
