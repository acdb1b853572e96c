//! The operator's CLI and `paygate serve` as a user runs them: printed
//! credentials, the curl line, configuration errors, and logs that never
//! carry a credential.

use std::process::Command;

use serde_json::Value;

use crate::support::{fresh_database_url_blocking, paygate, ServeProcess};

fn json_line(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json output")
}

#[test]
fn merchant_and_key_commands_print_json() {
    let dir = tempfile::tempdir().expect("dir");
    let database_url = fresh_database_url_blocking();
    let paygate = |dir: &std::path::Path, args: &[&str], _: &[(&str, &str)]| {
        paygate(dir, args, &[("PAYGATE_DATABASE_URL", &database_url)])
    };
    let merchant = json_line(&paygate(
        dir.path(),
        &[
            "--json",
            "merchant",
            "create",
            "--country",
            "ZA",
            "--email",
            "ops@example.com",
        ],
        &[],
    ));
    let id = merchant["merchant_id"].as_str().expect("merchant_id");
    assert!(
        paygate_proto::MerchantId::parse(id).is_ok() && id.starts_with("MCH-ZA-"),
        "{id}"
    );

    let key = json_line(&paygate(
        dir.path(),
        &[
            "--json",
            "keys",
            "create",
            "--merchant",
            id,
            "--env",
            "live",
            "--name",
            "prod",
        ],
        &[],
    ));
    assert!(key["key"].as_str().expect("key").starts_with("sk_live_"));
    assert!(key["secret"].as_str().expect("secret").starts_with("sec_live_"));
    assert_eq!(key["merchant_id"], id);
    assert_eq!(key["env"], "live");
    let key_id = key["id"].as_str().expect("id");

    let revoked = json_line(&paygate(dir.path(), &["--json", "keys", "revoke", key_id], &[]));
    assert_eq!(revoked["revoked"], true);
    let again = paygate(dir.path(), &["--json", "keys", "revoke", key_id], &[]);
    assert!(!again.status.success(), "revoking twice is reported");

    let bad = paygate(
        dir.path(),
        &[
            "--json",
            "merchant",
            "create",
            "--country",
            "XX",
            "--email",
            "ops@example.com",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ISO 3166"));
    let migrated = json_line(&paygate(dir.path(), &["--json", "migrate"], &[]));
    assert_eq!(migrated["migrated"], true);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .expect("master key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_bad_configuration_value_stops_the_process_naming_its_key() {
    let dir = tempfile::tempdir().expect("dir");
    let output = paygate(dir.path(), &["serve"], &[("PAYGATE_RATE_LIMITS__STANDARD__LIMIT", "0")]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("rate_limits.standard.limit"), "{stderr}");

    let output = paygate(dir.path(), &["serve"], &[("PAYGATE_WEBHOOKS__TIMEOUT_SECS", "soon")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("webhooks.timeout_secs"));

    let config = dir.path().join("paygate.toml");
    std::fs::write(&config, "[tls]\nmode = \"off\"\n").expect("write");
    let output = paygate(dir.path(), &["--config", config.to_str().expect("utf8"), "serve"], &[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("tls.trusted_proxies"));

    let output = paygate(dir.path(), &["serve"], &[("PAYGATE_MASTER_KEY", "too-short")]);
    assert!(
        !output.status.success(),
        "a bad master key never falls back to another one"
    );
}

#[test]
fn the_printed_curl_line_works_and_logs_never_carry_a_credential() {
    let server = ServeProcess::start(&[]);
    let curl = server.banner["curl"].as_str().expect("curl line").to_owned();
    let key = server.banner["sandbox"]["key"].as_str().expect("key").to_owned();
    let secret = server.banner["sandbox"]["secret"].as_str().expect("secret").to_owned();
    assert!(server.banner["cert_sha256"].as_str().is_some_and(|f| f.len() == 95));

    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{curl} -sS"))
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let balance: Value = serde_json::from_slice(&output.stdout).expect("balance json");
    assert_eq!(balance["object"], "balance");

    // A canary in a header, the query and the body of several requests.
    let port = server.port();
    let cacert = server.banner["cert_path"].as_str().expect("cert").to_owned();
    let canary = paygate_proto::ApiKey::generate(paygate_proto::Environment::Live, &mut rand::rngs::OsRng);
    let canary = canary.expose();
    let base = format!("https://127.0.0.1:{port}");
    let requests = [
        format!("curl -sS --cacert {cacert} -H 'x-api-key: {canary}' {base}/v1/balance"),
        format!("curl -sS --cacert {cacert} '{base}/v1/balance?api_key={canary}&secret={secret}'"),
        format!("curl -sS --cacert {cacert} -H 'x-api-key: {key}' -H 'x-api-secret: {secret}' -H 'content-type: application/json' -d '{{\"name\":\"{canary}\",\"colour\":\"{secret}\"}}' {base}/v1/api-keys"),
        format!("curl -sS --cacert {cacert} -H 'authorization: Bearer {canary}' {base}/v1/balance"),
        format!("curl -sS --cacert {cacert} -H 'x-api-key: {key}' -H 'x-api-secret: {canary}' {base}/v1/balance"),
    ];
    for request in &requests {
        let output = Command::new("sh").arg("-c").arg(request).output().expect("curl runs");
        assert!(output.status.success());
    }
    // A realtime token, minted and then presented in the socket URL's query.
    let minted = Command::new("sh")
        .arg("-c")
        .arg(format!("curl -sS --cacert {cacert} -H 'x-api-key: {key}' -H 'content-type: application/json' -d '{{}}' {base}/v1/realtime/tokens"))
        .output()
        .expect("curl runs");
    let ws_token = serde_json::from_slice::<Value>(&minted.stdout).expect("json")["ws_token"]
        .as_str()
        .expect("ws token")
        .to_owned();
    let presented = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -sS --cacert {cacert} '{base}/v1/realtime?ws_token={ws_token}'"
        ))
        .output()
        .expect("curl runs");
    assert!(presented.status.success());
    let logs = server.stop();
    assert!(
        logs.lines().count() >= requests.len(),
        "the server logged its requests: {logs}"
    );
    for line in logs.lines() {
        let parsed: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("log line is JSON: {line}"));
        assert!(parsed.is_object());
    }
    for secret_text in [canary, key.as_str(), secret.as_str(), ws_token.as_str()] {
        assert!(!logs.contains(secret_text), "a credential reached the log");
    }
    assert!(logs.contains("req_"), "log lines carry request ids");
}
