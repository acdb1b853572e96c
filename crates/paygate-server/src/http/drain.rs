//! Answers that come before the request body is read: the outermost layer
//! keeps a handle on the body, and when a response is ready while the client
//! is still sending (a `413 payload_too_large`, a `401` to a large `POST`),
//! it answers at once and then reads and discards the rest of the body, up
//! to [`DRAIN_LIMIT`] bytes and [`DRAIN_TIME`].
//!
//! Without it the connection is closed (HTTP/1.1) or the stream reset
//! (HTTP/2) with the body unread: a client that writes its whole body before
//! it reads (Python `requests`) sees a broken connection instead of the
//! answer, and curl over HTTP/2 a stream error. A body read to its end
//! leaves the connection open for the next request. Past the bound the body
//! is let go only once the answer has been sent in full: HTTP/1.1 then
//! closes the connection after the answer, and HTTP/2 resets the stream
//! with `NO_ERROR` (RFC 9113 section 8.1: a complete response, the rest of
//! the request not wanted).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::oneshot;

/// Most bytes read and discarded after an early answer.
pub const DRAIN_LIMIT: usize = 16 * 1024 * 1024;
/// Longest a client may take to finish sending a body nobody will read.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body the handler reads through while this layer keeps a handle.
struct SharedBody {
    inner: Arc<Mutex<Body>>,
}

fn poll_shared(inner: &Mutex<Body>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
    match inner.lock() {
        Ok(mut body) => Pin::new(&mut *body).poll_frame(cx),
        Err(_) => Poll::Ready(Some(Err(axum::Error::new("request body lock poisoned")))),
    }
}

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        poll_shared(&self.inner, cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.lock().map_or(true, |body| body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .lock()
            .map_or_else(|_| SizeHint::default(), |body| body.size_hint())
    }
}

/// The layer (outermost, so every early answer passes through it).
pub async fn drain_unread(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let inner = Arc::new(Mutex::new(body));
    let shared = Body::new(SharedBody { inner: inner.clone() });
    let response = next.run(Request::from_parts(parts, shared)).await;
    if inner.lock().is_ok_and(|body| body.is_end_stream()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let (sent, answered) = oneshot::channel::<()>();
    tokio::spawn(async move {
        if !drained(&inner).await {
            tracing::debug!("an unread request body went past the drain bound; its connection or stream ends");
        }
        // The answer's body drops `sent` once it has been sent in full (or
        // abandoned); only then may the request body go.
        let _ = answered.await;
        drop(inner);
    });
    Response::from_parts(parts, Body::new(Answer { body, _sent: sent }))
}

/// The answer's body, holding the signal that it has been sent.
struct Answer {
    body: Body,
    _sent: oneshot::Sender<()>,
}

impl HttpBody for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Reads the rest of the body; true when it ended within the bounds.
async fn drained(inner: &Mutex<Body>) -> bool {
    let read = async {
        let mut seen = 0usize;
        loop {
            match std::future::poll_fn(|cx| poll_shared(inner, cx)).await {
                None => return true,
                Some(Err(_)) => return false,
                Some(Ok(frame)) => {
                    seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                    if seen > DRAIN_LIMIT {
                        return false;
                    }
                }
            }
        }
    };
    tokio::time::timeout(DRAIN_TIME, read).await.unwrap_or(false)
}
