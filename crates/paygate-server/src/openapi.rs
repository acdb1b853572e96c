//! The OpenAPI 3.1 document, generated from the handlers' annotations and
//! served at `/v1/openapi.json`.

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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;
    use utoipa::OpenApi as _;

    use super::ApiDoc;

    const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    /// `(method, path, operation)` for every operation of the document.
    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                if let Some(operation) = item.get(method) {
                    out.push((method.to_owned(), path.clone(), operation.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_operation_has_its_own_operation_id() {
        let doc = document();
        let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut missing = Vec::new();
        for (method, path, operation) in operations(&doc) {
            match operation["operationId"].as_str() {
                Some(id) if !id.is_empty() => owners
                    .entry(id.to_owned())
                    .or_default()
                    .push(format!("{method} {path}")),
                _ => missing.push(format!("{method} {path}")),
            }
        }
        assert!(missing.is_empty(), "operations without an operationId: {missing:?}");
        let shared: Vec<_> = owners.iter().filter(|(_, ops)| ops.len() > 1).collect();
        assert!(shared.is_empty(), "operationIds used more than once: {shared:?}");
        // Stripe-like names: a lowerCamelCase verb and object, no handler names.
        let bad: Vec<_> = owners
            .keys()
            .filter(|id| {
                !id.starts_with(|c: char| c.is_ascii_lowercase()) || !id.chars().all(|c| c.is_ascii_alphanumeric())
            })
            .collect();
        assert!(bad.is_empty(), "operationIds not in lowerCamelCase: {bad:?}");
        assert!(owners.len() >= 38, "only {} operations documented", owners.len());
    }

    #[test]
    fn every_success_answer_has_a_schema() {
        let doc = document();
        let mut undescribed = Vec::new();
        for (method, path, operation) in operations(&doc) {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path} documents no success"
            );
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                let content = response.get("content").and_then(Value::as_object);
                let bodiless = matches!(status.as_str(), "202" | "204") && content.is_none_or(|c| c.is_empty());
                let described = content.is_some_and(|c| !c.is_empty() && c.values().all(|m| m.get("schema").is_some()));
                if !bodiless && !described {
                    undescribed.push(format!("{method} {path} {status}"));
                }
            }
        }
        assert!(
            undescribed.is_empty(),
            "success answers without a schema: {undescribed:?}"
        );
    }

    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_lists_are_typed_per_item() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        let dangling: Vec<_> = found
            .iter()
            .filter(|r| {
                r.strip_prefix("#/components/schemas/")
                    .is_none_or(|name| !schemas.contains_key(name))
            })
            .collect();
        assert!(dangling.is_empty(), "references to no schema: {dangling:?}");
        for name in ["Event", "Delivery", "AuditEvent"] {
            assert!(schemas.contains_key(name), "{name} is not in components");
        }
        let events = &schemas["EventList"];
        assert_eq!(
            events["properties"]["data"]["items"]["$ref"],
            "#/components/schemas/Event"
        );
        let mut required: Vec<_> = events["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        required.sort_unstable();
        assert_eq!(required, ["data", "has_more", "next_cursor", "object"]);
    }

    #[test]
    fn a_body_of_its_own_on_an_error_status_stays_beside_the_problem() {
        let doc = document();
        let unready = &doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"];
        assert_eq!(
            unready["application/json"]["schema"]["$ref"],
            "#/components/schemas/Health"
        );
        assert_eq!(
            unready["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        let missing = &doc["paths"]["/v1/payments/{id}"]["get"]["responses"]["404"]["content"];
        assert_eq!(missing.as_object().unwrap().len(), 1, "{missing}");
        assert_eq!(
            missing["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
    }
}
