//! What `paygate serve` prints when it starts.

use serde_json::json;

use super::issued_json;
use crate::serve;

/// What `paygate serve` prints at start: where it listens, the certificate,
/// and on first start the sandbox credentials with a curl line that works.
pub(super) fn print_banner(running: &serve::Running, as_json: bool) {
    let addr = running.local_addr;
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let scheme = if running.certificate.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{host}:{}", addr.port());
    let cacert = running
        .certificate
        .as_ref()
        .map(|c| format!("--cacert {} ", shell_quote(&c.path.display().to_string())));
    let curl = running.sandbox.as_ref().map(|s| {
        format!(
            "curl {}-H 'x-api-key: {}' {base_url}/v1/balance",
            cacert.clone().unwrap_or_default(),
            s.key.expose()
        )
    });
    if as_json {
        let value = json!({
            "event": "listening",
            "listen": addr.to_string(),
            "admin_listen": running.admin_addr.to_string(),
            "url": base_url,
            "cert_path": running.certificate.as_ref().map(|c| c.path.display().to_string()),
            "cert_sha256": running.certificate.as_ref().map(|c| c.sha256_fingerprint.clone()),
            "sandbox": running.sandbox.as_ref().map(issued_json),
            "curl": curl,
            "master_key_in_data_dir": running.sandbox_master_key,
        });
        println!("{value}");
        return;
    }
    println!(
        "Paygate is listening on {base_url} (metrics on http://{}/metrics)",
        running.admin_addr
    );
    if let Some(cert) = &running.certificate {
        println!(
            "TLS certificate: {}\n  SHA-256 fingerprint: {}",
            cert.path.display(),
            cert.sha256_fingerprint
        );
    }
    if running.sandbox_master_key {
        println!("Warning: the master key is kept in the data directory beside the database. That is fine for a sandbox; in production set PAYGATE_MASTER_KEY or master_key_file (see docs/deploy.md).");
    }
    match (&running.sandbox, curl) {
        (Some(sandbox), Some(curl)) => {
            println!(
                "\nA sandbox merchant was created. Its test credentials are shown this once:\n  merchant id: {}\n  API key:     {}\n  API secret:  {}\n\nTry it:\n  {curl}\n",
                sandbox.merchant_id, sandbox.key.expose(), sandbox.secret.expose()
            );
        }
        _ => println!("Create a key with: paygate keys create --merchant MCH-... --env test"),
    }
}

fn shell_quote(text: &str) -> String {
    if text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
