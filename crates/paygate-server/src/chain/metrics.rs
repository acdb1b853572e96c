//! The chain's metrics (docs/stablecoins.md, served at `/metrics`): head
//! lag in blocks, deposits credited, sweeps pending, payouts by route and
//! outcome, payouts pending, signer refusals, RPC failures; and the outage tracker behind the `chain_rpc_unreachable`
//! alert.

use std::time::{Duration, Instant};

use paygate_proto::Environment;
use serde_json::json;
use sqlx::Row as _;

use crate::alerts::{self, Alert};
use crate::app::AppState;
use crate::chain::credit::NETWORK;
use crate::http::ApiError;

/// Blocks between the chain's head and the last block scanned.
pub fn head_lag(env: Environment, lag: u64) {
    metrics::gauge!("paygate_chain_head_lag_blocks", "env" => env.as_str()).set(lag as f64);
}

pub fn deposit_credited(env: Environment) {
    metrics::counter!("paygate_chain_deposits_credited_total", "env" => env.as_str()).increment(1);
}

pub fn deposit_reversed(env: Environment) {
    metrics::counter!("paygate_chain_deposits_reversed_total", "env" => env.as_str()).increment(1);
}

pub fn sweeps_pending(env: Environment, pending: usize) {
    metrics::gauge!("paygate_chain_sweeps_pending", "env" => env.as_str()).set(pending as f64);
}

/// A payout settled: `route` as it went (`none` when it was never sent),
/// `outcome` `paid` or `failed`.
pub fn payout_settled(env: Environment, route: &str, outcome: &'static str) {
    metrics::counter!("paygate_payouts_total", "env" => env.as_str(), "route" => route.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Payouts not settled yet.
pub fn payouts_pending(env: Environment, pending: i64) {
    metrics::gauge!("paygate_payouts_pending", "env" => env.as_str()).set(pending as f64);
}

/// The signer refused an intent (its reason code is the label).
pub fn signer_refusal(code: &str) {
    metrics::counter!("paygate_chain_signer_refusals_total", "code" => code.to_owned()).increment(1);
}

pub fn rpc_failure(env: Environment) {
    metrics::counter!("paygate_chain_rpc_failures_total", "env" => env.as_str()).increment(1);
}

/// How long the RPC has been failing, and whether that outage was alerted.
#[derive(Debug, Default)]
pub struct Outage {
    since: Option<Instant>,
    alerted: bool,
}

impl Outage {
    /// A failed poll at `now`; true exactly once per outage, when it has
    /// lasted `threshold`.
    pub fn failed(&mut self, now: Instant, threshold: Duration) -> bool {
        let since = *self.since.get_or_insert(now);
        if !self.alerted && now.duration_since(since) >= threshold {
            self.alerted = true;
            return true;
        }
        false
    }

    /// A poll that reached the node ends the outage.
    pub fn recovered(&mut self) {
        *self = Outage::default();
    }

    pub fn duration(&self, now: Instant) -> Duration {
        self.since.map_or(Duration::ZERO, |s| now.duration_since(s))
    }
}

/// Raises `chain_rpc_unreachable` to every merchant with a deposit address
/// on the environment's chain (their deposits are not being seen). The
/// details never name the node's URL.
pub async fn alert_unreachable(
    state: &AppState,
    env: Environment,
    chain_id: u64,
    for_secs: u64,
) -> Result<(), ApiError> {
    let rows = sqlx::query(
        "SELECT DISTINCT merchant_id FROM wallet_addresses WHERE env = $1 AND network = $2 ORDER BY merchant_id LIMIT 1000",
    )
    .bind(env.as_str())
    .bind(NETWORK)
    .fetch_all(state.store().pool())
    .await?;
    tracing::error!(env = env.as_str(), chain_id, for_secs, "the chain's RPC is unreachable");
    for row in rows {
        let merchant: String = row.try_get("merchant_id")?;
        let merchant = paygate_proto::MerchantId::parse(&merchant)
            .map_err(|_| ApiError::internal("wallet_addresses.merchant_id is not a merchant id"))?;
        let now = state.now();
        state
            .store()
            .write(move |conn| {
                Box::pin(async move {
                    alerts::raise(
                        conn,
                        Alert {
                            merchant: &merchant,
                            env,
                            kind: "chain_rpc_unreachable",
                            actor: "chain_watcher",
                            ip: None,
                            details: json!({
                                "network": NETWORK,
                                "chain_id": chain_id,
                                "unreachable_for_seconds": for_secs,
                            }),
                        },
                        now,
                    )
                    .await
                    .map_err(ApiError::from)
                })
            })
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_alerts_once_when_it_lasts() {
        let mut outage = Outage::default();
        let t0 = Instant::now();
        let threshold = Duration::from_secs(30);
        assert!(!outage.failed(t0, threshold));
        assert!(!outage.failed(t0 + Duration::from_secs(29), threshold));
        assert!(outage.failed(t0 + Duration::from_secs(30), threshold));
        assert!(
            !outage.failed(t0 + Duration::from_secs(90), threshold),
            "once per outage"
        );
        assert_eq!(outage.duration(t0 + Duration::from_secs(90)), Duration::from_secs(90));
        outage.recovered();
        let t1 = t0 + Duration::from_secs(100);
        assert!(!outage.failed(t1, threshold), "a new outage starts counting again");
        assert!(outage.failed(t1 + threshold, threshold));
    }
}
