//! Oversized and unread request bodies, sent by curl over HTTP/1.1 and
//! HTTP/2: the client gets the problem document, not a broken connection.

use std::process::Command;

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
