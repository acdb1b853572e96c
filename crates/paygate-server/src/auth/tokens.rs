//! Access tokens (docs/api.md section 4.2): Ed25519-signed JWTs naming their signing key
//! in `kid`. Signing keys are generated here, sealed under the master key,
//! rotated by adding a newer one; the current and previous public keys are
//! the JWK set served at `/.well-known/jwks.json`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use paygate_proto::{Environment, ErrorCode, MerchantId};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::RwLock;

use super::jwt_crypto;
use crate::app::AppState;
use crate::crypto::MasterKey;
use crate::http::{ApiError, ApiResult};
use crate::store::auth::{insert_signing_key, SigningKeyRow};
use crate::store::{Store, StoreResult};

/// Keys kept verifying and published: the current one and the one before.
const PUBLISHED_KEYS: usize = 2;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The merchant ID.
    pub sub: String,
    pub env: String,
    /// The session ID.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Why a presented token was refused, before any session check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Malformed, unknown `kid`, wrong `alg`, bad signature or claims.
    Invalid(&'static str),
}

struct KeySet {
    kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
    /// The epoch the set was loaded at; a rotation bumps the epoch.
    epoch: i64,
}

/// Issues and verifies access tokens.
pub struct TokenService {
    issuer: String,
    keys: RwLock<Option<Arc<KeySet>>>,
}

impl TokenService {
    pub fn new(issuer: String) -> Self {
        jwt_crypto::install();
        Self {
            issuer,
            keys: RwLock::new(None),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key set for `epoch`, loaded (and on first use generated) as needed.
    async fn key_set(&self, store: &Store, master_key: &MasterKey, epoch: i64, now: i64) -> ApiResult<Arc<KeySet>> {
        if let Some(set) = self.keys.read().await.as_ref() {
            if set.epoch == epoch {
                return Ok(set.clone());
            }
        }
        let mut slot = self.keys.write().await;
        if let Some(set) = slot.as_ref() {
            if set.epoch == epoch {
                return Ok(set.clone());
            }
        }
        let mut rows = store.signing_keys().await?;
        if rows.is_empty() {
            add_signing_key(store, master_key, now).await?;
            rows = store.signing_keys().await?;
        }
        let set = Arc::new(build_key_set(&rows, master_key, epoch)?);
        *slot = Some(set.clone());
        Ok(set)
    }

    /// Signs `claims` (an access token's, or another audience's) with the current key.
    pub async fn sign<C: Serialize>(
        &self,
        store: &Store,
        master_key: &MasterKey,
        epoch: i64,
        now: i64,
        claims: &C,
    ) -> ApiResult<String> {
        let set = self.key_set(store, master_key, epoch, now).await?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(set.kid.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &set.signing).map_err(|e| ApiError::internal(format!("jwt sign: {e}")))
    }

    /// Checks the signature, `alg`, `kid`, issuer and claim shapes. Expiry and
    /// the session are the caller's to check, with the configured clock.
    pub async fn verify(
        &self,
        store: &Store,
        master_key: &MasterKey,
        epoch: i64,
        now: i64,
        token: &str,
    ) -> ApiResult<Result<Claims, TokenRejection>> {
        self.verify_as(store, master_key, epoch, now, token, None).await
    }

    /// [`Self::verify`] for claims of type `C`; with `audience`, the token's
    /// `aud` must be exactly that (so tokens of one audience never serve another).
    pub async fn verify_as<C: serde::de::DeserializeOwned>(
        &self,
        store: &Store,
        master_key: &MasterKey,
        epoch: i64,
        now: i64,
        token: &str,
        audience: Option<&str>,
    ) -> ApiResult<Result<C, TokenRejection>> {
        let header = match jsonwebtoken::decode_header(token) {
            Ok(header) => header,
            Err(_) => return Ok(Err(TokenRejection::Invalid("malformed token or unsupported alg"))),
        };
        if header.alg != Algorithm::EdDSA {
            return Ok(Err(TokenRejection::Invalid("alg is not EdDSA")));
        }
        let Some(kid) = header.kid else {
            return Ok(Err(TokenRejection::Invalid("no kid")));
        };
        let set = self.key_set(store, master_key, epoch, now).await?;
        let Some(key) = set.verifying.get(&kid) else {
            return Ok(Err(TokenRejection::Invalid("unknown kid")));
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time is checked by the caller against the configured clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&self.issuer]);
        if let Some(audience) = audience {
            validation.set_audience(&[audience]);
            validation.required_spec_claims.insert("aud".to_owned());
        }
        match jsonwebtoken::decode::<C>(token, key, &validation) {
            Ok(data) => Ok(Ok(data.claims)),
            Err(_) => Ok(Err(TokenRejection::Invalid("signature or claims rejected"))),
        }
    }

    /// The published JWK set.
    pub async fn jwks(&self, store: &Store, master_key: &MasterKey, epoch: i64, now: i64) -> ApiResult<Value> {
        Ok(self.key_set(store, master_key, epoch, now).await?.jwks.clone())
    }
}

fn build_key_set(rows: &[SigningKeyRow], master_key: &MasterKey, epoch: i64) -> ApiResult<KeySet> {
    let current = rows.first().ok_or_else(|| ApiError::internal("no token signing key"))?;
    let pkcs8 = master_key.open(&current.sealed, &signing_key_context(&current.kid))?;
    let signing = EncodingKey::from_ed_der(&pkcs8);
    let published = &rows[..rows.len().min(PUBLISHED_KEYS)];
    let verifying = published
        .iter()
        .map(|row| (row.kid.clone(), DecodingKey::from_ed_der(&row.public_key)))
        .collect();
    let keys: Vec<Value> = published
        .iter()
        .map(|row| {
            json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(&row.public_key),
                "kid": row.kid,
                "alg": "EdDSA",
                "use": "sig",
            })
        })
        .collect();
    Ok(KeySet {
        kid: current.kid.clone(),
        signing,
        verifying,
        jwks: json!({ "keys": keys }),
        epoch,
    })
}

