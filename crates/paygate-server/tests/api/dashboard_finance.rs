//! The dashboard's finance pages: a refund from the payment page (same
//! ledger entries and audit row as the API), the statement with its SVG
//! charts inside the CSP, and its CSV export equal to the API's.

use reqwest::StatusCode;

use crate::dashboard::location;
use crate::dashboard_pages::{key_from_dashboard, signed_in};
use crate::money_support::{generous_limits, ledger_verify};
use crate::support::spawn_with;

#[tokio::test]
async fn a_refund_from_the_payment_page_and_the_statement_with_charts_and_export() {
    let app = spawn_with(generous_limits).await;
    let mut browser = signed_in(&app, "finance@example.com").await;
    let (_, api) = key_from_dashboard(&mut browser, "finance").await;
    let payment = api.fund(12_000, "USD").await;
    let pay_id = payment["id"].as_str().unwrap();
    let path = format!("/dashboard/payments/{pay_id}");
    let page = browser.get(&path).await.text().await.unwrap();
    assert!(page.contains("id=\"refund\""), "{page}");
    let csrf = browser.csrf(&path).await;
    let refund_path = format!("{path}/refund");
    let bad = browser
        .post(&refund_path, &[("csrf", &csrf), ("amount", "1.234")])
        .await;
    assert!(bad.text().await.unwrap().contains("Enter the amount in USD"));
    let too_much = browser
        .post(&refund_path, &[("csrf", &csrf), ("amount", "120.01")])
        .await;
    assert!(too_much.text().await.unwrap().contains("remains to refund"));
    let done = browser
        .post(
            &refund_path,
            &[("csrf", &csrf), ("amount", "20.50"), ("reason", "returned")],
        )
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), format!("{path}?done=refunded"));
    let after = api.get(&format!("/v1/payments/{pay_id}")).await.ok();
    assert_eq!(after["amount_refunded"], 2_050);
    assert_eq!(api.balance("USD").await.0, 9_950);

    let statement = browser.get("/dashboard/balance-transactions").await;
    let csp = statement.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("style-src 'self'") && !csp.contains("script-src"), "{csp}");
    let html = statement.text().await.unwrap();
    assert!(html.contains("<svg class=\"chart\" id=\"volume-chart\""), "{html}");
    assert!(html.contains("<svg class=\"chart\" id=\"balance-chart\""));
    assert!(html.contains("now 99.50"), "the balance chart ends at the balance");
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 1);
    assert!(!html.contains("style=") && !html.contains("<script"));
    assert!(html.contains("-20.50 USD"));

    let export = browser.get("/dashboard/balance-transactions/export?currency=USD").await;
    assert!(export.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = export.text().await.unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[2].contains(",refund,re_") && lines[2].contains(",-2050,USD,9950,"),
        "{csv}"
    );
    let audited: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'refund.created'")
        .fetch_one(&app.raw_db().await)
        .await
        .unwrap();
    assert_eq!(audited.0, 1);
    assert!(ledger_verify(&app).0);
}
