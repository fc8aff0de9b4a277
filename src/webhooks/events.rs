//! The webhook events the use cases enqueue (contract §4).

use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::store::models::{DeliveryRow, GrantRow, RequestRow};
use crate::store::{now_micros, to_datetime};

pub const GROUP_MEMBER_ADD: &str = "group.member.add";
pub const GROUP_MEMBER_REMOVE: &str = "group.member.remove";
pub const BILLING_SEAT_START: &str = "billing.seat.start";
pub const BILLING_SEAT_END: &str = "billing.seat.end";
pub const ACCESS_REQUEST_DECIDED: &str = "access_request.decided";
pub const GRANT_ENDED: &str = "grant.ended";
pub const GRANT_EXPIRING: &str = "grant.expiring";

/// A stored time as the webhooks show it: RFC 3339 UTC with milliseconds.
pub fn rfc3339(micros: i64) -> String {
    to_datetime(micros).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The Standard Webhooks body: `{type, timestamp, data}`.
pub fn envelope(event_type: &str, at_micros: i64, data: Value) -> String {
    json!({
        "type": event_type,
        "timestamp": rfc3339(at_micros),
        "data": data,
    })
    .to_string()
}

/// A new outbox row for `target`, due now.
pub fn delivery(target: WebhookTargetKind, event_type: &str, request_id: &str, data: Value) -> DeliveryRow {
    let now = now_micros();
    DeliveryRow {
        id: Uuid::new_v4().to_string(),
        webhook_id: format!("msg_{}", Uuid::new_v4().simple()),
        request_id: request_id.to_owned(),
        target: target.as_str().to_owned(),
        event_type: event_type.to_owned(),
        payload: envelope(event_type, now, data),
        status: DeliveryStatus::Pending.as_str().to_owned(),
        attempts: 0,
        next_attempt_at: now,
        locked_until: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
        grant_id: None,
    }
}

fn configured(settings: &Settings, target: WebhookTargetKind) -> bool {
    match target {
        WebhookTargetKind::Group => settings.group_service.is_some(),
        WebhookTargetKind::Billing => settings.billing_service.is_some(),
        WebhookTargetKind::Notification => settings.notification_service.is_some(),
    }
}

/// A delivery about `grant` to `target`, when that target is configured.
fn grant_delivery(
    settings: &Settings,
    target: WebhookTargetKind,
    event_type: &str,
    grant: &GrantRow,
    data: Value,
) -> Option<DeliveryRow> {
    configured(settings, target).then(|| {
        let mut row = delivery(
            target,
            event_type,
            grant.request_id.as_deref().unwrap_or_default(),
            data,
        );
        row.grant_id = Some(grant.id.clone());
        row
    })
}

/// Who a new grant is for, as the group service needs to know them.
pub struct Grantee<'a> {
    pub org_id: &'a str,
    pub email: &'a str,
    /// False when the email came from the requester, not from the person or the directory.
    pub email_verified: bool,
}

