//! A TLS-terminating proxy in front of the server, with a certificate of its
//! own: clients that do not trust it must refuse to talk through it; through
//! one that trusts it, the proxy records every request as sent (so tests see
//! what goes on the wire) and can lose an answer (it forwards the first
//! request, reads the server's answer, and closes the client's connection
//! instead of relaying it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use paygate_sdk::Error;

use crate::support::{self, Server};

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub failed_handshakes: AtomicUsize,
    /// Requests read in clear from a client.
    pub requests: AtomicUsize,
    /// Their request lines and headers, header names lower-cased.
    pub heads: Mutex<Vec<String>>,
}

impl Stats {
    fn record(&self, request: &[u8]) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let text = String::from_utf8_lossy(request);
        let head = text.split("\r\n\r\n").next().unwrap_or_default();
        let head = head
            .lines()
            .enumerate()
            .map(|(i, line)| match line.split_once(':') {
                Some((name, value)) if i > 0 => format!("{}:{value}", name.to_ascii_lowercase()),
                _ => line.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        self.heads.lock().unwrap().push(head);
    }
}

pub struct Proxy {
    pub base_url: String,
    /// The proxy's own CA, for clients meant to trust it.
    pub ca_pem: String,
    pub stats: Arc<Stats>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Starts the proxy; with `drop_first_answer`, the first connection's answer
/// is read from the server and never relayed.
pub async fn start(server: &Server, drop_first_answer: bool) -> Proxy {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Untrusted test proxy CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let upstream = server.running.local_addr;
    let upstream_tls = upstream_connector(&server.ca_pem);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stats = Arc::new(Stats::default());
    let counters = Arc::clone(&stats);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let first = counters.connections.fetch_add(1, Ordering::SeqCst) == 0;
            let (acceptor, connector, stats) = (acceptor.clone(), upstream_tls.clone(), Arc::clone(&counters));
            tokio::spawn(async move {
                let Ok(mut client) = acceptor.accept(tcp).await else {
                    stats.failed_handshakes.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let mut server = connect(&connector, upstream).await;
                // Message by message, so each request is seen in clear.
                while let Some(request) = read_message(&mut client).await {
                    stats.record(&request);
                    server.write_all(&request).await.unwrap();
                    let answer = read_message(&mut server).await.expect("an answer");
                    if first && drop_first_answer {
                        // The effect happened; the client never hears of it.
                        return;
                    }
                    client.write_all(&answer).await.unwrap();
                }
            });
        }
    });
    Proxy {
        base_url: format!("https://localhost:{port}"),
        ca_pem: ca.pem(),
        stats,
    }
}

fn upstream_connector(ca_pem: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn connect(
    connector: &tokio_rustls::TlsConnector,
    upstream: SocketAddr,
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(upstream).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

/// One HTTP/1.1 message: headers, then a `content-length` body; `None` when
/// the peer closes between messages.
async fn read_message(stream: &mut (impl AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut message = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = message.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&message[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if message.len() >= end + 4 + length {
                return Some(message);
            }
        }
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 && message.is_empty() {
            return None;
        }
        assert!(n > 0, "the peer closed mid-message");
        message.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_with_an_untrusted_certificate_gets_nothing() {
    let server = support::start().await;
    let proxy = start(&server, false).await;
    // Signed and with a secret: nothing of it may reach the proxy.
    let client = server
        .builder_for(&proxy.base_url)
        .api_secret(&server.secret)
        .build()
        .unwrap();
    let err = client
        .balance()
        .await
        .expect_err("the proxy's certificate is not trusted");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let chain = format!("{:?}", std::error::Error::source(&err));
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        proxy.stats.failed_handshakes.load(Ordering::SeqCst),
        1,
        "an untrusted certificate is not retried"
    );
    assert_eq!(
        proxy.stats.requests.load(Ordering::SeqCst),
        0,
        "no request was read in clear"
    );
    // The realtime socket is held to the same TLS.
    let err = client
        .realtime(&Default::default())
        .await
        .expect_err("refused before a token is even minted");
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    // The same proxy, trusted on purpose, does relay: the refusal was the certificate.
    let trusting = server
        .builder_for(&proxy.base_url)
        .add_root_certificate_pem(proxy.ca_pem.clone())
        .build()
        .unwrap();
    trusting.balance().await.expect("a trusted proxy relays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_wire_tokens_keep_the_key_home_and_every_request_is_signed_once() {
    let server = support::start().await;
    let proxy = start(&server, false).await;
    let client = server
        .builder_for(&proxy.base_url)
        .add_root_certificate_pem(proxy.ca_pem.clone())
        .api_secret(&server.secret)
        .access_tokens()
        .build()
        .unwrap();
    for _ in 0..3 {
        client.balance().await.unwrap();
    }
    client
        .create_payment(&paygate_sdk::proto::payments::CreatePayment {
            amount: 100,
            currency: "USD".to_owned(),
            method: "card".to_owned(),
            description: None,
            metadata: None,
            card: None,
        })
        .await
        .unwrap();
    let heads = proxy.stats.heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 5, "{heads:#?}");
    let exchange = |head: &&String| head.starts_with("POST /v1/auth/token");
    let with_key: Vec<_> = heads.iter().filter(|h| h.contains("\nx-api-key:")).collect();
    assert_eq!(with_key.len(), 1, "the key travels once");
    assert!(exchange(&with_key[0]));
    for head in heads.iter().filter(|h| !exchange(h)) {
        assert!(
            head.contains("\nauthorization: Bearer ") && head.contains("\nx-session-id:"),
            "{head}"
        );
    }
    for head in &heads {
        assert!(
            head.contains("\nx-signature:") && head.contains("\nx-timestamp:"),
            "{head}"
        );
        assert!(
            !head.contains("x-api-secret") && !head.contains(&server.secret[9..]),
            "{head}"
        );
    }
    let keyed: Vec<_> = heads.iter().filter(|h| h.contains("\nidempotency-key:")).collect();
    assert_eq!(keyed.len(), 1, "only the state-changing request carries a key");
    assert!(keyed[0].starts_with("POST /v1/payments?n="));
    let targets: std::collections::HashSet<&str> = heads.iter().filter_map(|h| h.lines().next()).collect();
    assert_eq!(targets.len(), 5, "three identical reads went out with three nonces");
}
