//! The problem answers of every operation, with the `code` words each can carry (contract §3).
//! Shared ones are `components/responses`; the others are written out where they differ.

use serde_json::{json, Map, Value};

use super::problem_schemas::{problem_schema, response, schema_name};

/// Every `code` word the service answers with.
pub const CODES: &[&str] = &[
    "bad_request",
    "unauthorized",
    "forbidden",
    "email_not_verified",
    "requester_blocked",
    "on_behalf_requires_site_user",
    "external_requests_disabled",
    "not_found",
    "method_not_allowed",
    "conflict",
    "already_has_access",
    "duplicate_request",
    "idempotency_key_reused",
    "not_pending",
    "seat_limit_reached",
    "grant_not_active",
    "not_failed",
    "precondition_failed",
    "payload_too_large",
    "unsupported_media_type",
    "validation_failed",
    "unknown_product",
    "duration_too_long",
    "rate_limited",
    "unavailable",
    "internal_error",
];

/// The shared answers: status, component name, codes, what it means.
const SHARED: &[(u16, &str, &[&str], &str)] = &[
    (
        400,
        "BadRequest",
        &["bad_request"],
        "Malformed JSON, unknown body fields, or bad query parameters or headers.",
    ),
    (
        401,
        "Unauthorized",
        &["unauthorized"],
        "A bearer token is missing or not valid.",
    ),
    (
        403,
        "Forbidden",
        &["forbidden"],
        "The caller's role does not allow this.",
    ),
    (
        404,
        "NotFound",
        &["not_found"],
        "No such resource, or not visible to the caller.",
    ),
    (
        412,
        "PreconditionFailed",
        &["precondition_failed"],
        "`If-Match` names an older version.",
    ),
    (
        413,
        "PayloadTooLarge",
        &["payload_too_large"],
        "The body is larger than 64 KiB.",
    ),
    (
        415,
        "UnsupportedMediaType",
        &["unsupported_media_type"],
        "The body is not `application/json`.",
    ),
    (
        422,
        "ValidationFailed",
        &["validation_failed"],
        "Invalid fields; `errors` lists them.",
    ),
    (
        429,
        "RateLimited",
        &["rate_limited"],
        "Too many requests; nothing was changed. Retry after `Retry-After` seconds.",
    ),
    (
        500,
        "InternalError",
        &["internal_error"],
        "Something went wrong in the service; nothing is leaked. Retry later.",
    ),
    (
        503,
        "Unavailable",
        &["unavailable"],
        "The database or the token signing keys are unavailable. Retry after `Retry-After` seconds.",
    ),
];

/// What a status means when an operation lists codes of its own.
fn meaning(status: u16) -> &'static str {
    match status {
        403 => "The caller may not do this.",
        409 => "Conflicts with the current state; `code` says how.",
        422 => "The request cannot be applied; `code` says why (`validation_failed` lists the fields).",
        _ => SHARED.iter().find(|s| s.0 == status).map_or("", |s| s.3),
    }
}

/// The problem statuses of each operation beyond 401, 500 and 503 (which every operation with a
/// bearer token can answer), with codes of their own where they differ from the shared ones.
/// A problem status and the codes it may carry (empty: the shared ones).
type Answer = (u16, &'static [&'static str]);