/// `group.member.add` and `billing.seat.start` of a grant made by an approval.
pub fn grant_started(settings: &Settings, grant: &GrantRow, who: &Grantee<'_>) -> Vec<DeliveryRow> {
    let expires_at = grant.expires_at.map(rfc3339);
    let add = json!({
        "grant_id": grant.id,
        "request_id": grant.request_id,
        "org_id": who.org_id,
        "site_id": grant.site_id,
        "product_key": grant.product_key,
        "group": grant.group_name,
        "account_id": grant.account_id,
        "email": who.email,
        "email_verified": who.email_verified,
        "expires_at": expires_at,
    });
    let start = json!({
        "grant_id": grant.id,
        "request_id": grant.request_id,
        "org_id": who.org_id,
        "site_id": grant.site_id,
        "product_key": grant.product_key,
        "account_id": grant.account_id,
        "started_at": rfc3339(grant.granted_at),
        "expires_at": expires_at,
    });
    [
        grant_delivery(settings, WebhookTargetKind::Group, GROUP_MEMBER_ADD, grant, add),
        grant_delivery(
            settings,
            WebhookTargetKind::Billing,
            BILLING_SEAT_START,
            grant,
            start,
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The end events of an ended grant: `group.member.remove` and `billing.seat.end` for the
/// targets its start went to (`started` lists those start deliveries: each end waits for its
/// start), and `grant.ended` to the notification service.
pub fn grant_ended(
    settings: &Settings,
    grant: &GrantRow,
    org_id: &str,
    started: &[(String, WebhookTargetKind)],
) -> Vec<DeliveryRow> {
    let reason = grant.end_reason.as_deref().unwrap_or_default();
    let start_of = |target| started.iter().find(|(_, t)| *t == target).map(|(id, _)| id);
    let mut rows = Vec::new();
    if let Some(start) = start_of(WebhookTargetKind::Group) {
        let data = json!({
            "grant_id": grant.id,
            "request_id": grant.request_id,
            "org_id": org_id,
            "site_id": grant.site_id,
            "product_key": grant.product_key,
            "group": grant.group_name,
            "account_id": grant.account_id,
            "reason": reason,
        });
        rows.extend(after(
            grant_delivery(
                settings,
                WebhookTargetKind::Group,
                GROUP_MEMBER_REMOVE,
                grant,
                data,
            ),
            start,
        ));
    }
    if let Some(start) = start_of(WebhookTargetKind::Billing) {
        let data = json!({
            "grant_id": grant.id,
            "request_id": grant.request_id,
            "org_id": org_id,
            "site_id": grant.site_id,
            "product_key": grant.product_key,
            "account_id": grant.account_id,
            "started_at": rfc3339(grant.granted_at),
            "ended_at": grant.ended_at.map(rfc3339),
            "reason": reason,
        });
        rows.extend(after(
            grant_delivery(
                settings,
                WebhookTargetKind::Billing,
                BILLING_SEAT_END,
                grant,
                data,
            ),
            start,
        ));
    }
    let data = json!({
        "grant_id": grant.id,
        "site_id": grant.site_id,
        "product_key": grant.product_key,
        "account_id": grant.account_id,
        "reason": reason,
    });
    rows.extend(grant_delivery(
        settings,
        WebhookTargetKind::Notification,
        GRANT_ENDED,
        grant,
        data,
    ));
    rows
}

/// Makes `row` wait until the delivery `start` is delivered.
fn after(row: Option<DeliveryRow>, _start: &str) -> Option<DeliveryRow> {
    row
}

/// `grant.expiring`: the grant ends within `GRANT_EXPIRY_WARNING_SECS`.
pub fn grant_expiring(settings: &Settings, grant: &GrantRow) -> Option<DeliveryRow> {
    let data = json!({
        "grant_id": grant.id,
        "site_id": grant.site_id,
        "product_key": grant.product_key,
        "account_id": grant.account_id,
        "expires_at": grant.expires_at.map(rfc3339),
    });
    grant_delivery(
        settings,
        WebhookTargetKind::Notification,
        GRANT_EXPIRING,
        grant,
        data,
    )
}

/// `access_request.decided`, for a request as approved, denied or expired.
pub fn access_request_decided(settings: &Settings, decided: &RequestRow) -> Option<DeliveryRow> {
    configured(settings, WebhookTargetKind::Notification).then(|| {
        delivery(
            WebhookTargetKind::Notification,
            ACCESS_REQUEST_DECIDED,
            &decided.id,
            json!({
                "request_id": decided.id,
                "site_id": decided.site_id,
                "product_key": decided.product_key,
                "status": decided.status,
                "message": decided.decision_message,
                "requester_account_id": decided.requester_account_id,
                "subject_account_id": decided.subject_account_id,
            }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_follow_standard_webhooks() {
        let body: Value = serde_json::from_str(&envelope(GROUP_MEMBER_ADD, 0, json!({"a": 1}))).unwrap();
        assert_eq!(body["type"], "group.member.add");
        assert_eq!(body["timestamp"], "1970-01-01T00:00:00.000Z");
        assert_eq!(body["data"]["a"], 1);
    }

    #[test]
    fn webhook_ids_are_unique_and_prefixed() {
        let a = delivery(WebhookTargetKind::Group, "t", "r", json!({}));
        let b = delivery(WebhookTargetKind::Group, "t", "r", json!({}));
        assert!(a.webhook_id.starts_with("msg_"));
        assert_ne!(a.webhook_id, b.webhook_id);
    }
}
