//! Answers as received, and decoding them: a 2xx into its type, anything
//! else into the problem document it carries.

use paygate_proto::{headers, Problem};
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};

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

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
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
