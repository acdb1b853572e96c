//! Checks of the whole served document: one operationId per operation, a
//! schema for every success answer, no dangling reference.

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
