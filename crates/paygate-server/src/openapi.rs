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
        crate::refunds::create,
        crate::refunds::get,
        crate::refunds::list,
        crate::balance_transactions::list,
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
    modifiers(&SecuritySchemes, &ProblemResponses)
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

/// Every error is a problem document (API.md section 3): error responses
/// are `application/problem+json` with the `Problem` schema, and every
/// operation documents `default` for the statuses it does not list (any
/// route can answer `400` for a bad credential header, `413`, `415`, `429` or
/// `503`, as Stripe documents its errors once for every endpoint).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};
        let problem = || Content::new(Some(Ref::from_schema_name("Problem")));
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(response)) = (is_error, response) {
                        response.content.clear();
                        response.content.insert(PROBLEM_CONTENT_TYPE.to_owned(), problem());
                    }
                }
                let default = ResponseBuilder::new()
                    .description("An error, as a problem document with its catalog code (see /docs/errors).")
                    .content(PROBLEM_CONTENT_TYPE, problem())
                    .build();
                responses.entry("default".to_owned()).or_insert(RefOr::T(default));
            }
        }
    }
}

const PROBLEM_CONTENT_TYPE: &str = paygate_proto::headers::PROBLEM_CONTENT_TYPE;

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
