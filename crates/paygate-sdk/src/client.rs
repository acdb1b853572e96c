//! The client, its builder, and the one path every request takes: the
//! credentials of the configured auth mode, a fresh signature per attempt,
//! an `Idempotency-Key` on every state-changing request, and retries of
//! what is safe to repeat.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paygate_proto::auth::TokenResponse;
use paygate_proto::signing::sign_request;
use paygate_proto::{headers, ErrorCode, Problem};
use rand::RngCore as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Method;
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{CachedToken, Credentials};
use crate::builder::ClientBuilder;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::response::{decode, retry_after, RawResponse};
use crate::retry::{Outcome, RetryPolicy};

struct Inner {
    http: reqwest::Client,
    endpoint: Endpoint,
    tls: Arc<rustls::ClientConfig>,
    credentials: Credentials,
    retry: RetryPolicy,
}

/// A Paygate API client. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    idempotency_key: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.endpoint.base)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// Which credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// The configured mode: the key, or an access token.
    Merchant,
    /// `POST /v1/auth/token`: the key and merchant ID.
    Exchange,
    /// Public routes (`/v1/leaked-keys`): no credential at all.
    Public,
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Client {
    /// A builder for the server at `base_url` (e.g. `https://localhost:8443`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
    }

    /// The client a checked [`ClientBuilder`] makes.
    pub(crate) fn from_parts(
        http: reqwest::Client,
        endpoint: Endpoint,
        tls: Arc<rustls::ClientConfig>,
        credentials: Credentials,
        retry: RetryPolicy,
    ) -> Client {
        Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                tls,
                credentials,
                retry,
            }),
            idempotency_key: None,
        }
    }

    /// A client whose state-changing requests carry this `Idempotency-Key`
    /// (as given) instead of a generated one. Use it to make a request you
    /// may repeat later, e.g. after a crash, act once.
    pub fn with_idempotency_key(&self, key: impl Into<String>) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            idempotency_key: Some(key.into()),
        }
    }

    /// The environment of the configured key.
    pub fn environment(&self) -> paygate_proto::Environment {
        self.inner.credentials.api_key.environment()
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    pub(crate) fn tls(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.inner.tls)
    }

    /// `POST /v1/auth/token`: a new access token and session. Clients built
    /// with [`ClientBuilder::access_tokens`] call this themselves.
    pub async fn exchange_token(&self) -> Result<TokenResponse, Error> {
        let raw = self
            .execute(Method::POST, "/v1/auth/token", None, Auth::Exchange)
            .await?;
        decode(&raw)
    }

    fn fetch_token(&self) -> BoxFuture<'_, Result<CachedToken, Error>> {
        Box::pin(async move {
            let started = Instant::now();
            let token = self.exchange_token().await?;
            Ok(CachedToken::new(
                SecretString::from(token.access_token),
                token.session_id,
                Duration::from_secs(token.expires_in),
                started,
            ))
        })
    }

    /// Sends an authenticated request with a JSON body (or none) and decodes
    /// a 2xx JSON answer; anything else is an [`Error`].
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, Error> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Config(e.to_string()))?;
        let raw = self.execute(method, path, body, Auth::Merchant).await?;
        decode(&raw)
    }

    /// Sends an authenticated request and returns the final answer as
    /// received (after any retries), whatever its status.
    pub async fn send_raw(&self, method: Method, path: &str, body: Option<&[u8]>) -> Result<RawResponse, Error> {
        self.execute(method, path, body.map(<[u8]>::to_vec), Auth::Merchant)
            .await
    }

    pub(crate) async fn execute(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth,
    ) -> Result<RawResponse, Error> {
        if !path.starts_with('/') {
            return Err(Error::InvalidArgument("a request path starts with /".to_owned()));
        }
        let idempotency_key = (method != Method::GET && auth != Auth::Exchange).then(|| {
            self.idempotency_key
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
        });
        let safe_to_repeat =
            method == Method::GET || method == Method::PUT || (method == Method::POST && idempotency_key.is_some());
        let mut retry = 0;
        let mut rejected_token: Option<Arc<CachedToken>> = None;
        let mut renewed = false;
        loop {
            let token = match (&self.inner.credentials.tokens, auth) {
                (Some(cache), Auth::Merchant) => Some(cache.get(rejected_token.as_ref(), || self.fetch_token()).await?),
                _ => None,
            };
            let sent = self
                .attempt(
                    &method,
                    path,
                    body.as_deref(),
                    auth,
                    idempotency_key.as_deref(),
                    token.as_deref(),
                )
                .await;
            if matches!(&sent, Ok(raw) if raw.is_success()) {
                return sent;
            }
            let outcome = match &sent {
                // A certificate TLS refused will not change, nor will a
                // request the client could not build.
                Err(Error::Transport(err)) if !is_tls_refusal(err) => Outcome::Transport,
                Err(_) => return sent,
                Ok(raw) => {
                    let problem = serde_json::from_slice::<Problem>(&raw.body).ok();
                    let code = problem.map(|p| p.code);
                    if code == Some(ErrorCode::TokenExpired) && token.is_some() && !renewed {
                        // Renew once and send again: the request was refused unread.
                        renewed = true;
                        rejected_token = token;
                        continue;
                    }
                    Outcome::Answered {
                        status: raw.status,
                        code,
                        retry_after: retry_after(&raw.headers),
                    }
                }
            };
            match self.inner.retry.delay(retry, safe_to_repeat, outcome) {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    retry += 1;
                }
                None => return sent,
            }
        }
    }

    /// One attempt, signed afresh.
    async fn attempt(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
        auth: Auth,
        idempotency_key: Option<&str>,
        token: Option<&CachedToken>,
    ) -> Result<RawResponse, Error> {
        let credentials = &self.inner.credentials;
        let signed = auth != Auth::Public && credentials.api_secret.is_some();
        // Signed requests get a random query parameter, as the browser SDK
        // does: two identical requests in the same second would otherwise
        // carry the same signature, which the server refuses as a replay.
        let target = if signed {
            let separator = if path.contains('?') { '&' } else { '?' };
            format!("{}{path}{separator}n={}", self.inner.endpoint.prefix, nonce())
        } else {
            format!("{}{path}", self.inner.endpoint.prefix)
        };
        let url = format!(
            "https://{}:{}{target}",
            url_host(&self.inner.endpoint.host),
            self.inner.endpoint.port
        );
        let mut request = self.inner.http.request(method.clone(), url);
        match (auth, token) {
            (Auth::Public, _) => {}
            (Auth::Merchant, Some(token)) => {
                request = request
                    .header(AUTHORIZATION, sensitive(&token.bearer())?)
                    .header(headers::SESSION_ID, token.session_id.as_str());
            }
            (Auth::Merchant | Auth::Exchange, _) => {
                request = request.header(headers::API_KEY, sensitive(credentials.api_key.expose())?);
                if let Some(merchant) = &credentials.merchant_id {
                    request = request.header(headers::MERCHANT_ID, merchant.as_str());
                }
            }
        }
        if let (true, Some(secret)) = (signed, &credentials.api_secret) {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
                .to_string();
            let signature = sign_request(
                secret.expose(),
                method.as_str(),
                &target,
                body.unwrap_or_default(),
                &timestamp,
            );
            request = request
                .header(headers::TIMESTAMP, timestamp)
                .header(headers::SIGNATURE, signature);
        }
        if let Some(key) = idempotency_key {
            request = request.header(headers::IDEMPOTENCY_KEY, key);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(RawResponse { status, headers, body })
    }
}

/// Whether TLS itself refused the server (a certificate not trusted, not for
/// this name, expired...): not worth another attempt.
fn is_tls_refusal(err: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if current.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // `io::Error::source` skips the error it wraps: step into it instead.
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
    }
    false
}

fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| Error::Config("a credential is not a valid header value".to_owned()))?;
    header.set_sensitive(true);
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
