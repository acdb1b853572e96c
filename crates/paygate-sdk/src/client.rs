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
use paygate_proto::{headers, ApiKey, ApiSecret, ErrorCode, Problem};
use rand::RngCore as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, Url};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::{AuthMode, CachedToken, Credentials, TokenCache};
use crate::error::{ApiError, Error};
use crate::retry::{Outcome, RetryPolicy};

/// Builds a [`Client`]. TLS verification is always on; a private CA may be
/// added, nothing can turn verification off.
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<SecretString>,
    merchant_id: Option<String>,
    api_secret: Option<SecretString>,
    mode: AuthMode,
    root_certificates: Vec<Vec<u8>>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The server's API key (`sk_test_...` or `sk_live_...`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// The merchant ID (`MCH-ZA-7K2Q9X`): sent as `x-merchant-id` with the
    /// key, and required for [`AuthMode::AccessToken`].
    pub fn merchant_id(mut self, merchant_id: impl Into<String>) -> Self {
        self.merchant_id = Some(merchant_id.into());
        self
    }

    /// The API secret: every request is then signed (`x-timestamp`,
    /// `x-signature`). The secret itself is never sent.
    pub fn api_secret(mut self, secret: impl Into<String>) -> Self {
        self.api_secret = Some(SecretString::from(secret.into()));
        self
    }

    /// Exchange the API key for short-lived access tokens (docs/api.md section 4.2)
    /// instead of sending the key with every request.
    pub fn access_tokens(mut self) -> Self {
        self.mode = AuthMode::AccessToken;
        self
    }

    /// Trusts an extra CA (PEM), e.g. a sandbox server's `cert.pem`.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// The limit of one attempt, from connecting to the last byte (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The limit of connecting, TLS included (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How failed attempts are retried (default: 3 retries).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Checks the configuration and builds the client. Refused: a base URL
    /// that is not plain `https` (user info, query, fragment), a key or
    /// secret of the wrong shape, a key and secret of different
    /// environments, access tokens without the merchant ID, an invalid CA.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = Endpoint::parse(&self.base_url)?;
        let api_key = self
            .api_key
            .as_ref()
            .ok_or_else(|| Error::Config("an API key is required".to_owned()))
            .and_then(|k| {
                ApiKey::parse(secrecy::ExposeSecret::expose_secret(k)).map_err(|_| {
                    Error::Config("the API key is not a Paygate API key (sk_test_... or sk_live_...)".to_owned())
                })
            })?;
        let api_secret = self
            .api_secret
            .as_ref()
            .map(|s| {
                ApiSecret::parse(secrecy::ExposeSecret::expose_secret(s))
                    .map_err(|_| Error::Config("the API secret is not a Paygate API secret (sec_...)".to_owned()))
            })
            .transpose()?;
        if let Some(secret) = &api_secret {
            if api_key.environment() != secret.environment() {
                return Err(Error::Config(
                    "the API key and secret belong to different environments".to_owned(),
                ));
            }
        }
        if self.mode == AuthMode::AccessToken && self.merchant_id.is_none() {
            return Err(Error::Config("access tokens need the merchant ID".to_owned()));
        }
        let tls = crate::tls::client_config(&self.root_certificates)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
            .https_only(true)
            // A redirect could carry credentials elsewhere: none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .build()?;
        let tokens = (self.mode == AuthMode::AccessToken).then(TokenCache::default);
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                endpoint,
                tls,
                credentials: Credentials {
                    api_key,
                    merchant_id: self.merchant_id,
                    api_secret,
                    tokens,
                },
                retry: self.retry,
            }),
            idempotency_key: None,
        })
    }
}

/// Where the server is: an `https` origin, with an optional path prefix.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `https://host:port/prefix`, without a trailing slash.
    pub base: String,
    /// The path prefix (empty, or `/something` without a trailing slash).
    pub prefix: String,
}

impl Endpoint {
    /// Credentials go only to a plain `https` URL: no user info (which some
    /// tools would send elsewhere), no query or fragment.
    fn parse(text: &str) -> Result<Self, Error> {
        let url = Url::parse(text).map_err(|_| Error::Config("the base URL is not a URL".to_owned()))?;
        if url.scheme() != "https" {
            return Err(Error::Config(
                "the base URL must be https: credentials are never sent in clear".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config("the base URL must not carry user info".to_owned()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(
                "the base URL must not carry a query or fragment".to_owned(),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| Error::Config("the base URL has no host".to_owned()))?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let prefix = url.path().trim_end_matches('/').to_owned();
        Ok(Endpoint {
            base: format!("https://{}:{port}{prefix}", url.host_str().unwrap_or_default()),
            host: host.trim_start_matches('[').trim_end_matches(']').to_owned(),
            port,
            prefix,
        })
    }
}

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

/// A response as received, for callers that need the status and headers.
/// Its `Debug` leaves the body out: it may hold a key or secret shown once.
#[derive(Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RawResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl RawResponse {
    /// The body decoded as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            status: self.status,
            message: e.to_string(),
        })
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// `true` when the server replayed the answer of an earlier request with
    /// the same `Idempotency-Key`.
    pub fn replayed(&self) -> bool {
        self.headers
            .get(headers::IDEMPOTENT_REPLAYED)
            .is_some_and(|v| v.as_bytes() == b"true")
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
        ClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            merchant_id: None,
            api_secret: None,
            mode: AuthMode::ApiKey,
            root_certificates: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
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

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| Error::Config("a credential is not a valid header value".to_owned()))?;
    header.set_sensitive(true);
    Ok(header)
}

/// A 2xx answer decoded, or the error it carries.
pub(crate) fn decode<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, Error> {
    if raw.is_success() {
        raw.json()
    } else {
        Err(problem_error(raw))
    }
}

/// Decodes an error response into [`Error::Api`].
pub(crate) fn problem_error(raw: &RawResponse) -> Error {
    decode_problem(raw.status, &raw.headers, &raw.body)
}

/// Decodes an error answer (status, headers, body as received) into
/// [`Error::Api`], or [`Error::Decode`] when the body is not a problem
/// document. Never panics, whatever the server (or a proxy) sent.
pub fn decode_problem(status: u16, headers: &HeaderMap, body: &[u8]) -> Error {
    match serde_json::from_slice::<Problem>(body) {
        Ok(problem) => Error::Api(Box::new(ApiError {
            status,
            problem,
            retry_after: retry_after(headers),
        })),
        Err(_) => Error::Decode {
            status,
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_a_plain_https_origin() {
        for bad in [
            "http://localhost:8443",
            "https://user:pw@localhost:8443",
            "https://localhost:8443/?x=1",
            "https://localhost:8443/#f",
            "ftp://localhost",
            "not a url",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("https://localhost:8443/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.prefix.as_str()), ("localhost", 8443, ""));
        let e = Endpoint::parse("https://[::1]/paygate/").unwrap();
        assert_eq!((e.host.as_str(), e.port, e.prefix.as_str()), ("::1", 443, "/paygate"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 32);
    }
}
