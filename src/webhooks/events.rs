//! The webhook events a decision enqueues (contract §4).

use serde_json::{json, Value};
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::store::models::{DeliveryRow, RequestRow};
use crate::store::{now_micros, to_datetime};

/// The Standard Webhooks body: `{type, timestamp, data}`.
pub fn envelope(event_type: &str, at_micros: i64, data: Value) -> String {
    json!({
        "type": event_type,
        "timestamp": to_datetime(at_micros).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
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
        grant_key: None,
        created_at: now,
        updated_at: now,
        claim_token: None,
        after_id: None,
    }
}

/// The key that makes `billing.seat.start` unique per site, product and account.
pub fn grant_key(site_id: &str, product_key: &str, account_id: &str) -> String {
    format!("{site_id}/{product_key}/{account_id}")
}

/// What a grant tells the group and billing services.
pub struct Grant<'a> {
    pub request: &'a RequestRow,
    pub org_id: &'a str,
    pub group: &'a str,
    pub email: &'a str,
}

pub fn group_member_add(settings: &Settings, grant: &Grant<'_>) -> Option<DeliveryRow> {
    settings.group_service.as_ref()?;
    let r = grant.request;
    Some(delivery(
        WebhookTargetKind::Group,
        "group.member.add",
        &r.id,
        json!({
            "request_id": r.id,
            "org_id": grant.org_id,
            "site_id": r.site_id,
            "product_key": r.product_key,
            "group": grant.group,
            "account_id": r.subject_account_id,
            "email": grant.email,
        }),
    ))
}

pub fn billing_seat_start(settings: &Settings, grant: &Grant<'_>, started_at: i64) -> Option<DeliveryRow> {
    settings.billing_service.as_ref()?;
    let r = grant.request;
    let mut row = delivery(
        WebhookTargetKind::Billing,
        "billing.seat.start",
        &r.id,
        json!({
            "request_id": r.id,
            "org_id": grant.org_id,
            "site_id": r.site_id,
            "product_key": r.product_key,
            "account_id": r.subject_account_id,
            "started_at": to_datetime(started_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        }),
    );
    row.grant_key = Some(grant_key(&r.site_id, &r.product_key, &r.subject_account_id));
    Some(row)
}

/// `access_request.decided`, for the request as decided.
pub fn access_request_decided(settings: &Settings, decided: &RequestRow) -> Option<DeliveryRow> {
    settings.notification_service.as_ref()?;
    Some(delivery(
        WebhookTargetKind::Notification,
        "access_request.decided",
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
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_follow_standard_webhooks() {
        let body: Value = serde_json::from_str(&envelope("group.member.add", 0, json!({"a": 1}))).unwrap();
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
