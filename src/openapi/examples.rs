//! Realistic examples for every request body and every success answer, built from the API's
//! own types (so each is what the service would really send). Request examples are chosen so
//! that Swagger UI's prefill, executed unchanged, does something sensible.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::domain::{EndReason, GrantSource, GrantStatus, RequestKind, RequestStatus, SiteRole};
use crate::http::admin::{AccessRequestSettings, RequestBlock, RequestBlockList};
use crate::http::bulk::{BulkResult, BulkResults};
use crate::http::deliveries::{DeliveryAttempt, Requeued, WebhookDelivery, WebhookDeliveryPage};
use crate::http::directory::{Product, SiteUser};
use crate::http::grants::{Grant, GrantPage};
use crate::http::orgs::{AdminSite, Org, Site};
use crate::http::records::{AuditEvent, AuditEventPage, Feedback, FeedbackPage};
use crate::http::request_types::{AccessRequest, AccessRequestPage, Person};
use crate::http::review::{Profile, RequestHistory, Review, ReviewProduct};

pub const ORG_ID: &str = "2f0d4c1e-7a2b-4c55-9d10-5b8e3f6a9c01";
pub const SITE_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
pub const REQUEST_ID: &str = "0b8f4a52-7c51-4c47-9d0e-2f4f0f4c2b11";
pub const GRANT_ID: &str = "5f3c2e1a-8b7d-4e6f-a1b2-c3d4e5f60718";
/// An Atlassian-style account id: the requester in the examples.
pub const MEMBER: &str = "5b10a2844c20165700ede21g";
pub const ADMIN: &str = "5b10ac8d82e05b22cc7d4ef5";

fn id(raw: &str) -> Uuid {
    raw.parse().expect("an example UUID")
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 3, hour, minute, 0)
        .single()
        .expect("a time")
}

fn value(example: impl Serialize) -> Value {
    serde_json::to_value(example).expect("examples serialize")
}

fn org() -> Org {
    Org {
        id: id(ORG_ID),
        name: "Acme".into(),
        verified_domains: vec!["acme.com".into()],
        created_at: at(9, 0),
    }
}

fn site() -> Site {
    Site {
        id: id(SITE_ID),
        org_id: id(ORG_ID),
        name: "Acme Jira".into(),
        url: "https://acme.atlassian.net".into(),
        created_at: at(9, 1),
    }
}

fn product() -> Product {
    Product {
        site_id: id(SITE_ID),
        product_key: "jira-software".into(),
        name: "Jira Software".into(),
        default_group: "jira-software-users".into(),
        max_duration_hours: None,
        seat_limit: Some(100),
        seats_used: 42,
        created_at: at(9, 2),
        updated_at: at(9, 2),
    }
}

fn site_user() -> SiteUser {
    SiteUser {
        site_id: id(SITE_ID),
        account_id: MEMBER.into(),
        email: "sam@acme.com".into(),
        display_name: Some("Sam Jones".into()),
        role: SiteRole::Member,
        products: vec!["jira-software".into()],
        blocked: false,
        created_at: at(9, 3),
        updated_at: at(9, 3),
    }
}

fn member() -> Person {
    Person {
        account_id: MEMBER.into(),
        email: Some("sam@acme.com".into()),
        display_name: Some("Sam Jones".into()),
        on_site: true,
    }
}

fn pending() -> AccessRequest {
    AccessRequest {
        id: id(REQUEST_ID),
        site_id: id(SITE_ID),
        product_key: "jira-software".into(),
        kind: RequestKind::SelfRequest,
        status: RequestStatus::Pending,
        requester: member(),
        subject: member(),
        reason: Some("I triage the support queue and need to see its tickets".into()),
        duration_hours: None,
        expires_at: Some(at(9, 30) + chrono::Duration::days(7)),
        grant_id: None,
        created_at: at(9, 30),
        decided_at: None,
        decided_by: None,
        decision_message: None,
        version: 1,
    }
}

