//! Oversized and unread request bodies, sent by curl over HTTP/1.1 and
//! HTTP/2: the client gets the problem document, not a broken connection.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{spawn_app, TestApp};
use serde_json::Value;

/// Posts `body_len` bytes of JSON with curl and returns the status and the
/// problem's code, failing the test when curl reports a transport error.
fn curl_post(app: &TestApp, dir: &std::path::Path, http: &str, key: &str, body_len: usize) -> (u16, Value) {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &app.ca_pem).expect("ca");
    let body = dir.join("body.json");
    std::fs::write(&body, format!("{{\"name\":\"{}\"}}", "a".repeat(body_len))).expect("body");
    let out = dir.join("out.json");
    let output = Command::new("curl")
        .args(["-sS", http, "--cacert"])
        .arg(&ca)
        .args(["-H", &format!("x-api-key: {key}")])
        .args(["-H", &format!("x-api-secret: {}", app.secret)])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .args(["-o"])
        .arg(&out)
        .args(["-w", "%{http_code} %{http_version}"])
        .arg(app.url("/v1/api-keys"))
        .output()
        .expect("curl runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "curl {http} failed: {stderr}");
    let written = String::from_utf8_lossy(&output.stdout).to_string();
    let (status, version) = written.split_once(' ').expect("status and version");
    let expected_version = if http == "--http2" { "2" } else { "1.1" };
    assert_eq!(version, expected_version, "curl spoke the asked-for version");
    let problem: Value = serde_json::from_slice(&std::fs::read(&out).expect("answer")).expect("problem json");
    (status.parse().expect("status"), problem)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_mebibyte_body_gets_payload_too_large_over_http1_and_http2() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    for http in ["--http1.1", "--http2"] {
        let (status, problem) =
            tokio::task::block_in_place(|| curl_post(&app, dir.path(), http, &app.key, 2 * 1024 * 1024));
        assert_eq!(status, 413, "{http}");
        assert_eq!(problem["code"], "payload_too_large", "{http}");
        assert!(problem["request_id"].as_str().is_some_and(|id| id.starts_with("req_")));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_given_before_the_body_is_read_reaches_curl_over_both_versions() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().expect("dir");
    for http in ["--http1.1", "--http2"] {
        let (status, problem) =
            tokio::task::block_in_place(|| curl_post(&app, dir.path(), http, "sk_test_not-a-key", 768 * 1024));
        assert_eq!(status, 401, "{http}");
        assert_eq!(problem["code"], "invalid_api_key", "{http}");
    }
}

/// An HTTP/2 connection (ALPN `h2`) to the app, trusting its CA.
async fn h2_connect(app: &TestApp) -> h2::client::SendRequest<bytes::Bytes> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &app.ca_pem[..]) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(app.running.local_addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("tls");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, connection) = h2::client::handshake(tls).await.expect("h2 handshake");
    tokio::spawn(connection);
    send
}

/// Sends up to `len` bytes as the flow-control window allows; returns how
/// many went out before the stream ended (reset) or `len` was reached.
async fn send_until_reset(stream: &mut h2::SendStream<bytes::Bytes>, len: usize) -> usize {
    const CHUNK: usize = 64 * 1024;
    let chunk = bytes::Bytes::from(vec![b'a'; CHUNK]);
    let mut sent = 0;
    while sent < len {
        stream.reserve_capacity(CHUNK);
        let next = tokio::time::timeout(
            Duration::from_secs(10),
            std::future::poll_fn(|cx| stream.poll_capacity(cx)),
        )
        .await
        .expect("the server neither reads nor resets");
        let Some(Ok(granted)) = next else { break };
        let n = granted.min(CHUNK).min(len - sent);
        if stream.send_data(chunk.slice(..n), false).is_err() {
            break;
        }
        sent += n;
    }
    sent
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http2_the_answer_comes_first_and_the_stream_ends_with_no_error_past_the_drain_bound() {
    let app = spawn_app().await;
    let mut h2 = h2_connect(&app).await;
    let declared = 32 * 1024 * 1024;
    let request = http::Request::post(app.url("/v1/api-keys"))
        .header("x-api-key", &app.key)
        .header("x-api-secret", &app.secret)
        .header("content-type", "application/json")
        .header("content-length", declared.to_string())
        .body(())
        .expect("request");
    let (response, mut stream) = h2.send_request(request, false).expect("stream opens");
    // The answer arrives while nearly all of the body is still unsent.
    let early = send_until_reset(&mut stream, 64 * 1024).await;
    assert_eq!(early, 64 * 1024);
    let response = tokio::time::timeout(Duration::from_secs(5), response)
        .await
        .expect("answered before the body was sent")
        .expect("response");
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let mut body = response.into_body();
    let mut answer = Vec::new();
    while let Some(data) = body.data().await {
        let data = data.expect("the answer arrives whole");
        let _ = body.flow_control().release_capacity(data.len());
        answer.extend_from_slice(&data);
    }
    let problem: Value = serde_json::from_slice(&answer).expect("problem json");
    assert_eq!(problem["code"], "payload_too_large");
    // The server reads on up to its bound, then resets with NO_ERROR.
    let sent = early + send_until_reset(&mut stream, declared - early).await;
    let reason = tokio::time::timeout(
        Duration::from_secs(10),
        std::future::poll_fn(|cx| stream.poll_reset(cx)),
    )
    .await
    .expect("the stream is reset")
    .expect("a reset reason");
    assert_eq!(reason, h2::Reason::NO_ERROR);
    assert!(sent >= 16 * 1024 * 1024, "the server read {sent} bytes before it reset");
    assert!(sent < declared, "the whole body went out: {sent}");
    // The connection itself is still good.
    let (next, _) = h2
        .send_request(http::Request::get(app.url("/healthz")).body(()).expect("request"), true)
        .expect("another stream");
    assert_eq!(next.await.expect("health answer").status(), 200);
}
