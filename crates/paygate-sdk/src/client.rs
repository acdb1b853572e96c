//! The HTTP client and its builder.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use paygate_proto::signing::sign_request;
use paygate_proto::types::Balance;
use paygate_proto::{headers, ApiKey, ApiSecret, Problem};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{Certificate, Method};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};

/// Builds a [`Client`]. TLS verification is always on.
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<String>,
    merchant_id: Option<String>,
    api_secret: Option<String>,
    root_certificates: Vec<Vec<u8>>,
    timeout: Duration,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The server's API key (`sk_test_...` or `sk_live_...`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The merchant ID, sent as `x-merchant-id` and checked by the server.
    pub fn merchant_id(mut self, merchant_id: impl Into<String>) -> Self {
        self.merchant_id = Some(merchant_id.into());
        self
    }

    /// The API secret: every request is then signed (`x-timestamp`, `x-signature`).
    pub fn api_secret(mut self, secret: impl Into<String>) -> Self {
        self.api_secret = Some(secret.into());
        self
    }

    /// Trusts an extra CA (PEM), e.g. a sandbox server's `cert.pem`.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let api_key = self
            .api_key
            .as_deref()
            .map(|k| {
                ApiKey::parse(k).map_err(|_| {
                    Error::Config("the API key is not a Paygate API key (sk_test_... or sk_live_...)".to_owned())
                })
            })
            .transpose()?;
        let api_secret = self
            .api_secret
            .as_deref()
            .map(|s| {
                ApiSecret::parse(s)
                    .map_err(|_| Error::Config("the API secret is not a Paygate API secret (sec_...)".to_owned()))
            })
            .transpose()?;
        if let (Some(key), Some(secret)) = (&api_key, &api_secret) {
            if key.environment() != secret.environment() {
                return Err(Error::Config(
                    "the API key and secret belong to different environments".to_owned(),
                ));
            }
        }
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .https_only(true)
            .use_rustls_tls();
        for pem in &self.root_certificates {
            for cert in Certificate::from_pem_bundle(pem)
                .map_err(|_| Error::Config("a root certificate is not valid PEM".to_owned()))?
            {
                http = http.add_root_certificate(cert);
            }
        }
        Ok(Client {
            http: http.build()?,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            api_key,
            merchant_id: self.merchant_id,
            api_secret,
        })
    }
}

/// A Paygate API client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<ApiKey>,
    merchant_id: Option<String>,
    api_secret: Option<ApiSecret>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// A response as received, for callers that need the status and headers.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            status: self.status,
            message: e.to_string(),
        })
    }
}

impl Client {
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            merchant_id: None,
            api_secret: None,
            root_certificates: Vec::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// `GET /v1/balance`.
    pub async fn balance(&self) -> Result<Balance, Error> {
        self.send_json(Method::GET, "/v1/balance", None).await
    }

    /// Sends an authenticated request and decodes a 2xx JSON answer.
    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<T, Error> {
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Config(e.to_string()))?;
        let raw = self.send_raw(method, path, body.as_deref(), &HeaderMap::new()).await?;
        if (200..300).contains(&raw.status) {
            raw.json()
        } else {
            Err(problem_error(&raw))
        }
    }

    /// Sends an authenticated request and returns the response as received.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        extra: &HeaderMap,
    ) -> Result<RawResponse, Error> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base_url));
        if let Some(key) = &self.api_key {
            request = request.header(headers::API_KEY, sensitive(key.expose())?);
        }
        if let Some(merchant) = &self.merchant_id {
            request = request.header(headers::MERCHANT_ID, merchant.as_str());
        }
        if let Some(secret) = &self.api_secret {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
                .to_string();
            let signature = sign_request(
                secret.expose(),
                method.as_str(),
                path,
                body.unwrap_or_default(),
                &timestamp,
            );
            request = request
                .header(headers::TIMESTAMP, timestamp)
                .header(headers::SIGNATURE, signature);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.to_vec());
        }
        for (name, value) in extra {
            request = request.header(name, value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await?.to_vec();
        Ok(RawResponse { status, headers, body })
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| Error::Config("a credential is not a valid header value".to_owned()))?;
    header.set_sensitive(true);
    Ok(header)
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
            retry_after: headers
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok()),
        })),
        Err(_) => Error::Decode {
            status,
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
        },
    }
}
