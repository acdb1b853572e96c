//! The one TLS configuration of a client: the public web PKI roots plus any
//! CA the caller adds. There is no way to turn verification off.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::Error;

/// Builds the verifying client configuration (HTTP/1.1 only, so the same
/// configuration serves the API and the realtime socket).
pub(crate) fn client_config(extra_roots_pem: &[Vec<u8>]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for pem in extra_roots_pem {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|_| Error::Config("a root certificate is not valid PEM".to_owned()))?;
            roots
                .add(cert)
                .map_err(|_| Error::Config("a root certificate is not a valid CA certificate".to_owned()))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::Config("a root certificate PEM holds no certificate".to_owned()));
        }
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|_| Error::Config("no TLS protocol version available".to_owned()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
