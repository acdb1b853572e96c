//! The listener: accepts TCP, looks at the first byte without consuming it,
//! and either completes a TLS handshake (0x16) and serves the API, or answers
//! the plain-HTTP request with `400 https_required`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::client_ip::PeerAddr;
use super::response::https_required;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` turns true, then lets open
/// connections finish (up to a deadline).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            acceptor: acceptor.clone(),
            router: router.clone(),
            peer,
            shutdown: shutdown.clone(),
        };
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            connection.run(stream).await;
            drop(alive);
        });
    }
    drop(alive_tx);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, alive_rx.recv()).await;
}

struct Connection {
    acceptor: Option<TlsAcceptor>,
    router: Router,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        let Some(acceptor) = self.acceptor.clone() else {
            // TLS off: a trusted proxy terminates TLS; the request layer checks it.
            return self.serve_api(stream).await;
        };
        let mut first = [0u8; 1];
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {
                // A failed or slow handshake just drops the connection.
                if let Ok(Ok(tls_stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    self.serve_api(tls_stream).await;
                }
            }
            Ok(Ok(1)) => self.serve_https_required(stream).await,
            _ => {}
        }
    }

    async fn serve_api<S>(self, stream: S)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let service = self
            .router
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                req
            });
        serve_connection(stream, TowerToHyperService::new(service), self.shutdown).await;
    }

    async fn serve_https_required(self, stream: TcpStream) {
        let service = hyper::service::service_fn(|_req: http::Request<Incoming>| async {
            Ok::<_, Infallible>(https_required().await)
        });
        serve_connection(stream, service, self.shutdown).await;
    }
}

async fn serve_connection<S, Svc>(stream: S, service: Svc, mut shutdown: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<http::Request<Incoming>, Response = axum::response::Response> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
