//! Rows as they are stored.

use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = orgs)]
pub struct OrgRow {
    pub id: String,
    pub name: String,
    /// A JSON array of lower-cased domains.
    pub verified_domains: String,
    pub created_at: i64,
}

impl OrgRow {
    pub fn domains(&self) -> Vec<String> {
        serde_json::from_str(&self.verified_domains).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = sites)]
pub struct SiteRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub url: String,
    pub in_rollout: bool,
    pub opted_out: bool,
    pub created_at: i64,
    /// How long its pending requests wait for a decision; `None`: the service default.
    pub pending_ttl_hours: Option<i32>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = products)]
pub struct ProductRow {
    pub site_id: String,
    pub product_key: String,
    pub name: String,
    pub default_group: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The longest a grant of this product may last; `None`: no maximum.
    pub max_duration_hours: Option<i32>,
    /// How many active grants the product may have; `None`: unlimited.
    pub seat_limit: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = site_users)]
pub struct SiteUserRow {
    pub site_id: String,
    pub account_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// False for a user an approval added with an email the requester typed.
    pub email_verified: bool,
}

/// One person's access to one product on one site.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: String,
    pub site_id: String,
    pub product_key: String,
    pub account_id: String,
    pub status: String,
    pub source: String,
    pub request_id: Option<String>,
    /// The product's default group when the grant began.
    pub group_name: String,
    pub granted_at: i64,
    pub granted_by: Option<String>,
    pub expires_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub ended_by: Option<String>,
    pub end_reason: Option<String>,
    /// When `grant.expiring` was queued.
    pub warned_at: Option<i64>,
    pub version: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_blocks)]
pub struct BlockRow {
    pub site_id: String,
    pub account_id: String,
    pub email: String,
    pub request_id: Option<String>,
    pub blocked_by: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = access_requests)]
pub struct RequestRow {
    pub id: String,
    pub site_id: String,
    pub product_key: String,
    pub kind: String,
    pub status: String,
    pub requester_account_id: String,
    pub requester_email: String,
    pub requester_display_name: Option<String>,
    pub requester_on_site: bool,
    pub subject_account_id: String,
    pub subject_email: Option<String>,
    pub subject_display_name: Option<String>,
    pub subject_on_site: bool,
    pub reason: Option<String>,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    pub decision_message: Option<String>,
    pub version: i64,
    /// The access length asked for, in hours; `None`: no end.
    pub duration_hours: Option<i32>,
    /// When the request expires if it is still pending.
    pub expires_at: Option<i64>,
    /// The grant its approval made (or found).
    pub grant_id: Option<String>,
    /// False when the subject's email is one the requester typed.
    pub subject_email_verified: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = idempotency_keys)]
pub struct IdempotencyRow {
    pub account_id: String,
    pub idempotency_key: String,
    pub fingerprint: String,
    pub status_code: i32,
    pub location: Option<String>,
    pub body: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: String,
    pub site_id: String,
    pub at: i64,
    /// `None` for what the service did by itself.
    pub actor_account_id: Option<String>,
    pub action: String,
    pub request_id: Option<String>,
    /// A JSON object.
    pub details: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = feedback)]
pub struct FeedbackRow {
    pub id: String,
    pub site_id: String,
    pub account_id: String,
    pub rating: i32,
    pub comment: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub request_id: String,
    pub target: String,
    pub event_type: String,
    /// The exact body sent on every attempt.
    pub payload: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub locked_until: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Written by each claim; only its holder may record the attempt.
    pub claim_token: Option<String>,
    /// The delivery that must be `delivered` before this one may be sent.
    pub after_id: Option<String>,
    /// The grant a group or billing event is about; billing starts and ends once per grant.
    pub grant_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, QueryableByName)]
#[diesel(table_name = webhook_attempts)]
pub struct AttemptRow {
    pub id: String,
    pub delivery_id: String,
    pub attempt: i32,
    pub at: i64,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
}
