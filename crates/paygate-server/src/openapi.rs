//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! served at `/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Paygate API", version = "1", description = "The merchant API of Paygate, a self-hostable payment gateway."),
    paths(
        crate::balance::get_balance,
        crate::api_keys::create,
        crate::realtime::create_token,
        crate::leaked_keys::report,
        crate::checkout::create,
        crate::checkout::get,
        crate::api_keys::list,
        crate::api_keys::roll,
        crate::api_keys::revoke,
        crate::sessions::exchange,
        crate::sessions::end,
        crate::security_policy::get,
        crate::security_policy::put,
        crate::lockdown::post,
        crate::audit_events::list,
        crate::health::healthz,
        crate::health::readyz,
        crate::payments::create,
        crate::payments::get,
        crate::payments::list,
        crate::payments::cancel,
        crate::wallets::configure,
        crate::wallets::generate,
        crate::wallets::test_deposit,
        crate::withdrawals::create,
        crate::withdrawals::get,
        crate::withdrawals::list,
        crate::withdrawals::approve,
        crate::withdrawals::reject,
        crate::events::list,
        crate::events::get,
        crate::webhooks::endpoints::create,
        crate::webhooks::endpoints::list,
        crate::webhooks::endpoints::get,
        crate::webhooks::endpoints::delete,
        crate::webhooks::endpoints::rotate,
        crate::webhooks::endpoints::deliveries,
        crate::webhooks::endpoints::redeliver
    ),
    components(schemas(paygate_proto::Problem, paygate_proto::FieldError, paygate_proto::ErrorCode)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
