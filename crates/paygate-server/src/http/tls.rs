//! TLS: rustls with TLS 1.2 and 1.3 only and the ring provider's suites
//! (AEAD with forward secrecy only). Without configured files, a local CA and
//! a certificate for localhost, 127.0.0.1 and ::1 are generated on first start
//! and kept in `DATA_DIR/tls/`.
//!
//! A CA signs the server certificate, rather than the certificate signing
//! itself, because rustls clients do not accept a self-signed leaf as its own
//! trust anchor. `cert.pem` holds the chain, so `curl --cacert cert.pem`,
//! Python and rustls clients all trust it as it is.

use std::fs;
use std::io::BufReader;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use crate::config::{Config, TlsMode};
use crate::crypto::write_private_file;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls: {0}")]
    Setup(String),
}

fn setup(message: impl std::fmt::Display) -> TlsError {
    TlsError::Setup(message.to_string())
}

/// The certificate in use, for the start-up message.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    pub path: PathBuf,
    pub sha256_fingerprint: String,
    pub generated_now: bool,
}

/// Builds the rustls configuration, generating the local certificate if needed.
pub fn server_config(config: &Config) -> Result<Option<(Arc<ServerConfig>, CertificateInfo)>, TlsError> {
    let (cert_path, key_path, generated_now) = match config.tls.mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files => (PathBuf::from(&config.tls.cert), PathBuf::from(&config.tls.key), false),
        TlsMode::SelfSigned => {
            let dir = config.data_dir.join("tls");
            let generated = ensure_local_certificate(&dir)?;
            (dir.join("cert.pem"), dir.join("key.pem"), generated)
        }
    };
    let certs = read_certs(&cert_path)?;
    let key = read_key(&key_path)?;
    let leaf = certs
        .first()
        .ok_or_else(|| setup("the certificate file holds no certificate"))?;
    let info = CertificateInfo {
        path: cert_path.clone(),
        sha256_fingerprint: fingerprint(leaf.as_ref()),
        generated_now,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(setup)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(setup)?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some((Arc::new(server), info)))
}

/// `AB:CD:...`, the SHA-256 of the certificate's DER.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file = fs::File::open(path).map_err(|_| setup("the certificate file cannot be read"))?;
    rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| setup("the certificate file is not valid PEM"))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let file = fs::File::open(path).map_err(|_| setup("the key file cannot be read"))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|_| setup("the key file is not valid PEM"))?
        .ok_or_else(|| setup("the key file holds no private key"))
}

/// Creates `ca.pem`, `cert.pem` (chain) and `key.pem` (0600) in `dir` unless
/// they exist. Returns whether it created them.
fn ensure_local_certificate(dir: &Path) -> Result<bool, TlsError> {
    if dir.join("cert.pem").is_file() && dir.join("key.pem").is_file() {
        return Ok(false);
    }
    fs::create_dir_all(dir).map_err(|_| setup("cannot create the tls directory"))?;
    let now = time::OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate().map_err(setup)?;
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Paygate local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now - time::Duration::days(1);
    ca_params.not_after = now + time::Duration::days(3650);
    let ca = ca_params.self_signed(&ca_key).map_err(setup)?;

    let leaf_key = KeyPair::generate().map_err(setup)?;
    let mut leaf_params = CertificateParams::default();
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    leaf_params.subject_alt_names = vec![
        SanType::DnsName("localhost".try_into().map_err(setup)?),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (urllib3, OpenSSL -x509_strict) require the AKI.
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.not_before = now - time::Duration::days(1);
    leaf_params.not_after = now + time::Duration::days(397);
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).map_err(setup)?;

    fs::write(dir.join("ca.pem"), ca.pem()).map_err(|_| setup("cannot write ca.pem"))?;
    fs::write(dir.join("cert.pem"), format!("{}{}", leaf.pem(), ca.pem()))
        .map_err(|_| setup("cannot write cert.pem"))?;
    write_private_file(&dir.join("key.pem"), leaf_key.serialize_pem().as_bytes())
        .map_err(|_| setup("cannot write key.pem"))?;
    Ok(true)
}
