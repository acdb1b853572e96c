//! Prometheus metrics, served at `/metrics` on the admin listener (loopback
//! by default, never on the API port): requests by route and status, latency
//! histograms, errors by code (authentication failures among them),
//! rate-limit refusals by tier, webhook delivery attempts by outcome, and
//! database pool use. Other modules add their own counters through the
//! `metrics` macros.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::AppState;

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder (metrics are per process, like the port).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("duration_seconds".to_owned()), LATENCY_BUCKETS)
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Records one answered request.
pub fn record_request(route: &str, method: &str, status: u16, error_code: Option<&'static str>, elapsed: Duration) {
    let status_label = status.to_string();
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status_label),
    ];
    metrics::counter!("paygate_http_requests_total", &labels).increment(1);
    metrics::histogram!("paygate_http_request_duration_seconds", &labels[..2]).record(elapsed.as_secs_f64());
    if let Some(code) = error_code {
        metrics::counter!("paygate_http_errors_total", "code" => code, "status" => status.to_string()).increment(1);
        if status == 401 || status == 403 {
            metrics::counter!("paygate_auth_failures_total", "code" => code).increment(1);
        }
    }
}

/// Records a `429`, by the limit (tier) that refused it.
pub fn record_rate_limit_refusal(tier: &'static str) {
    metrics::counter!("paygate_rate_limit_refusals_total", "tier" => tier).increment(1);
}

/// Records one webhook delivery attempt: what the receiver's answer was
/// (`delivered`, `gone`, `failed`) and where that left the delivery
/// (`succeeded`, `pending` for a retry, `failed` for good).
pub fn record_webhook_attempt(verdict: &crate::webhooks::send::Verdict, delivery_status: &'static str) {
    let outcome = match verdict {
        crate::webhooks::send::Verdict::Delivered => "delivered",
        crate::webhooks::send::Verdict::Gone => "gone",
        crate::webhooks::send::Verdict::Failed => "failed",
    };
    metrics::counter!(
        "paygate_webhook_attempts_total",
        "outcome" => outcome,
        "delivery_status" => delivery_status
    )
    .increment(1);
}

async fn render(State(state): State<AppState>) -> String {
    let pool = state.store().pool();
    let size = f64::from(pool.size());
    let idle = f64::from(u32::try_from(pool.num_idle()).unwrap_or(u32::MAX));
    metrics::gauge!("paygate_db_pool_connections", "state" => "idle").set(idle);
    metrics::gauge!("paygate_db_pool_connections", "state" => "in_use").set((size - idle).max(0.0));
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// Binds the admin listener (plain HTTP; keep it on loopback or a private
/// network).
pub async fn bind_admin(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `/metrics`, and `/healthz` and `/readyz` for load balancers and
/// supervisors (which reach them here over plain HTTP even when the API
/// listener only answers a TLS-terminating proxy), until `shutdown` turns
/// true.
pub async fn serve_admin(listener: TcpListener, state: AppState, mut shutdown: watch::Receiver<bool>) {
    let _ = handle();
    let app = Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(crate::health::healthz))
        .route("/readyz", get(crate::health::readyz))
        .with_state(state);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.changed().await;
        })
        .await;
}
