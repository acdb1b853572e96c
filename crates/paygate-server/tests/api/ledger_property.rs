//! The property test of the ledger: random sequences of payments, deposits,
//! withdrawals, approvals, rejections and cancels against the real server,
//! checking after every step that the ledger sums to zero, no merchant
//! balance is negative, each balance equals the sum of its entries, and the
//! balances are what a simple model of the rules predicts.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

use crate::money_support::{card_payment, generous_limits, iban_destination, Api};
use crate::support::{spawn_with, TestApp};

#[derive(Debug, Clone)]
enum Op {
    Card { amount: i64, card: usize },
    CryptoPayment { amount: i64, paid: i64 },
    Deposit { amount: i64 },
    Withdraw { amount: i64 },
    Approve { pick: usize },
    Reject { pick: usize },
    Cancel { pick: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1i64..5_000, 0usize..3).prop_map(|(amount, card)| Op::Card { amount, card }),
        1 => (1i64..100_000, 0i64..150_000).prop_map(|(amount, paid)| Op::CryptoPayment { amount, paid }),
        1 => (1i64..50_000).prop_map(|amount| Op::Deposit { amount }),
        3 => (1i64..8_000).prop_map(|amount| Op::Withdraw { amount }),
        2 => any::<usize>().prop_map(|pick| Op::Approve { pick }),
        2 => any::<usize>().prop_map(|pick| Op::Reject { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Cancel { pick }),
    ]
}

const CARDS: [&str; 3] = ["4242424242424242", "4000000000000002", "4000000000009995"];

/// What the balances should be: (available, reserved) per currency.
#[derive(Debug, Default)]
struct Model {
    balances: HashMap<&'static str, (i64, i64)>,
    /// Withdrawals of this case: id, amount, still pending.
    withdrawals: Vec<(String, i64, bool)>,
    /// Payments of this case: id, still cancelable.
    payments: Vec<(String, bool)>,
}

fn check(condition: bool, message: String) -> Result<(), TestCaseError> {
    if condition {
        Ok(())
    } else {
        Err(TestCaseError::fail(message))
    }
}

async fn step(api: &Api, model: &mut Model, op: &Op, n: usize) -> Result<(), TestCaseError> {
    match op {
        Op::Card { amount, card } => {
            let p = api
                .post("/v1/payments", card_payment(*amount, "USD", CARDS[*card]))
                .await;
            check(p.status == 200, format!("card payment: {}", p.body))?;
            if *card == 0 {
                model.balances.entry("USD").or_default().0 += amount;
            }
            model.payments.push((p.id(), false));
        }
        Op::CryptoPayment { amount, paid } => {
            let p = api
                .post(
                    "/v1/payments",
                    json!({"amount": amount, "currency": "BTC", "method": "crypto"}),
                )
                .await;
            check(p.status == 200, format!("crypto payment: {}", p.body))?;
            model.payments.push((p.id(), true));
            if *paid > 0 {
                let address = p.body["crypto"]["address"].clone();
                let d = api
                    .post("/v1/test/deposits", json!({"address": address, "amount": paid}))
                    .await;
                check(d.status == 200, format!("deposit: {}", d.body))?;
                model.balances.entry("BTC").or_default().0 += paid;
                if paid >= amount {
                    if let Some(last) = model.payments.last_mut() {
                        last.1 = false;
                    }
                }
            }
        }
        Op::Deposit { amount } => {
            let address = api.post("/v1/wallet/generate", json!({"network": "bitcoin"})).await;
            check(address.status == 200, format!("generate: {}", address.body))?;
            let d = api
                .post(
                    "/v1/test/deposits",
                    json!({"address": address.body["address"], "amount": amount}),
                )
                .await;
            check(d.status == 200, format!("deposit: {}", d.body))?;
            model.balances.entry("BTC").or_default().0 += amount;
        }
        Op::Withdraw { amount } => {
            let reply = api
                .post_idem(
                    "/v1/withdrawal-requests",
                    json!({"amount": amount, "currency": "USD", "destination": iban_destination()}),
                    &format!("prop-{}-{n}", uuid_like()),
                )
                .await;
            let usd = model.balances.entry("USD").or_default();
            if usd.0 >= *amount {
                check(
                    reply.status == 200,
                    format!("withdrawal should be accepted: {}", reply.body),
                )?;
                usd.0 -= amount;
                usd.1 += amount;
                model.withdrawals.push((reply.id(), *amount, true));
            } else {
                check(
                    reply.status == 422 && reply.code() == "insufficient_funds",
                    format!("withdrawal should be refused: {}", reply.body),
                )?;
            }
        }
        Op::Approve { pick } | Op::Reject { pick } => {
            if model.withdrawals.is_empty() {
                return Ok(());
            }
            let i = pick % model.withdrawals.len();
            let (id, amount, pending) = model.withdrawals[i].clone();
            let approve = matches!(op, Op::Approve { .. });
            let path = format!(
                "/v1/withdrawal-requests/{id}/{}",
                if approve { "approve" } else { "reject" }
            );
            let reply = api.post_empty(&path).await;
            if pending {
                check(reply.status == 200, format!("decision: {}", reply.body))?;
                let usd = model.balances.entry("USD").or_default();
                usd.1 -= amount;
                if !approve {
                    usd.0 += amount;
                }
                model.withdrawals[i].2 = false;
            } else {
                check(
                    reply.code() == "invalid_state",
                    format!("second decision: {}", reply.body),
                )?;
            }
        }
        Op::Cancel { pick } => {
            if model.payments.is_empty() {
                return Ok(());
            }
            let i = pick % model.payments.len();
            let (id, cancelable) = model.payments[i].clone();
            let reply = api.post_empty(&format!("/v1/payments/{id}/cancel")).await;
            if cancelable {
                check(reply.status == 200, format!("cancel: {}", reply.body))?;
                model.payments[i].1 = false;
            } else {
                check(
                    reply.code() == "invalid_state",
                    format!("cancel refused: {}", reply.body),
                )?;
            }
        }
    }
    Ok(())
}

