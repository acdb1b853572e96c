//! Errors: the server's problem+json decoded into a typed error.

use paygate_proto::{ErrorCode, Problem};

/// An error answered by the Paygate server.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{} ({}): {} [request_id {}]", problem.code.as_str(), status, problem.detail, problem.request_id)]
pub struct ApiError {
    pub status: u16,
    pub problem: Problem,
    /// Seconds from `Retry-After`, when the server sent one.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        self.problem.code
    }

    pub fn request_id(&self) -> &str {
        &self.problem.request_id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] Box<ApiError>),
    #[error("transport error: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("unexpected response ({status}): {message}")]
    Decode { status: u16, message: String },
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// An argument the client refuses to send (e.g. an object ID that would
    /// change the route).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The realtime socket could not be opened or broke.
    #[error("realtime socket: {0}")]
    Realtime(String),
}

impl Error {
    /// The API error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api(err) => Some(err.code()),
            _ => None,
        }
    }

    /// The `request_id` of the server's answer, when there was one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(err) => Some(err.request_id()),
            _ => None,
        }
    }
}
