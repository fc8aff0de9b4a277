//! The OpenAPI document: paths come from the handlers, schemas from their types.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{admin, deliveries, directory, ops, requests};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Access Requests",
        description = "People ask for access to a product on a site; admins of the site or its \
                       organization approve or deny. Every call but the operations endpoints needs \
                       `Authorization: Bearer <JWT>`. Errors are `application/problem+json` with a \
                       stable `code`.",
        license(name = "MIT", identifier = "MIT")
    ),
    paths(
        directory::create_org, directory::get_org, directory::put_org_admin, directory::delete_org_admin,
        directory::create_site, directory::get_site, directory::put_product, directory::list_products,
        directory::put_site_user, directory::get_site_user, directory::delete_site_user, directory::admin_sites,
        requests::create_request, requests::list_requests, requests::get_request, requests::review_request,
        requests::approve_request, requests::deny_request, requests::cancel_request, requests::my_requests,
        admin::list_blocks, admin::delete_block, admin::get_settings, admin::put_settings, admin::put_rollout,
        admin::create_feedback, admin::list_feedback, admin::list_audit,
        deliveries::list_deliveries, deliveries::retry_delivery, deliveries::retry_failed_deliveries,
        ops::healthz, ops::readyz, ops::metrics,
    ),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "access-requests", description = "Ask for access; review, approve, deny, cancel"),
        (name = "directory", description = "Orgs, sites, products and site users"),
        (name = "me", description = "The caller's own requests and sites"),
        (name = "blocks", description = "Accounts that may no longer ask"),
        (name = "settings", description = "External requests: rollout and opt-out"),
        (name = "feedback", description = "Admins' feedback on the feature"),
        (name = "audit", description = "Who changed what"),
        (name = "webhooks", description = "The outbox of group, billing and notification webhooks"),
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

/// The committed text: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut text = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
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

    /// Every `$ref` points at a schema the document defines.
    #[test]
    fn references_resolve() {
        let text = document_json();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling reference to {name}");
        }
    }

    #[test]
    fn every_operation_but_operations_needs_a_bearer_token() {
        let doc = serde_json::to_value(document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let public = ["/healthz", "/readyz", "/metrics"].contains(&path.as_str());
                let secured = op.get("security").is_some();
                assert_eq!(secured, !public, "{method} {path}");
                let responses = op["responses"].as_object().unwrap();
                assert!(op.get("operationId").is_some(), "{method} {path}");
                if !public {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
            }
        }
    }
}
