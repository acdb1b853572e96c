//! The per-IP limit for every request, as the outer layer; authentication
//! adds the per-merchant (and token issuing) limits to the same request and
//! can give back the IP entry when those refuse it. Whatever limits applied,
//! the response describes the tightest one.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use paygate_proto::ErrorCode;

use super::tiers::{classify, client_bucket};
use super::{headers, tightest, Check, Decision, Ticket, Usage};
use crate::app::AppState;
use crate::http::{ApiError, ClientIp};

/// What the limits of this request decided so far.
#[derive(Clone, Default)]
pub struct LimitContext(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    usage: Vec<(&'static str, Usage)>,
    tickets: Vec<Ticket>,
}

impl LimitContext {
    fn add(&self, decision: &Decision) {
        if let Ok(mut inner) = self.0.lock() {
            inner.usage.extend(decision.usage.iter().copied());
            if decision.allowed {
                inner.tickets.extend(decision.tickets.iter().cloned());
            }
        }
    }

    fn take_tickets(&self) -> Vec<Ticket> {
        self.0
            .lock()
            .map(|mut i| std::mem::take(&mut i.tickets))
            .unwrap_or_default()
    }

    fn tightest(&self) -> Option<(&'static str, Usage)> {
        self.0.lock().ok().and_then(|i| tightest(&i.usage))
    }
}

/// A limiter that cannot decide (Redis unreachable) refuses: `503`, with the
/// cause in the log. Failing open would drop every limit at once.
fn unavailable(err: &super::LimitError) -> Response {
    ApiError {
        cause: Some(err.to_string()),
        ..ApiError::new(ErrorCode::ServiceUnavailable)
    }
    .into_response()
}

/// The refusal: `429 rate_limited` with `Retry-After` and both header forms.
pub fn refusal(decision: &Decision) -> Response {
    crate::metrics::record_rate_limit_refusal(decision.tightest().map_or("unknown", |(name, _)| name));
    let mut response = ApiError::new(ErrorCode::RateLimited)
        .with_retry_after(headers::retry_after_secs(decision))
        .into_response();
    headers::apply(&mut response, decision);
    response
}

/// Applies more limits to a request that passed the per-IP one (the
/// per-merchant limit, token issuing). On refusal the earlier entries are
/// given back, so the refused request costs no quota anywhere.
pub async fn apply_more(state: &AppState, context: Option<&LimitContext>, checks: &[Check]) -> Result<(), Response> {
    if checks.is_empty() {
        return Ok(());
    }
    let limiter = state.auth().limiter();
    let decision = match limiter.acquire(checks, state.now_millis()).await {
        Ok(decision) => decision,
        Err(err) => return Err(unavailable(&err)),
    };
    if let Some(context) = context {
        context.add(&decision);
    }
    if decision.allowed {
        return Ok(());
    }
    if let Some(context) = context {
        let tickets = context.take_tickets();
        if let Err(err) = limiter.release(&tickets).await {
            tracing::warn!(error = %err, "could not give back rate-limit entries");
        }
    }
    Err(refusal(&decision))
}

pub async fn per_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if !state.config().rate_limits.enabled {
        return next.run(req).await;
    }
    let Some(tier) = classify(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let Some(ClientIp(ip)) = req.extensions().get::<ClientIp>().copied() else {
        return ApiError::internal("client ip missing").into_response();
    };
    let checks = [Check {
        name: tier.name(),
        key: format!("ip:{}:{}", tier.name(), client_bucket(ip)),
        limit: tier.limit(&state.config().rate_limits),
    }];
    let decision = match state.auth().limiter().acquire(&checks, state.now_millis()).await {
        Ok(decision) => decision,
        Err(err) => return unavailable(&err),
    };
    if !decision.allowed {
        return refusal(&decision);
    }
    let context = LimitContext::default();
    context.add(&decision);
    req.extensions_mut().insert(context.clone());
    let mut response = next.run(req).await;
    if response.status() != http::StatusCode::TOO_MANY_REQUESTS {
        if let Some((name, usage)) = context.tightest() {
            headers::apply(
                &mut response,
                &Decision {
                    allowed: true,
                    usage: vec![(name, usage)],
                    ..Decision::default()
                },
            );
        }
    }
    response
}