fn signing_key_context(kid: &str) -> String {
    format!("jwt_signing_key:{kid}")
}

/// Generates a new Ed25519 signing key, seals it and makes it current. The
/// previous key keeps verifying (and stays published) until the next one.
pub async fn add_signing_key(store: &Store, master_key: &MasterKey, now: i64) -> StoreResult<String> {
    let rng = SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| crate::store::StoreError::Corrupt("cannot generate an Ed25519 key".to_owned()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| crate::store::StoreError::Corrupt("generated Ed25519 key".to_owned()))?;
    let kid = crate::ids::new_id("kid");
    let sealed = master_key
        .seal(pkcs8.as_ref(), &signing_key_context(&kid))
        .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
    let row = SigningKeyRow {
        kid: kid.clone(),
        public_key: pair.public_key().as_ref().to_vec(),
        sealed,
        created_at: now,
    };
    let mut tx = store.begin_write().await?;
    insert_signing_key(tx.conn(), &row).await?;
    // Keys older than the published ones sign nothing and verify nothing.
    sqlx::query(
        "UPDATE jwt_signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid NOT IN \
         (SELECT kid FROM jwt_signing_keys ORDER BY generation DESC LIMIT 2)",
    )
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(kid)
}

/// The token claims for a new session.
pub fn claims_for(
    issuer: &str,
    merchant: &MerchantId,
    env: Environment,
    session_id: &str,
    now: i64,
    ttl: i64,
) -> Claims {
    Claims {
        iss: issuer.to_owned(),
        sub: merchant.as_str().to_owned(),
        env: env.as_str().to_owned(),
        sid: session_id.to_owned(),
        iat: now,
        exp: now + ttl,
        jti: uuid::Uuid::new_v4().to_string(),
    }
}

/// `GET /.well-known/jwks.json`: the public keys that verify access tokens.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let result = async {
        let epoch = state.auth().epoch(state.store()).await?;
        state
            .auth()
            .tokens()
            .jwks(state.store(), state.master_key(), epoch, state.now())
            .await
    }
    .await;
    match result {
        Ok(set) => {
            let mut response = axum::Json(set).into_response();
            response.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("public, max-age=60"),
            );
            response
        }
        Err(err) => err.into_response(),
    }
}

impl From<TokenRejection> for ApiError {
    fn from(_: TokenRejection) -> Self {
        ApiError::new(ErrorCode::InvalidToken)
    }
}
