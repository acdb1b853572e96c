//! A live environment on an `https://` RPC URL: anvil behind a
//! TLS-terminating proxy whose certificate comes from a private CA, trusted
//! through `SSL_CERT_FILE` (docs/stablecoins.md, "TLS to the node"). Without
//! that trust the server refuses to start; with it, the start checks, the
//! watcher and `paygate chain reconcile` all work through the proxy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use paygate_server::chain::config::{EvmChain, Token};

use crate::chain_process::{external_signer, new_deposit_address};
use crate::chain_support::{eventually, word, Chain};
use crate::money_support::{generous_limits, live_api};

/// A private CA (its PEM) and a `localhost` certificate it signed, with its key.
fn private_ca() -> (String, rustls::pki_types::CertificateDer<'static>, Vec<u8>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Paygate test RPC CA");
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).expect("leaf");
    (ca.pem(), leaf.der().clone(), leaf_key.serialize_der())
}

/// A TLS-terminating proxy on 127.0.0.1 in front of `upstream` (host:port):
/// its port, and how many TLS sessions it has carried.
async fn tls_proxy(
    upstream: String,
    cert: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
) -> (u16, Arc<AtomicUsize>) {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert],
            rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(key)),
        )
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sessions = Arc::new(AtomicUsize::new(0));
    let counted = sessions.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (acceptor, upstream, counted) = (acceptor.clone(), upstream.clone(), counted.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let Ok(mut node) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut node).await;
            });
        }
    });
    (port, sessions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_environment_takes_an_https_rpc_behind_a_private_ca_and_works_through_it() {
    let chain = Chain::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let (_signer, socket) = external_signer(&chain, &dir.path().join("signer"));
    let (ca_pem, cert, key) = private_ca();
    let upstream = chain.url.trim_start_matches("http://").to_owned();
    let (port, sessions) = tls_proxy(upstream, cert, key).await;
    let rpc_url = format!("https://localhost:{port}");
    let live = EvmChain {
        rpc_url: rpc_url.clone(),
        chain_id: chain.chain_id,
        private_rpc_url: None,
        private_timeout_blocks: 25,
        confirmations: 1,
        poll_interval: Duration::from_millis(100),
        tokens: [(Token::Usdc, word(chain.usdc)), (Token::Usdt, word(chain.usdt))]
            .into_iter()
            .collect(),
    };

    // Not trusted yet: the start checks cannot ask the node, and say so.
    let untrusted = {
        let mut config = paygate_server::config::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            admin_listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("untrusted"),
            ..paygate_server::config::Config::default()
        };
        config.chains.live = Some(live.clone());
        config.signer.socket = Some(socket.clone());
        paygate_server::serve::start(paygate_server::serve::ServeOptions {
            config,
            clock: Arc::new(paygate_server::clock::SystemClock),
            master_key: None,
            create_sandbox: true,
        })
        .await
        .err()
        .map(|e| format!("{e:#}"))
        .expect("a node behind an untrusted certificate stops the start")
    };
    assert!(
        untrusted.contains("chains.live.ethereum.rpc_url") && untrusted.contains("https://localhost"),
        "{untrusted}"
    );
    assert!(sessions.load(Ordering::SeqCst) == 0, "no TLS session was completed");

    // Trusted through SSL_CERT_FILE (this test runs in a process of its own).
    let ca_file = dir.path().join("rpc-ca.pem");
    std::fs::write(&ca_file, &ca_pem).expect("CA file");
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let app = crate::support::spawn_with(|c| {
        generous_limits(c);
        c.chains.live = Some(live);
        c.signer.socket = Some(socket.clone());
    })
    .await;
    let api = live_api(&app).await;
    let address = new_deposit_address(&api).await;
    chain.mint(chain.usdc, address, 1_234_567).await;
    eventually(20, "the live deposit credited", || async {
        (api.balance("USDC").await.0 == 1_234_567).then_some(())
    })
    .await;
    assert!(
        sessions.load(Ordering::SeqCst) > 0,
        "the server reached the node through the proxy"
    );

    // The operator's commands go through it too.
    let ca_file = ca_file.display().to_string();
    let socket = socket.display().to_string();
    let chain_id = chain.chain_id.to_string();
    let (usdc, usdt) = (word(chain.usdc), word(chain.usdt));
    let out = crate::support::paygate(
        &app.data_dir,
        &["--json", "chain", "reconcile", "--env", "live"],
        &[
            ("PAYGATE_DATABASE_URL", &app.database_url),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__RPC_URL", &rpc_url),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__CHAIN_ID", &chain_id),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__TOKENS__USDC", &usdc),
            ("PAYGATE_CHAINS__LIVE__ETHEREUM__TOKENS__USDT", &usdt),
            ("PAYGATE_SIGNER__SOCKET", &socket),
            ("SSL_CERT_FILE", &ca_file),
        ],
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && report["ok"] == true,
        "chain reconcile --env live: {report} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
