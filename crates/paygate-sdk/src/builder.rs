//! The client's builder: what may be configured, and the checks made
//! before a client exists.

use std::time::Duration;

use paygate_proto::{ApiKey, ApiSecret};
use secrecy::SecretString;

use crate::auth::{AuthMode, Credentials, TokenCache};
use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::retry::RetryPolicy;

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
    pub(crate) fn new(base_url: String) -> Self {
        ClientBuilder {
            base_url,
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
        let credentials = Credentials {
            api_key,
            merchant_id: self.merchant_id,
            api_secret,
            tokens,
        };
        Ok(Client::from_parts(http, endpoint, tls, credentials, self.retry))
    }
}
