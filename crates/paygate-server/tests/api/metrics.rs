//! docs/api.md section 12: Prometheus metrics on the admin listener only.

use crate::support::spawn_app;

#[tokio::test]
async fn metrics_count_requests_errors_and_auth_failures_on_the_admin_port_only() {
    let app = spawn_app().await;
    let http = app.http();
    assert_eq!(
        http.get(app.url("/v1/balance"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .expect("req")
            .status(),
        200
    );
    assert_eq!(
        http.get(app.url("/v1/balance"))
            .header("x-api-key", "sk_test_bad")
            .send()
            .await
            .expect("req")
            .status(),
        401
    );
    assert_eq!(
        http.get(app.url("/v1/nowhere")).send().await.expect("req").status(),
        404
    );

    let text = reqwest::get(format!("http://{}/metrics", app.running.admin_addr))
        .await
        .expect("admin listener answers")
        .text()
        .await
        .expect("text");
    for expected in [
        r#"paygate_http_requests_total{route="/v1/balance",method="GET",status="200"}"#,
        r#"paygate_http_requests_total{route="/v1/balance",method="GET",status="401"}"#,
        r#"paygate_http_requests_total{route="unmatched",method="GET",status="404"}"#,
        r#"paygate_auth_failures_total{code="invalid_api_key"}"#,
        r#"paygate_http_errors_total{code="not_found",status="404"}"#,
        "paygate_http_request_duration_seconds_bucket",
        r#"paygate_db_pool_connections{state="idle"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected} in\n{text}");
    }
    assert!(!text.contains("sk_test_"), "no credential in metrics");

    let on_api_port = http.get(app.url("/metrics")).send().await.expect("req");
    assert_eq!(on_api_port.status(), 404, "metrics are not served on the API port");
}

#[tokio::test]
async fn health_checks_answer_on_the_admin_port_too() {
    let app = spawn_app().await;
    for (path, status) in [("healthz", "ok"), ("readyz", "ready")] {
        let response = reqwest::get(format!("http://{}/{path}", app.running.admin_addr))
            .await
            .expect("admin listener answers");
        assert_eq!(response.status(), 200, "{path}");
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(body["status"], status, "{path}");
    }
}

#[tokio::test]
async fn rate_limit_refusals_are_counted_by_tier() {
    let app = crate::support::spawn_with(|c| {
        c.rate_limits.merchant = paygate_server::config::Limit::new(1, 60);
    })
    .await;
    let http = app.http();
    let statuses = [
        http.get(app.url("/v1/balance"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .expect("req")
            .status(),
        http.get(app.url("/v1/balance"))
            .header("x-api-key", &app.key)
            .send()
            .await
            .expect("req")
            .status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 429]);
    let text = reqwest::get(format!("http://{}/metrics", app.running.admin_addr))
        .await
        .expect("admin listener answers")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains(r#"paygate_rate_limit_refusals_total{tier="merchant"} 1"#),
        "missing the refusal in\n{text}"
    );
}
