//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! served at `/v1/openapi.json`.

#[cfg(test)]
mod document_tests;
pub mod schemas;

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
        crate::webhooks::deliveries::deliveries,
        crate::webhooks::deliveries::redeliver
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

/// Every error is a problem document (docs/api.md section 3): error responses
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
                        // A body of its own (`/readyz` answers 503 with its
                        // health) stays beside the problem document.
                        response.content.retain(|_, content| !is_problem(content));
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

/// Whether a response content is the `Problem` schema (handlers name it as
/// their error bodies; the document serves it as `application/problem+json`).
fn is_problem(content: &utoipa::openapi::Content) -> bool {
    use utoipa::openapi::RefOr;
    matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location == "#/components/schemas/Problem")
}

const PROBLEM_CONTENT_TYPE: &str = paygate_proto::headers::PROBLEM_CONTENT_TYPE;

/// `(METHOD, path template)` of every documented operation that takes a
/// request body.
pub fn operations_with_body() -> std::collections::HashSet<(String, String)> {
    let doc = ApiDoc::openapi();
    let mut set = std::collections::HashSet::new();
    for (path, item) in &doc.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("PUT", &item.put),
            ("POST", &item.post),
            ("DELETE", &item.delete),
            ("PATCH", &item.patch),
        ];
        for (method, operation) in operations {
            if operation.as_ref().is_some_and(|op| op.request_body.is_some()) {
                set.insert((method.to_owned(), path.clone()));
            }
        }
    }
    set
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::Value;

    use super::*;

    /// Every object a request body can hold, at any depth, refuses unknown
    /// fields (`additionalProperties: false`, which the schema derive writes
    /// for `#[serde(deny_unknown_fields)]`).
    #[test]
    fn every_request_body_refuses_unknown_fields() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut open = Vec::new();
        let mut seen = HashSet::new();
        let mut bodies = 0;
        for item in doc["paths"].as_object().unwrap().values() {
            for operation in item.as_object().unwrap().values() {
                let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
                if !schema.is_null() {
                    bodies += 1;
                    walk(&doc, schema, "body", &mut seen, &mut open);
                }
            }
        }
        assert!(bodies >= 13, "only {bodies} request bodies found");
        // The schema derive does not mark the variants of an internally
        // tagged enum; serde refuses their unknown fields all the same.
        let extra = r#"{"type":"bank","iban":"GB82WEST12345698765432","name":"A","swift":"X"}"#;
        assert!(serde_json::from_str::<paygate_proto::payments::Destination>(extra).is_err());
        open.retain(|at| at != "Destination");
        assert!(open.is_empty(), "request objects that accept unknown fields: {open:?}");
    }

    fn walk(doc: &Value, schema: &Value, at: &str, seen: &mut HashSet<String>, open: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            if seen.insert(reference.to_owned()) {
                let name = reference.rsplit('/').next().unwrap();
                walk(doc, &doc["components"]["schemas"][name], name, seen, open);
            }
            return;
        }
        if let Some(properties) = schema["properties"].as_object() {
            if schema["additionalProperties"] != Value::Bool(false) {
                open.push(at.to_owned());
            }
            for (field, inner) in properties {
                walk(doc, inner, &format!("{at}.{field}"), seen, open);
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            for inner in schema[key].as_array().into_iter().flatten() {
                walk(doc, inner, at, seen, open);
            }
        }
        if schema["items"].is_object() {
            walk(doc, &schema["items"], at, seen, open);
        }
    }

    #[test]
    fn bodiless_routes_are_known() {
        let with_body = operations_with_body();
        assert!(with_body.contains(&("POST".to_owned(), "/v1/payments".to_owned())));
        assert!(with_body.contains(&("POST".to_owned(), "/v1/api-keys/{id}/roll".to_owned())));
        assert!(!with_body.contains(&("POST".to_owned(), "/v1/payments/{id}/cancel".to_owned())));
        assert!(!with_body.contains(&("POST".to_owned(), "/v1/auth/token".to_owned())));
    }
}
