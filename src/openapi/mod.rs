//! The OpenAPI document: paths come from the handlers, schemas from their types; then one pass
//! adds what utoipa cannot say from them (the problem answers and their codes, the root
//! `webhooks`, examples, always-present fields, optional bodies, servers).

mod examples;
mod problem_schemas;
mod problems;
mod webhooks;

use serde_json::{json, Value};

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{admin, bulk, deliveries, directory, grants, ops, orgs, records, requests, review};
use crate::webhooks::payloads;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Access Requests",
        description = "People ask for access to a product on a site; admins of the site or its \
                       organization approve or deny. Every call but the operations endpoints needs \
                       `Authorization: Bearer <JWT>`. Errors are `application/problem+json` with a \
                       stable `code`.",
        contact(name = "Access Requests maintainers", email = "access-requests@example.com"),
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        orgs::create_org, orgs::get_org, orgs::put_org_admin, orgs::delete_org_admin,
        orgs::create_site, orgs::get_site, orgs::admin_sites,
        directory::put_product, directory::list_products,
        directory::put_site_user, directory::get_site_user, directory::delete_site_user,
        requests::create_request, requests::list_requests, requests::get_request, review::review_request,
        requests::approve_request, requests::deny_request, requests::cancel_request, bulk::bulk_decide,
        requests::my_requests,
        grants::list_grants, grants::get_grant, grants::patch_grant, grants::revoke_grant,
        admin::list_blocks, admin::delete_block, admin::get_settings, admin::put_settings, admin::put_rollout,
        records::create_feedback, records::list_feedback, records::list_audit,
        deliveries::list_deliveries, deliveries::retry_delivery, deliveries::retry_failed_deliveries,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(
        crate::error::Problem, crate::error::FieldError,
        payloads::GroupMemberAdd, payloads::GroupMemberRemove, payloads::BillingSeatStart,
        payloads::BillingSeatEnd, payloads::AccessRequestDecided, payloads::GrantEnded,
        payloads::GrantExpiring,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "access-requests", description = "Ask for access; review, approve, deny, cancel"),
        (name = "directory", description = "Orgs, sites, products and site users"),
        (name = "grants", description = "Access that ends: grants, revocation, time-bound access"),
        (name = "me", description = "The caller's own requests and sites"),
        (name = "blocks", description = "Accounts that may no longer ask"),
        (name = "settings", description = "External requests: rollout and opt-out"),
        (name = "feedback", description = "Admins' feedback on the feature"),
        (name = "audit", description = "Who changed what"),
        (name = "webhooks", description = "The webhooks sent to the group, billing and notification services, and their outbox"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An Atlassian-style JWT: `sub`, `email`, `email_verified`. Locally: `access-requests token --sub ID --email E`."))
                    .build(),
            ),
        );
    }
}

/// The document as served and committed.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The committed text: the refined document as pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut doc = serde_json::to_value(document()).expect("the OpenAPI document serializes");
    refine(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

/// Calls `f` with the operation id and object of every operation.
fn each_operation(doc: &mut Value, mut f: impl FnMut(&str, &mut Value)) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        for op in item.as_object_mut().into_iter().flat_map(|m| m.values_mut()) {
            if let Some(id) = op["operationId"].as_str().map(str::to_owned) {
                f(&id, op);
            }
        }
    }
}

/// Operations whose body may be left out (or `null`).
const OPTIONAL_BODIES: &[&str] = &[
    "approve_access_request",
    "deny_access_request",
    "cancel_access_request",
    "revoke_grant",
    "retry_failed_webhook_deliveries",
];

/// The operations endpoints: no token.
const PUBLIC: &[&str] = &["get_health", "get_readiness", "get_metrics"];

/// Schemas only ever sent by the service, which writes every property (`null` when empty): all
/// their properties are required, so clients see a value or `null`, never "absent".
const ANSWERS: &[&str] = &[
    "AccessRequest",
    "AccessRequestPage",
    "Person",
    "Review",
    "Profile",
    "RequestHistory",
    "ReviewProduct",
    "Org",
    "Site",
    "AdminSite",
    "Product",
    "SiteUser",
    "Grant",
    "GrantPage",
    "RequestBlock",
    "RequestBlockList",
    "AccessRequestSettings",
    "Feedback",
    "FeedbackPage",
    "AuditEvent",
    "AuditEventPage",
    "WebhookDelivery",
    "WebhookDeliveryPage",
    "DeliveryAttempt",
    "Requeued",
    "BulkResults",
    "GroupMemberAdd",
    "GroupMemberRemove",
    "BillingSeatStart",
    "BillingSeatEnd",
    "AccessRequestDecided",
    "GrantEnded",
    "GrantExpiring",
];

