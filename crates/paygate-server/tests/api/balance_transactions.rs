//! Balance transactions over the API: one row per movement of `available`
//! (payment, deposit, withdrawal, release, refund) with its source and the
//! balance after it; the JSON pages and the CSV export list the same rows,
//! and the export's last balance is `GET /v1/balance`.

use serde_json::{json, Value};

use crate::money_support::{generous_limits, ledger_verify, Api};
use crate::support::{spawn_with, TestApp};

/// The export, parsed (RFC 4180 as the server writes it: no field of these
/// rows needs quoting, every record ends in CRLF).
async fn export(app: &TestApp, query: &str) -> (String, Vec<Vec<String>>) {
    let response = app
        .http()
        .get(app.url(&format!("/v1/balance-transactions{query}")))
        .header("x-api-key", &app.key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let text = response.text().await.unwrap();
    assert!(text.ends_with("\r\n"), "{text:?}");
    let mut records: Vec<Vec<String>> = text
        .trim_end_matches("\r\n")
        .split("\r\n")
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect();
    let header = records.remove(0);
    assert_eq!(
        header,
        [
            "id",
            "type",
            "source",
            "amount",
            "currency",
            "balance_after",
            "created_at"
        ]
    );
    (content_type, records)
}

/// Every row of the JSON list, page by page (`limit=2` to cross pages).
async fn all_pages(api: &Api, query: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = api
            .get(&format!("/v1/balance-transactions?limit=2&order=asc{query}{cursor}"))
            .await
            .ok();
        rows.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return rows,
        }
    }
}

#[tokio::test]
async fn every_movement_is_listed_once_with_its_source_and_the_balance_after() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let payment = api.fund(10_000, "USD").await;
    let pay_id = payment["id"].as_str().unwrap();
    let withdrawal = api.withdraw(4_000, "USD", "bt-wd").await.ok();
    let wd_id = withdrawal["id"].as_str().unwrap();
    api.post_empty(&format!("/v1/withdrawal-requests/{wd_id}/reject"))
        .await
        .ok();
    let refund = api
        .post("/v1/refunds", json!({"payment": pay_id, "amount": 2_500}))
        .await
        .ok();
    let address = api
        .post("/v1/wallet/generate", json!({"network": "bitcoin"}))
        .await
        .ok();
    api.post(
        "/v1/test/deposits",
        json!({"address": address["address"], "amount": 70_000}),
    )
    .await
    .ok();

    let usd = all_pages(&api, "&currency=USD").await;
    let summary: Vec<(&str, &str, i64, i64)> = usd
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap(),
                t["source"].as_str().unwrap(),
                t["amount"].as_i64().unwrap(),
                t["balance_after"].as_i64().unwrap(),
            )
        })
        .collect();
    let refund_id = refund["id"].as_str().unwrap();
    assert_eq!(
        summary,
        [
            ("payment", pay_id, 10_000, 10_000),
            ("withdrawal", wd_id, -4_000, 6_000),
            ("release", wd_id, 4_000, 10_000),
            ("refund", refund_id, -2_500, 7_500),
        ]
    );
    for t in &usd {
        assert!(t["id"].as_str().unwrap().starts_with("txn_"));
        assert_eq!(
            (t["object"].as_str(), t["currency"].as_str()),
            (Some("balance_transaction"), Some("USD"))
        );
    }
    let everything = all_pages(&api, "").await;
    assert_eq!(everything.len(), 5);
    let deposit = &everything[4];
    assert_eq!(
        (deposit["type"].as_str(), deposit["currency"].as_str()),
        (Some("deposit"), Some("BTC"))
    );
    assert_eq!(
        (deposit["amount"].as_i64(), deposit["balance_after"].as_i64()),
        (Some(70_000), Some(70_000))
    );
    assert_eq!(deposit["source"], address["id"]);

    // The default JSON order is newest first (section 7); amounts sort too.
    let newest = api.get("/v1/balance-transactions?limit=1").await.ok();
    assert_eq!(newest["data"][0]["id"], deposit["id"]);
    let by_amount = api
        .get("/v1/balance-transactions?sortBy=amount&order=asc&currency=USD")
        .await
        .ok();
    assert_eq!(by_amount["data"][0]["amount"], -4_000);

    // Time range: nothing before the epoch of the test, nothing after it.
    let none = api.get("/v1/balance-transactions?to=2000-01-01").await.ok();
    assert_eq!(none["data"], json!([]));
    let none = api.get("/v1/balance-transactions?from=2999-01-01T00:00:00Z").await.ok();
    assert_eq!(none["data"], json!([]));
    let since = api.get("/v1/balance-transactions?from=2000-01-01&limit=100").await.ok();
    assert_eq!(since["data"].as_array().unwrap().len(), 5);
    for bad in ["from=yesterday", "currency=XYZ"] {
        let refused = api.get(&format!("/v1/balance-transactions?{bad}")).await;
        assert_eq!((refused.status, refused.code()), (400, "validation_failed"), "{bad}");
    }

    // The CSV has the same rows, oldest first, and ends at today's balance.
    let (content_type, records) = export(&app, "").await;
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let from_json: Vec<Vec<String>> = everything
        .iter()
        .map(|t| {
            vec![
                t["id"].as_str().unwrap().to_owned(),
                t["type"].as_str().unwrap().to_owned(),
                t["source"].as_str().unwrap().to_owned(),
                t["amount"].to_string(),
                t["currency"].as_str().unwrap().to_owned(),
                t["balance_after"].to_string(),
                t["created_at"].as_str().unwrap().to_owned(),
            ]
        })
        .collect();
    assert_eq!(records, from_json);
    let (_, usd_csv) = export(&app, "?currency=USD").await;
    let last_usd: i64 = usd_csv.last().unwrap()[5].parse().unwrap();
    assert_eq!(last_usd, api.balance("USD").await.0);
    let (_, btc_csv) = export(&app, "?currency=btc").await;
    assert_eq!(
        btc_csv.last().unwrap()[5].parse::<i64>().unwrap(),
        api.balance("BTC").await.0
    );
    let (_, empty) = export(&app, "?to=2000-01-01").await;
    assert!(empty.is_empty());
    let (clean, report) = ledger_verify(&app);
    assert!(clean, "{report}");
}

#[tokio::test]
async fn a_large_export_streams_every_row_across_pages() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    // More rows than one export page (1,000): every payment is a movement.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..130 {
                api.fund(1, "EUR").await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let (_, records) = export(&app, "").await;
    assert_eq!(records.len(), 1_040);
    let balances: Vec<i64> = records.iter().map(|r| r[5].parse().unwrap()).collect();
    assert_eq!(balances, (1..=1_040).collect::<Vec<i64>>());
    let ids: std::collections::HashSet<&String> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(ids.len(), 1_040);
    assert!(ledger_verify(&app).0);
}
