//! The listener: accepts TCP within the connection caps, looks at the first
//! byte without consuming it, and either completes a TLS handshake (0x16) and
//! serves the API, or answers the plain-HTTP request with
//! `400 https_required`. Every phase of a connection has a time limit, so slow
//! clients cannot hold the server's connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use super::client_ip::PeerAddr;
use super::connections::{Activity, Admission, ConnectionGate};
use super::response::https_required;
use crate::config::Config;

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connection's idleness is checked.
const SUPERVISE_EVERY: Duration = Duration::from_millis(500);

/// The time limits of one connection.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    handshake: Duration,
    header: Duration,
    idle: Duration,
}

/// Accepts connections until `shutdown` turns true, then lets open
/// connections finish (up to a deadline).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    config: &Config,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let gate = ConnectionGate::new(&config.connections);
    let limits = &config.connections;
    let timeouts = Timeouts {
        handshake: Duration::from_secs(limits.handshake_timeout_secs),
        header: Duration::from_secs(limits.header_timeout_secs),
        idle: Duration::from_secs(limits.idle_timeout_secs),
    };
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
        let Some(admission) = gate.admit(peer.ip(), config.is_trusted_proxy(peer.ip())) else {
            // Over a cap: close at once, spending nothing on it.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            acceptor: acceptor.clone(),
            router: router.clone(),
            peer,
            shutdown: shutdown.clone(),
            timeouts,
            _admission: admission,
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
    timeouts: Timeouts,
    _admission: Admission,
}

impl Connection {
    async fn run(self, stream: TcpStream) {
        let Some(acceptor) = self.acceptor.clone() else {
            // TLS off: a trusted proxy terminates TLS; the request layer checks it.
            return self.serve_api(stream).await;
        };
        let mut first = [0u8; 1];
        match tokio::time::timeout(self.timeouts.handshake, stream.peek(&mut first)).await {
            Ok(Ok(1)) if first[0] == TLS_HANDSHAKE_RECORD => {
                // A failed or slow handshake just drops the connection.
                if let Ok(Ok(tls_stream)) = tokio::time::timeout(self.timeouts.handshake, acceptor.accept(stream)).await
                {
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
        let activity = Activity::new();
        let tracked = activity.clone();
        let service = self
            .router
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(PeerAddr(peer));
                req
            })
            .map_future(move |response| {
                let busy = tracked.begin();
                async move {
                    let response = response.await;
                    drop(busy);
                    response
                }
            });
        serve_connection(
            stream,
            TowerToHyperService::new(service),
            self.shutdown,
            self.timeouts,
            activity,
        )
        .await;
    }

    async fn serve_https_required(self, stream: TcpStream) {
        let service = hyper::service::service_fn(|_req: http::Request<Incoming>| async {
            Ok::<_, Infallible>(https_required().await)
        });
        serve_connection(stream, service, self.shutdown, self.timeouts, Activity::new()).await;
    }
}

/// Serves one connection, closing it when it has had no request in
/// progress for the idle timeout (trickled bytes do not count as progress).
async fn serve_connection<S, Svc>(
    stream: S,
    service: Svc,
    mut shutdown: watch::Receiver<bool>,
    timeouts: Timeouts,
    activity: Arc<Activity>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<http::Request<Incoming>, Response = axum::response::Response> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    Svc::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut supervise = tokio::time::interval(SUPERVISE_EVERY);
    let mut closing_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = shutdown.changed(), if closing_since.is_none() => {
                connection.as_mut().graceful_shutdown();
                closing_since = Some(tokio::time::Instant::now());
            }
            _ = supervise.tick() => {
                let idle = activity.idle_for();
                match closing_since {
                    None if idle >= timeouts.idle => {
                        connection.as_mut().graceful_shutdown();
                        closing_since = Some(tokio::time::Instant::now());
                    }
                    // A graceful close waits for requests in progress; a
                    // connection still idle after it is dropped outright.
                    Some(since) if since.elapsed() >= 2 * SUPERVISE_EVERY && idle > Duration::ZERO => return,
                    _ => {}
                }
            }
        }
    }
}