fn refine(doc: &mut Value) {
    problems::add(doc);
    webhooks::add(doc);
    doc["servers"] = json!([{"url": "/", "description": "This service (where this document is served)"}]);
    let schemas = doc["components"]["schemas"].as_object_mut().expect("schemas");
    for name in ANSWERS {
        if let Some(schema) = schemas.get_mut(*name) {
            let all: Vec<Value> = schema["properties"]
                .as_object()
                .map(|p| p.keys().map(|k| json!(k)).collect())
                .unwrap_or_default();
            schema["required"] = Value::Array(all);
        }
    }
    // What changed is any JSON object, not an empty one.
    schemas["AuditEvent"]["properties"]["details"] =
        json!({"type": "object", "additionalProperties": true, "description": "What changed."});
    doc["components"]["headers"] = json!({"X-Request-Id": {
        "description": "The caller's own `X-Request-Id` when it is 1-128 visible ASCII characters, else a generated one; the service's log line for the request carries it.",
        "schema": {"type": "string"},
    }});
    if let Some(responses) = doc["components"]["responses"].as_object_mut() {
        responses.values_mut().for_each(with_request_id);
    }
    each_operation(doc, |id, op| {
        if PUBLIC.contains(&id) {
            op["security"] = json!([]);
        }
        if let Some(body) = op.get_mut("requestBody") {
            if OPTIONAL_BODIES.contains(&id) {
                body["required"] = json!(false);
            }
            if let Some(example) = examples::request(id) {
                body["content"]["application/json"]["example"] = example;
            }
        }
        let params = op.get_mut("parameters").and_then(Value::as_array_mut);
        for param in params.into_iter().flatten() {
            match param["name"].as_str() {
                Some("product_key") if param["in"] == "path" => param["example"] = json!("jira-software"),
                Some("limit") => param["schema"]["default"] = json!(50),
                _ => {}
            }
        }
        let example = examples::response(id);
        for (status, answer) in op["responses"].as_object_mut().into_iter().flatten() {
            if status.starts_with('2') {
                if let (Some(example), Some(content)) = (&example, answer.get_mut("content")) {
                    if let Some(json) = content.get_mut("application/json") {
                        json["example"] = example.clone();
                    }
                }
            }
            with_request_id(answer);
        }
    });
}

/// Every answer carries `X-Request-Id` (a `$ref` answer carries it in its component).
fn with_request_id(answer: &mut Value) {
    if answer.get("$ref").is_none() {
        answer["headers"]["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed document is the generated one; regenerate with
    /// `cargo run -- openapi > openapi/openapi.json`.
    #[test]
    fn committed_document_matches_the_code() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document_json(),
            "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json`"
        );
    }

    /// Every `$ref` points at a component the document defines.
    #[test]
    fn references_resolve() {
        let text = document_json();
        let doc: Value = serde_json::from_str(&text).unwrap();
        for kind in ["schemas", "responses", "headers"] {
            let defined = doc["components"][kind].as_object().unwrap();
            for part in text.split(&format!("\"#/components/{kind}/")).skip(1) {
                let name = &part[..part.find('"').unwrap()];
                assert!(defined.contains_key(name), "dangling reference to {kind}/{name}");
            }
        }
    }

    fn refined() -> Value {
        serde_json::from_str(&document_json()).unwrap()
    }

    /// What integrators and Swagger UI rely on, for every operation: a stable id, a one-line
    /// summary and a description, the bearer scheme (none on the operations endpoints), the
    /// problem answers with their codes, and examples for bodies and success answers.
    #[test]
    fn every_operation_is_documented_for_integrators() {
        let doc = refined();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let mut ids = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let what = format!("{method} {path}");
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: no operationId"));
                ids.push(id.to_owned());
                let summary = op["summary"].as_str().unwrap_or_default();
                assert!(
                    !summary.is_empty() && summary.len() <= 80 && !summary.contains('\n'),
                    "{what}: {summary:?}"
                );
                assert!(!summary.contains("**"), "{what}: markup in the summary");
                assert!(
                    op["description"].as_str().is_some_and(|d| !d.is_empty()),
                    "{what}: no description"
                );
                let public = PUBLIC.contains(&id);
                let expected = if public {
                    json!([])
                } else {
                    json!([{"bearer": []}])
                };
                assert_eq!(op["security"], expected, "{what}");
                let responses = op["responses"].as_object().unwrap();
                let problems =
                    problems::of(id).unwrap_or_else(|| panic!("{what}: no problem answers listed"));
                for (status, _) in &problems {
                    assert!(
                        responses.contains_key(&status.to_string()),
                        "{what} lacks {status}"
                    );
                }
                assert!(responses.contains_key("500"), "{what} lacks 500");
                if !public {
                    assert!(responses.contains_key("401"), "{what} lacks 401");
                }
                for (status, answer) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                    if let Some(json) = answer["content"].get("application/json") {
                        assert!(json.get("example").is_some(), "{what} {status}: no example");
                    }
                }
                if let Some(body) = op.get("requestBody") {
                    assert!(
                        body["content"]["application/json"].get("example").is_some(),
                        "{what}: no body example"
                    );
                    assert!(
                        body["content"]["application/json"]["schema"]
                            .get("oneOf")
                            .is_none(),
                        "{what}"
                    );
                }
            }
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "operation ids repeat");
    }

    /// Every event of contract §4 is a root webhook with its envelope and the three headers.
    #[test]
    fn every_webhook_event_is_documented() {
        use crate::webhooks::events::*;
        let doc = refined();
        for event in [
            GROUP_MEMBER_ADD,
            GROUP_MEMBER_REMOVE,
            BILLING_SEAT_START,
            BILLING_SEAT_END,
            ACCESS_REQUEST_DECIDED,
            GRANT_ENDED,
            GRANT_EXPIRING,
        ] {
            let op = &doc["webhooks"][event]["post"];
            let headers: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap_or_else(|| panic!("{event} is not documented"))
                .iter()
                .filter_map(|p| p["name"].as_str())
                .collect();
            assert_eq!(headers, ["webhook-id", "webhook-timestamp", "webhook-signature"]);
            let envelope = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap();
            let name = envelope.trim_start_matches("#/components/schemas/");
            assert_eq!(
                doc["components"]["schemas"][name]["properties"]["type"]["const"],
                event
            );
        }
    }

    /// The problem table names only operations that exist.
    #[test]
    fn problem_answers_name_real_operations() {
        let mut doc = refined();
        let mut ids = Vec::new();
        each_operation(&mut doc, |id, _| ids.push(id.to_owned()));
        for id in problems::listed() {
            assert!(
                ids.iter().any(|i| i == id),
                "the problem table names {id}, which does not exist"
            );
        }
    }
}
