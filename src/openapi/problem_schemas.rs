//! How a problem answer is written in the document: its schema (one named schema per set of
//! `code` words), its example and its headers.

use serde_json::{json, Map, Value};

fn title(status: u16) -> &'static str {
    actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

fn example(status: u16, code: &str) -> Value {
    let mut problem = json!({
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": detail(code),
        "code": code,
    });
    match code {
        "validation_failed" => {
            problem["errors"] =
                json!([{"field": "product_key", "message": "must match ^[a-z][a-z0-9-]{1,63}$"}]);
        }
        "duplicate_request" => problem["existing_request_id"] = json!(super::examples::REQUEST_ID),
        _ => {}
    }
    problem
}

fn detail(code: &str) -> &'static str {
    match code {
        "bad_request" => "the body is not valid: unknown field `extra`",
        "unauthorized" => "a bearer token is required",
        "forbidden" => "only admins of this site or its organization may do this",
        "not_found" => "the access request was not found",
        "email_not_verified" => "a verified email address is required to request access",
        "requester_blocked" => "this account may no longer request access on this site",
        "on_behalf_requires_site_user" => "only users of the site may request access for someone else",
        "external_requests_disabled" => {
            "this site does not accept requests from people who are not its users"
        }
        "already_has_access" => "557058:f4b2 already has jira-software on this site",
        "duplicate_request" => "a pending request for this product and person exists",
        "idempotency_key_reused" => "this Idempotency-Key was used with another request",
        "not_pending" => "the request is no longer pending",
        "seat_limit_reached" => {
            "all 50 seats of jira-software are taken; revoke a grant or raise the seat limit"
        }
        "grant_not_active" => "the grant has ended already",
        "not_failed" => "only failed deliveries can be retried",
        "precondition_failed" => "the version named by If-Match is not the request's current version",
        "payload_too_large" => "the body is larger than 64 KiB",
        "unsupported_media_type" => "the body must be application/json",
        "validation_failed" => "the request has invalid fields",
        "unknown_product" => "the site has no product `jira-work`",
        "duration_too_long" => "the product allows access for at most 720 hours",
        "rate_limited" => "at most 30 access requests a minute per account",
        "unavailable" => "the database is unavailable; try again",
        _ => "the service could not complete the request",
    }
}

/// Names for the sets of several codes an answer can carry.
const NAMED: &[(&[&str], &str)] = &[
    (
        &[
            "email_not_verified",
            "requester_blocked",
            "on_behalf_requires_site_user",
            "external_requests_disabled",
        ],
        "RequestRefusedProblem",
    ),
    (
        &[
            "already_has_access",
            "duplicate_request",
            "idempotency_key_reused",
        ],
        "RequestConflictProblem",
    ),
    (
        &["validation_failed", "unknown_product", "duration_too_long"],
        "RequestUnprocessableProblem",
    ),
    (
        &["validation_failed", "unknown_product"],
        "ProductsUnprocessableProblem",
    ),
    (
        &["validation_failed", "duration_too_long"],
        "EndOfAccessUnprocessableProblem",
    ),
    (&["not_pending", "seat_limit_reached"], "ApprovalConflictProblem"),
];

fn camel(code: &str) -> String {
    code.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// The schema of a problem that carries one of `codes`: one named schema per set of codes, so
/// that generated clients get one type for each instead of one per operation.
pub fn schema_name(codes: &[&str]) -> String {
    match codes {
        [code] => format!("{}Problem", camel(code)),
        _ => NAMED.iter().find(|(set, _)| *set == codes).map_or_else(
            || format!("{}Problem", codes.iter().map(|c| camel(c)).collect::<String>()),
            |(_, name)| (*name).to_owned(),
        ),
    }
}

pub fn problem_schema(codes: &[&str]) -> Value {
    json!({
        "allOf": [
            {"$ref": "#/components/schemas/Problem"},
            {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
        ]
    })
}

/// A problem answer that may carry `codes`.
pub fn response(status: u16, codes: &[&str], description: &str) -> Value {
    let schema = json!({"$ref": format!("#/components/schemas/{}", schema_name(codes))});
    let mut headers = Map::new();
    match status {
        401 => {
            headers.insert(
                "WWW-Authenticate".into(),
                json!({"description": "`Bearer`", "schema": {"type": "string"}}),
            );
        }
        429 | 503 => {
            headers.insert(
                "Retry-After".into(),
                json!({"description": "Seconds to wait", "schema": {"type": "integer"}}),
            );
        }
        _ => {}
    }
    let codes_text = codes
        .iter()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut answer = json!({
        "description": format!("{description} Codes: {codes_text}."),
        "content": {"application/problem+json": {"schema": schema, "example": example(status, codes[0])}},
    });
    if !headers.is_empty() {
        answer["headers"] = Value::Object(headers);
    }
    answer
}