fn decided(status: RequestStatus, message: Option<&str>) -> AccessRequest {
    AccessRequest {
        status,
        expires_at: None,
        grant_id: (status == RequestStatus::Approved).then(|| id(GRANT_ID)),
        decided_at: Some(at(10, 15)),
        decided_by: Some(
            if status == RequestStatus::Cancelled {
                MEMBER
            } else {
                ADMIN
            }
            .into(),
        ),
        decision_message: message.map(str::to_owned),
        version: 2,
        ..pending()
    }
}

fn grant() -> Grant {
    Grant {
        id: id(GRANT_ID),
        site_id: id(SITE_ID),
        product_key: "jira-software".into(),
        account_id: MEMBER.into(),
        status: GrantStatus::Active,
        source: GrantSource::Request,
        request_id: Some(id(REQUEST_ID)),
        granted_at: at(10, 15),
        granted_by: Some(ADMIN.into()),
        expires_at: None,
        ended_at: None,
        ended_by: None,
        end_reason: None,
        version: 1,
    }
}

fn revoked() -> Grant {
    Grant {
        status: GrantStatus::Revoked,
        ended_at: Some(at(16, 0)),
        ended_by: Some(ADMIN.into()),
        end_reason: Some(EndReason::Revoked),
        version: 2,
        ..grant()
    }
}

fn profile() -> Profile {
    Profile {
        account_id: MEMBER.into(),
        email: Some("sam@acme.com".into()),
        email_verified: true,
        display_name: Some("Sam Jones".into()),
        on_site: true,
        role: Some(SiteRole::Member),
        products: vec!["confluence".into()],
        blocked: false,
        email_domain_verified_by_org: true,
        previous_requests: RequestHistory {
            total: 2,
            approved: 1,
            denied: 1,
        },
    }
}

fn settings() -> AccessRequestSettings {
    AccessRequestSettings {
        in_rollout: true,
        opted_out: false,
        external_requests_enabled: true,
        pending_ttl_hours: Some(168),
    }
}

fn feedback() -> Feedback {
    Feedback {
        id: id("9a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"),
        site_id: id(SITE_ID),
        account_id: ADMIN.into(),
        rating: 5,
        comment: Some("Reviewing requests from one page saves our admins time.".into()),
        created_at: at(11, 0),
    }
}

fn delivery() -> WebhookDelivery {
    WebhookDelivery {
        id: id("c4d5e6f7-0a1b-4c2d-8e3f-405162738495"),
        webhook_id: "msg_2b1f0c5e9d4a4c7e8f3a6b5d4c3e2f1a".into(),
        request_id: id(REQUEST_ID),
        grant_id: Some(id(GRANT_ID)),
        target: WebhookTargetKind::Billing,
        event_type: "billing.seat.start".into(),
        status: DeliveryStatus::Failed,
        attempts: 12,
        next_attempt_at: at(14, 2),
        last_error: Some("the receiver answered 503 Service Unavailable".into()),
        created_at: at(10, 15),
        attempt_log: vec![DeliveryAttempt {
            at: at(14, 2),
            status_code: Some(503),
            error: Some("the receiver answered 503 Service Unavailable".into()),
            duration_ms: 41,
        }],
        attempt_log_total: 12,
    }
}

/// The example body of a request to `operation_id`, when it takes one.
pub fn request(operation_id: &str) -> Option<Value> {
    Some(match operation_id {
        "create_org" => json!({"name": "Acme", "verified_domains": ["acme.com"]}),
        "create_site" => json!({"name": "Acme Jira", "url": "https://acme.atlassian.net"}),
        "upsert_product" => json!({
            "name": "Jira Software", "default_group": "jira-software-users",
            "max_duration_hours": null, "seat_limit": 100,
        }),
        "upsert_site_user" => json!({"email": "sam@acme.com", "display_name": "Sam Jones", "role": "member"}),
        "create_access_request" => json!({
            "product_key": "jira-software",
            "reason": "I triage the support queue and need to see its tickets",
        }),
        "approve_access_request" | "cancel_access_request" => json!({}),
        "deny_access_request" => json!({"message": "Please ask your team lead to request this for you."}),
        "decide_access_requests" => json!({"action": "approve", "ids": [REQUEST_ID]}),
        "revoke_grant" => json!({"reason": "Left the project"}),
        "update_grant_expiry" => json!({"expires_at": "2030-06-28T17:00:00Z"}),
        "update_access_request_settings" => json!({"opted_out": false, "pending_ttl_hours": 168}),
        "set_site_rollout" => json!({"in_rollout": true}),
        "send_feedback" => {
            json!({"rating": 5, "comment": "Reviewing requests from one page saves our admins time."})
        }
        "retry_failed_webhook_deliveries" => json!({"target": "billing"}),
        _ => return None,
    })
}

