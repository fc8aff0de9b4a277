//! The webhook events the use cases enqueue (contract §4).

use serde_json::{json, Value};
use uuid::Uuid;

use super::payloads::*;
use crate::config::Settings;
use crate::domain::{DeliveryStatus, EndReason, RequestStatus, WebhookTargetKind};
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
        claim_token: None,
        after_id: None,
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

fn data(payload: impl serde::Serialize) -> Value {
    serde_json::to_value(payload).unwrap_or_default()
}

fn request_of(grant: &GrantRow) -> String {
    grant.request_id.clone().unwrap_or_default()
}

/// `group.member.add` and `billing.seat.start` of a grant made by an approval.
pub fn grant_started(settings: &Settings, grant: &GrantRow, who: &Grantee<'_>) -> Vec<DeliveryRow> {
    let add = GroupMemberAdd {
        grant_id: grant.id.clone(),
        request_id: request_of(grant),
        org_id: who.org_id.to_owned(),
        site_id: grant.site_id.clone(),
        product_key: grant.product_key.clone(),
        group: grant.group_name.clone(),
        account_id: grant.account_id.clone(),
        email: who.email.to_owned(),
        email_verified: who.email_verified,
        expires_at: grant.expires_at.map(to_datetime),
    };
    let start = BillingSeatStart {
        grant_id: grant.id.clone(),
        request_id: request_of(grant),
        org_id: who.org_id.to_owned(),
        site_id: grant.site_id.clone(),
        product_key: grant.product_key.clone(),
        account_id: grant.account_id.clone(),
        started_at: to_datetime(grant.granted_at),
        expires_at: grant.expires_at.map(to_datetime),
    };
    [
        grant_delivery(
            settings,
            WebhookTargetKind::Group,
            GROUP_MEMBER_ADD,
            grant,
            data(add),
        ),
        grant_delivery(
            settings,
            WebhookTargetKind::Billing,
            BILLING_SEAT_START,
            grant,
            data(start),
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
    let reason = grant
        .end_reason
        .as_deref()
        .and_then(|r| r.parse().ok())
        .unwrap_or(EndReason::Revoked);
    let start_of = |target| started.iter().find(|(_, t)| *t == target).map(|(id, _)| id);
    let mut rows = Vec::new();
    if let Some(start) = start_of(WebhookTargetKind::Group) {
        let remove = GroupMemberRemove {
            grant_id: grant.id.clone(),
            request_id: request_of(grant),
            org_id: org_id.to_owned(),
            site_id: grant.site_id.clone(),
            product_key: grant.product_key.clone(),
            group: grant.group_name.clone(),
            account_id: grant.account_id.clone(),
            reason,
        };
        rows.extend(after(
            grant_delivery(
                settings,
                WebhookTargetKind::Group,
                GROUP_MEMBER_REMOVE,
                grant,
                data(remove),
            ),
            start,
        ));
    }
    if let Some(start) = start_of(WebhookTargetKind::Billing) {
        let end = BillingSeatEnd {
            grant_id: grant.id.clone(),
            request_id: request_of(grant),
            org_id: org_id.to_owned(),
            site_id: grant.site_id.clone(),
            product_key: grant.product_key.clone(),
            account_id: grant.account_id.clone(),
            started_at: to_datetime(grant.granted_at),
            ended_at: to_datetime(grant.ended_at.unwrap_or_else(now_micros)),
            reason,
        };
        rows.extend(after(
            grant_delivery(
                settings,
                WebhookTargetKind::Billing,
                BILLING_SEAT_END,
                grant,
                data(end),
            ),
            start,
        ));
    }
    let ended = GrantEnded {
        grant_id: grant.id.clone(),
        site_id: grant.site_id.clone(),
        product_key: grant.product_key.clone(),
        account_id: grant.account_id.clone(),
        reason,
    };
    rows.extend(grant_delivery(
        settings,
        WebhookTargetKind::Notification,
        GRANT_ENDED,
        grant,
        data(ended),
    ));
    rows
}

/// Makes `row` wait until the delivery `start` is delivered.
fn after(row: Option<DeliveryRow>, start: &str) -> Option<DeliveryRow> {
    row.map(|mut row| {
        row.after_id = Some(start.to_owned());
        row
    })
}

/// `grant.expiring`: the grant ends within `GRANT_EXPIRY_WARNING_SECS`.
pub fn grant_expiring(settings: &Settings, grant: &GrantRow) -> Option<DeliveryRow> {
    let expiring = GrantExpiring {
        grant_id: grant.id.clone(),
        site_id: grant.site_id.clone(),
        product_key: grant.product_key.clone(),
        account_id: grant.account_id.clone(),
        expires_at: to_datetime(grant.expires_at.unwrap_or_default()),
    };
    grant_delivery(
        settings,
        WebhookTargetKind::Notification,
        GRANT_EXPIRING,
        grant,
        data(expiring),
    )
}

/// `access_request.decided`, for a request as approved, denied or expired.
pub fn access_request_decided(settings: &Settings, decided: &RequestRow) -> Option<DeliveryRow> {
    let decision = AccessRequestDecided {
        request_id: decided.id.clone(),
        site_id: decided.site_id.clone(),
        product_key: decided.product_key.clone(),
        status: decided.status.parse().unwrap_or(RequestStatus::Approved),
        message: decided.decision_message.clone(),
        requester_account_id: decided.requester_account_id.clone(),
        subject_account_id: decided.subject_account_id.clone(),
    };
    configured(settings, WebhookTargetKind::Notification).then(|| {
        delivery(
            WebhookTargetKind::Notification,
            ACCESS_REQUEST_DECIDED,
            &decided.id,
            data(decision),
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
