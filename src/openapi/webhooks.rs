//! The root `webhooks` of the document: every event of contract §4, its envelope, its payload
//! and the three Standard Webhooks headers.

use serde_json::{json, Map, Value};

use crate::webhooks::events;

/// Each event: its type, the target it goes to, the payload schema and when it is sent.
const EVENTS: &[(&str, &str, &str, &str)] = &[
    (
        events::GROUP_MEMBER_ADD,
        "GROUP_SERVICE_URL",
        "GroupMemberAdd",
        "An approval started a grant: add the person to the product's default group.",
    ),
    (
        events::BILLING_SEAT_START,
        "BILLING_SERVICE_URL",
        "BillingSeatStart",
        "An approval started a grant: start billing its seat. At most once per grant.",
    ),
    (
        events::ACCESS_REQUEST_DECIDED,
        "NOTIFICATION_SERVICE_URL",
        "AccessRequestDecided",
        "A request was approved, denied, or expired without a decision.",
    ),
    (
        events::GROUP_MEMBER_REMOVE,
        "GROUP_SERVICE_URL",
        "GroupMemberRemove",
        "A grant from a request ended (revoked, expired, or its user removed): remove the person \
         from the group. Never sent before the grant's `group.member.add` was delivered.",
    ),
    (
        events::BILLING_SEAT_END,
        "BILLING_SERVICE_URL",
        "BillingSeatEnd",
        "A grant from a request ended: stop billing its seat. At most once per grant, never \
         before its `billing.seat.start` was delivered.",
    ),
    (
        events::GRANT_ENDED,
        "NOTIFICATION_SERVICE_URL",
        "GrantEnded",
        "A grant from a request ended.",
    ),
    (
        events::GRANT_EXPIRING,
        "NOTIFICATION_SERVICE_URL",
        "GrantExpiring",
        "A grant from a request ends within `GRANT_EXPIRY_WARNING_SECS`. Once per grant.",
    ),
];

fn header(name: &str, description: &str, example: Value) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": true,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    })
}

fn operation(event: &str, target: &str, schema: &str, when: &str) -> Value {
    let envelope = format!("{schema}Event");
    json!({
        "post": {
            "operationId": format!("on_{}", event.replace('.', "_")),
            "summary": format!("`{event}`, sent to `{target}`"),
            "description": format!(
                "{when} Delivered from a transactional outbox, at least once: a non-2xx answer \
                 (a redirect included), a timeout or a refused connection is retried with \
                 exponential backoff; deduplicate by `webhook-id`. Verify `webhook-signature` with \
                 the target's `…_SECRET` (Standard Webhooks)."
            ),
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                header("webhook-id", "The same on every retry of a delivery: deduplicate by it.",
                    json!("msg_2b1f0c5e9d4a4c7e8f3a6b5d4c3e2f1a")),
                header("webhook-timestamp", "When this attempt was signed, in Unix seconds.",
                    json!("1796290200")),
                header("webhook-signature",
                    "`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, keyed \
                     with the base64 after `whsec_` of the target's secret.",
                    json!("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=")),
            ],
            "requestBody": {
                "required": true,
                "content": {"application/json": {
                    "schema": {"$ref": format!("#/components/schemas/{envelope}")},
                }},
            },
            "responses": {
                "200": {"description": "Received. Any 2xx answer counts as delivered."},
                "default": {"description": "Anything else is retried, then the delivery fails."},
            },
        }
    })
}

fn envelope(event: &str, schema: &str) -> Value {
    json!({
        "type": "object",
        "description": format!("The Standard Webhooks body of `{event}`."),
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "const": event},
            "timestamp": {"type": "string", "format": "date-time"},
            "data": {"$ref": format!("#/components/schemas/{schema}")},
        },
    })
}

/// Adds the root `webhooks` and each event's envelope schema.
pub fn add(doc: &mut Value) {
    let mut webhooks = Map::new();
    for (event, target, schema, when) in EVENTS {
        webhooks.insert((*event).to_owned(), operation(event, target, schema, when));
        doc["components"]["schemas"][format!("{schema}Event")] = envelope(event, schema);
    }
    doc["webhooks"] = Value::Object(webhooks);
}