/// The example body of a success answer of `operation_id`, when it has one.
pub fn response(operation_id: &str) -> Option<Value> {
    Some(match operation_id {
        "create_org" | "get_org" => value(org()),
        "create_site" | "get_site" => value(site()),
        "list_admin_sites" => value(vec![AdminSite {
            site: site(),
            pending_requests: 3,
        }]),
        "upsert_product" => value(product()),
        "list_products" => value(vec![product()]),
        "upsert_site_user" | "get_site_user" => value(site_user()),
        "create_access_request" | "get_access_request" => value(pending()),
        "list_access_requests" | "list_my_access_requests" => value(AccessRequestPage {
            items: vec![pending()],
            next_cursor: Some("MTc5NjI5MDIwMDAwMDAwMDowYjhmNGE1Mg".into()),
        }),
        "review_access_request" => value(Review {
            request: pending(),
            requester: profile(),
            subject: profile(),
            product: ReviewProduct {
                product_key: "jira-software".into(),
                name: "Jira Software".into(),
                seat_limit: Some(100),
                seats_used: 42,
                max_duration_hours: None,
            },
        }),
        "approve_access_request" => value(decided(RequestStatus::Approved, None)),
        "deny_access_request" => value(decided(
            RequestStatus::Denied,
            Some("Please ask your team lead to request this for you."),
        )),
        "cancel_access_request" => value(decided(RequestStatus::Cancelled, None)),
        "decide_access_requests" => value(BulkResults {
            results: vec![BulkResult {
                id: id(REQUEST_ID),
                status: 200,
                request: Some(decided(RequestStatus::Approved, None)),
                problem: None,
            }],
        }),
        "list_grants" => value(GrantPage {
            items: vec![grant()],
            next_cursor: None,
        }),
        "get_grant" => value(grant()),
        "revoke_grant" => value(revoked()),
        "update_grant_expiry" => value(Grant {
            expires_at: Some(
                Utc.with_ymd_and_hms(2030, 6, 28, 17, 0, 0)
                    .single()
                    .expect("a time"),
            ),
            version: 2,
            ..grant()
        }),
        "list_request_blocks" => value(RequestBlockList {
            items: vec![RequestBlock {
                site_id: id(SITE_ID),
                account_id: "712020:4c2b1a0d-9e8f-4a7b-b6c5-d4e3f2a1b0c9".into(),
                email: "visitor@example.net".into(),
                request_id: Some(id(REQUEST_ID)),
                blocked_by: ADMIN.into(),
                created_at: at(10, 20),
            }],
        }),
        "get_access_request_settings" | "update_access_request_settings" | "set_site_rollout" => {
            value(settings())
        }
        "send_feedback" => value(feedback()),
        "list_feedback" => value(FeedbackPage {
            items: vec![feedback()],
            next_cursor: None,
        }),
        "list_audit_events" => value(AuditEventPage {
            items: vec![AuditEvent {
                id: id("3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"),
                at: at(10, 15),
                actor_account_id: Some(ADMIN.into()),
                action: "access_request.approved".into(),
                request_id: Some(id(REQUEST_ID)),
                details: json!({"product_key": "jira-software", "grant_id": GRANT_ID}),
            }],
            next_cursor: None,
        }),
        "list_webhook_deliveries" => value(WebhookDeliveryPage {
            items: vec![delivery()],
            next_cursor: None,
        }),
        "retry_webhook_delivery" => value(WebhookDelivery {
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: at(14, 30),
            ..delivery()
        }),
        "retry_failed_webhook_deliveries" => value(Requeued { requeued: 3 }),
        _ => return None,
    })
}
