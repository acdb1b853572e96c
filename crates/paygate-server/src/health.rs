//! `/healthz` (the process is up) and `/readyz` (the store answers, and
//! Redis too when `redis_url` names one: an instance that cannot reach it
//! refuses limited requests, so a load balancer should pass it by).

use axum::extract::State;
use http::StatusCode;
use paygate_proto::types::Health;

use crate::app::AppState;
use crate::http::ApiJson;

#[utoipa::path(get, path = "/healthz", operation_id = "checkLiveness", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok".to_owned(),
    })
}

#[utoipa::path(get, path = "/readyz", operation_id = "checkReadiness", tag = "health", responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, ApiJson<Health>) {
    if state.store().ping().await && state.auth().limiter().ready().await.is_ok() {
        (
            StatusCode::OK,
            ApiJson(Health {
                status: "ready".to_owned(),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            ApiJson(Health {
                status: "unavailable".to_owned(),
            }),
        )
    }
}
