//! The `data` of each webhook event (contract §4): what is sent is what the OpenAPI document's
//! root `webhooks` describes, because both come from these types.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::EndReason;

/// `group.member.add`: add the person to the product's default group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberAdd {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub org_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    #[schema(example = "jira-software")]
    pub product_key: String,
    /// The product's default group.
    pub group: String,
    pub account_id: String,
    #[schema(format = Email)]
    pub email: String,
    /// `false` when the email is one the requester typed for someone else: nobody proved it.
    pub email_verified: bool,
    /// When the access ends by itself; `null`: no end.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `group.member.remove`: the grant ended; remove the person from the group it added them to.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupMemberRemove {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub org_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    pub group: String,
    pub account_id: String,
    pub reason: EndReason,
}

/// `billing.seat.start`: start billing a seat; once per grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingSeatStart {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub org_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    pub account_id: String,
    pub started_at: DateTime<Utc>,
    /// When the access ends by itself; `null`: no end.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `billing.seat.end`: stop billing the seat; once per grant, never before its start.
#[derive(Debug, Serialize, ToSchema)]
pub struct BillingSeatEnd {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub org_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    pub account_id: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub reason: EndReason,
}

/// `access_request.decided`: a request was approved, denied, or expired undecided.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestDecided {
    #[schema(format = Uuid)]
    pub request_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    /// `approved`, `denied` or `expired`.
    pub status: crate::domain::RequestStatus,
    /// The denier's message.
    pub message: Option<String>,
    pub requester_account_id: String,
    pub subject_account_id: String,
}

/// `grant.ended`: a grant from a request was revoked, expired, or its user removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantEnded {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    pub account_id: String,
    pub reason: EndReason,
}

/// `grant.expiring`: a grant from a request ends within `GRANT_EXPIRY_WARNING_SECS`; once per grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantExpiring {
    #[schema(format = Uuid)]
    pub grant_id: String,
    #[schema(format = Uuid)]
    pub site_id: String,
    pub product_key: String,
    pub account_id: String,
    pub expires_at: DateTime<Utc>,
}