const OPERATIONS: &[(&str, &[Answer])] = &[
    (
        "create_org",
        &[(400, &[]), (403, &[]), (413, &[]), (415, &[]), (422, &[])],
    ),
    ("get_org", &[(403, &[]), (404, &[])]),
    ("add_org_admin", &[(403, &[]), (404, &[]), (422, &[])]),
    ("remove_org_admin", &[(403, &[]), (404, &[])]),
    (
        "create_site",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (413, &[]),
            (415, &[]),
            (422, &[]),
        ],
    ),
    ("get_site", &[(403, &[]), (404, &[])]),
    ("list_admin_sites", &[]),
    (
        "upsert_product",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (413, &[]),
            (415, &[]),
            (422, &[]),
        ],
    ),
    ("list_products", &[(404, &[])]),
    (
        "upsert_site_user",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (413, &[]),
            (415, &[]),
            (422, &["validation_failed", "unknown_product"]),
        ],
    ),
    ("get_site_user", &[(403, &[]), (404, &[])]),
    ("remove_site_user", &[(403, &[]), (404, &[])]),
    (
        "create_access_request",
        &[
            (400, &[]),
            (
                403,
                &[
                    "email_not_verified",
                    "requester_blocked",
                    "on_behalf_requires_site_user",
                    "external_requests_disabled",
                ],
            ),
            (404, &[]),
            (
                409,
                &[
                    "already_has_access",
                    "duplicate_request",
                    "idempotency_key_reused",
                ],
            ),
            (413, &[]),
            (415, &[]),
            (
                422,
                &["validation_failed", "unknown_product", "duration_too_long"],
            ),
            (429, &[]),
        ],
    ),
    (
        "list_access_requests",
        &[(400, &[]), (403, &[]), (404, &[]), (422, &[])],
    ),
    ("get_access_request", &[(404, &[])]),
    ("review_access_request", &[(403, &[]), (404, &[])]),
    (
        "approve_access_request",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["not_pending", "seat_limit_reached"]),
            (412, &[]),
            (413, &[]),
            (422, &["validation_failed", "duration_too_long"]),
        ],
    ),
    (
        "deny_access_request",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["not_pending"]),
            (412, &[]),
            (413, &[]),
            (422, &[]),
        ],
    ),
    (
        "cancel_access_request",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["not_pending"]),
            (412, &[]),
            (413, &[]),
        ],
    ),
    ("list_my_access_requests", &[(400, &[]), (422, &[])]),
    (
        "decide_access_requests",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["idempotency_key_reused"]),
            (413, &[]),
            (415, &[]),
            (422, &[]),
        ],
    ),
    ("list_grants", &[(400, &[]), (403, &[]), (404, &[]), (422, &[])]),
    ("get_grant", &[(404, &[])]),
    (
        "revoke_grant",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["grant_not_active"]),
            (413, &[]),
            (422, &[]),
        ],
    ),
    (
        "update_grant_expiry",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (409, &["grant_not_active"]),
            (412, &[]),
            (413, &[]),
            (415, &[]),
            (422, &["validation_failed", "duration_too_long"]),
        ],
    ),
    ("list_request_blocks", &[(403, &[]), (404, &[])]),
    ("remove_request_block", &[(403, &[]), (404, &[])]),
    ("get_access_request_settings", &[(403, &[]), (404, &[])]),
    (
        "update_access_request_settings",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (413, &[]),
            (415, &[]),
            (422, &[]),
        ],
    ),
    (
        "set_site_rollout",
        &[(400, &[]), (403, &[]), (404, &[]), (413, &[]), (415, &[])],
    ),
    (
        "send_feedback",
        &[
            (400, &[]),
            (403, &[]),
            (404, &[]),
            (413, &[]),
            (415, &[]),
            (422, &[]),
        ],
    ),
    ("list_feedback", &[(400, &[]), (403, &[]), (422, &[])]),
    (
        "list_audit_events",
        &[(400, &[]), (403, &[]), (404, &[]), (422, &[])],
    ),
    ("list_webhook_deliveries", &[(400, &[]), (403, &[]), (422, &[])]),
    (
        "retry_webhook_delivery",
        &[(403, &[]), (404, &[]), (409, &["not_failed"])],
    ),
    (
        "retry_failed_webhook_deliveries",
        &[(400, &[]), (403, &[]), (413, &[])],
    ),
];

/// Operations without a bearer token: only these problems (`400` when the HTTP request itself
/// cannot be understood).
const PUBLIC: &[(&str, &[u16])] = &[
    ("get_health", &[400, 500]),
    ("get_readiness", &[400, 500, 503]),
    ("get_metrics", &[400, 500]),
];

/// The problem statuses `operation_id` answers, with their codes (empty: the shared ones).
pub fn of(operation_id: &str) -> Option<Vec<Answer>> {
    if let Some((_, statuses)) = PUBLIC.iter().find(|(id, _)| *id == operation_id) {
        return Some(statuses.iter().map(|s| (*s, &[][..])).collect());
    }
    let (_, listed) = OPERATIONS.iter().find(|(id, _)| *id == operation_id)?;
    let mut all: Vec<Answer> = listed.to_vec();
    all.extend([(401, &[][..]), (500, &[][..]), (503, &[][..])]);
    all.sort_by_key(|(status, _)| *status);
    Some(all)
}

/// Every operation the table lists.
#[cfg(test)]
pub fn listed() -> impl Iterator<Item = &'static str> {
    OPERATIONS
        .iter()
        .map(|(id, _)| *id)
        .chain(PUBLIC.iter().map(|(id, _)| *id))
}

/// Adds the shared problem answers, pins `Problem.code` to the contract's words and writes
/// each operation's problem answers.
pub fn add(doc: &mut Value) {
    let responses: Map<String, Value> = SHARED
        .iter()
        .map(|(status, name, codes, text)| ((*name).to_owned(), response(*status, codes, text)))
        .collect();
    doc["components"]["responses"] = Value::Object(responses);
    doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"] = json!(CODES);
    let mut sets: Vec<&[&str]> = SHARED.iter().map(|s| s.2).collect();
    sets.extend(
        OPERATIONS
            .iter()
            .flat_map(|(_, answers)| answers.iter().map(|a| a.1))
            .filter(|c| !c.is_empty()),
    );
    for codes in sets {
        doc["components"]["schemas"][schema_name(codes)] = problem_schema(codes);
    }
    super::each_operation(doc, |id, op| {
        let Some(problems) = of(id) else {
            return;
        };
        let answers = op["responses"].as_object_mut().expect("responses");
        for (status, codes) in problems {
            let answer = match SHARED.iter().find(|s| s.0 == status) {
                Some((_, name, _, _)) if codes.is_empty() => {
                    json!({"$ref": format!("#/components/responses/{name}")})
                }
                _ => response(status, codes, meaning(status)),
            };
            answers.insert(status.to_string(), answer);
        }
    });
}