fn uuid_like() -> String {
    use rand::Rng as _;
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

/// The invariants, checked after every step.
async fn invariants(app: &TestApp, api: &Api, model: &Model) -> Result<(), TestCaseError> {
    let report = paygate_server::ledger::verify(app.running.state.store())
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    check(report.is_clean(), format!("ledger not clean: {report:?}"))?;
    let db = app.raw_db().await;
    let (total,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries")
        .fetch_one(&db)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    check(total == 0, format!("entries sum to {total}"))?;
    for (currency, (available, reserved)) in &model.balances {
        let (a, p, r) = api.balance(currency).await;
        let sums: Vec<(String, i64)> = sqlx::query_as(
            "SELECT account, CAST(SUM(amount) AS BIGINT) FROM ledger_entries WHERE currency = $1 AND account IN ('available', 'pending', 'reserved') GROUP BY account",
        )
        .bind(*currency)
        .fetch_all(&db)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let sum_of = |name: &str| sums.iter().find(|(acc, _)| acc == name).map_or(0, |(_, v)| *v);
        check(a >= 0 && p >= 0 && r >= 0, format!("{currency} negative: {a} {p} {r}"))?;
        check(
            (a, p, r) == (sum_of("available"), sum_of("pending"), sum_of("reserved")),
            format!("{currency} balance differs from its entries"),
        )?;
        check(
            (a, r) == (*available, *reserved),
            format!("{currency} is {a}/{r}, model says {available}/{reserved}"),
        )?;
    }
    db.close().await;
    Ok(())
}

#[test]
fn random_operation_sequences_keep_the_ledger_balanced() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_with(generous_limits));
    let api = Api::sandbox(&app);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(async {
            // Each case starts from the balances earlier cases left.
            let mut model = Model::default();
            for currency in ["USD", "BTC"] {
                let (a, _, r) = api.balance(currency).await;
                model.balances.insert(currency, (a, r));
            }
            for (n, op) in ops.iter().enumerate() {
                step(&api, &mut model, op, n).await?;
                invariants(&app, &api, &model).await?;
            }
            Ok(())
        })
    });
    rt.block_on(app.running.shutdown());
    if let Err(err) = result {
        panic!("{err}");
    }
}
