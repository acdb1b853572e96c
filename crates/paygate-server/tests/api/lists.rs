//! Lists (section 7) over payments and events: the cap, cursors that neither
//! skip nor repeat rows when new rows arrive between pages, the sortBy
//! allowlist with its fallback.

use std::collections::HashSet;

use serde_json::json;

use crate::money_support::{generous_limits, Api};
use crate::support::spawn_with;

async fn all_pages(api: &Api, first: &str) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    let mut url = first.to_owned();
    let sep = if first.contains('?') { '&' } else { '?' };
    loop {
        let page = api.get(&url).await.ok();
        rows.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("{first}{sep}cursor={cursor}"),
            None => {
                assert_eq!(page["has_more"], false);
                return rows;
            }
        }
    }
}

#[tokio::test]
async fn cursors_neither_skip_nor_repeat_while_rows_arrive() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    let mut created = Vec::new();
    for i in 0..25 {
        let p = api
            .post(
                "/v1/payments",
                json!({"amount": 100 + (i % 7), "currency": "USD", "method": "card"}),
            )
            .await
            .ok();
        created.push(p["id"].as_str().unwrap().to_owned());
    }
    let capped = api.get("/v1/payments?limit=1000").await.ok();
    assert_eq!(capped["data"].as_array().unwrap().len(), 25);
    for sort in ["createdAt", "amount", "status", "updatedAt", "confirmedAt", "nonsense"] {
        for order in ["asc", "desc"] {
            let base = format!("/v1/payments?limit=4&sortBy={sort}&order={order}");
            let first = api.get(&base).await.ok();
            let mut seen: Vec<String> = first["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned())
                .collect();
            // New rows arrive between pages.
            api.post(
                "/v1/payments",
                json!({"amount": 103, "currency": "USD", "method": "card"}),
            )
            .await
            .ok();
            let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
            while let Some(c) = cursor {
                let page = api.get(&format!("{base}&cursor={c}")).await.ok();
                seen.extend(
                    page["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["id"].as_str().unwrap().to_owned()),
                );
                cursor = page["next_cursor"].as_str().map(str::to_owned);
            }
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len(), "no repeats for {sort} {order}");
            for id in &created {
                assert!(unique.contains(id), "{id} skipped for {sort} {order}");
            }
        }
    }
    let by_amount = all_pages(&api, "/v1/payments?limit=7&sortBy=amount&order=asc").await;
    let amounts: Vec<i64> = by_amount.iter().map(|p| p["amount"].as_i64().unwrap()).collect();
    let mut sorted = amounts.clone();
    sorted.sort_unstable();
    assert_eq!(amounts, sorted);
    // Past 100 rows, `limit=1000` is served as 100, not refused.
    let mut tasks = Vec::new();
    for _ in 0..80 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.post(
                "/v1/payments",
                json!({"amount": 1, "currency": "USD", "method": "card"}),
            )
            .await
            .ok();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let capped = api.get("/v1/payments?limit=1000").await.ok();
    assert_eq!(
        (capped["data"].as_array().unwrap().len(), capped["has_more"].as_bool()),
        (100, Some(true))
    );
    let bad_cursor = api.get("/v1/payments?cursor=garbage").await;
    assert_eq!(bad_cursor.status, 400);
}

#[tokio::test]
async fn events_list_pages_through_the_outbox() {
    let app = spawn_with(generous_limits).await;
    let api = Api::sandbox(&app);
    for _ in 0..5 {
        api.fund(10, "USD").await;
    }
    let events = all_pages(&api, "/v1/events?limit=3").await;
    let payment_events = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("payment."))
        .count();
    assert_eq!(payment_events, 10);
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len());
    let one = &events[0];
    assert!(one["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(one["env"], "test");
    let fetched = api
        .get(&format!("/v1/events/{}", one["id"].as_str().unwrap()))
        .await
        .ok();
    assert_eq!(&fetched, one);
    // Sorting events by anything else falls back to createdAt.
    assert_eq!(api.get("/v1/events?sortBy=amount").await.status, 200);
}
