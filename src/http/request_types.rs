//! What the access request endpoints read and write.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::time;
use crate::app::create::{NewRequest, NewSubject};
use crate::domain::{AccountId, ProductKey, RequestKind, RequestStatus};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::store::models::RequestRow;
use crate::store::Page;

/// A person named by a request, as known when the request was made.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub account_id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Whether the person was a user of the site when the request was made.
    pub on_site: bool,
}

/// A request for access to a product on a site.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessRequest {
    pub id: Uuid,
    pub site_id: Uuid,
    pub product_key: String,
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub requester: Person,
    pub subject: Person,
    pub reason: Option<String>,
    /// The access length asked for, in hours; `null`: no end.
    pub duration_hours: Option<i32>,
    /// When the request expires if nobody decides it (`null` once decided or cancelled).
    pub expires_at: Option<DateTime<Utc>>,
    /// The grant its approval made (or the one the subject already had).
    pub grant_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The account that approved, denied or cancelled it; `null` when it expired.
    pub decided_by: Option<String>,
    /// The message sent with a denial.
    pub decision_message: Option<String>,
    /// Goes up by one at every change; send it back in `If-Match`.
    pub version: i64,
}

impl From<RequestRow> for AccessRequest {
    fn from(r: RequestRow) -> Self {
        AccessRequest {
            id: r.id.parse().unwrap_or_default(),
            site_id: r.site_id.parse().unwrap_or_default(),
            product_key: r.product_key,
            kind: r.kind.parse().unwrap_or(RequestKind::SelfRequest),
            status: r.status.parse().unwrap_or(RequestStatus::Pending),
            requester: Person {
                account_id: r.requester_account_id,
                email: Some(r.requester_email),
                display_name: r.requester_display_name,
                on_site: r.requester_on_site,
            },
            subject: Person {
                account_id: r.subject_account_id,
                email: r.subject_email,
                display_name: r.subject_display_name,
                on_site: r.subject_on_site,
            },
            reason: r.reason,
            duration_hours: r.duration_hours,
            expires_at: r.expires_at.map(time),
            grant_id: r.grant_id.and_then(|id| id.parse().ok()),
            created_at: time(r.created_at),
            decided_at: r.decided_at.map(time),
            decided_by: r.decided_by,
            decision_message: r.decision_message,
            version: r.version,
        }
    }
}

/// One page of access requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestPage {
    pub items: Vec<AccessRequest>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<RequestRow>> for AccessRequestPage {
    fn from(page: Page<RequestRow>) -> Self {
        let page = page.map(AccessRequest::from);
        AccessRequestPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

/// Whom an on-behalf request is for.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")]
    pub account_id: String,
    /// Required when the subject is not a user of the site.
    #[validate(
        email(message = "must be an email address"),
        length(max = 320, message = "at most 320 characters")
    )]
    #[schema(format = Email, max_length = 320)]
    pub email: Option<String>,
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 200, message = "at most 200 characters")
    )]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 200)]
    pub display_name: Option<String>,
}

/// The longest access a request may ask for: ten years, in hours.
pub const MAX_DURATION_HOURS: i32 = 87_840;

/// A new access request. Without `subject` (or with the caller as subject) it is a self request.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessRequest {
    #[schema(pattern = "^[a-z][a-z0-9-]{1,63}$", example = "jira-software")]
    pub product_key: String,
    #[validate(nested)]
    #[serde(default, deserialize_with = "super::optional_object")]
    pub subject: Option<SubjectInput>,
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 500, message = "at most 500 characters")
    )]
    #[schema(
        pattern = "^[^\\u0000]*$",
        max_length = 500,
        example = "I need to triage the support queue"
    )]
    pub reason: Option<String>,
    /// How long the access should last, in hours; leave it out for no end (or the product's maximum).
    #[validate(range(min = 1, max = 87840, message = "must be from 1 to 87840 hours"))]
    #[schema(minimum = 1, maximum = 87840)]
    #[serde(default, deserialize_with = "super::optional_whole_number")]
    pub duration_hours: Option<i32>,
}

impl CreateAccessRequest {
    /// Field rules the derive cannot say (account id and product key formats), then the domain form.
    pub fn parse(self) -> ApiResult<NewRequest> {
        let mut errors = match self.validate() {
            Ok(()) => Vec::new(),
            Err(e) => match ApiError::from(e) {
                ApiError::Validation(fields) => fields,
                other => return Err(other),
            },
        };
        let product = ProductKey::parse(&self.product_key)
            .map_err(|e| errors.push(FieldError::new("product_key", e.to_string())))
            .ok();
        let subject = match self.subject {
            Some(s) => match AccountId::parse(&s.account_id) {
                Ok(account_id) => Some(NewSubject {
                    account_id,
                    email: s.email,
                    display_name: s.display_name,
                }),
                Err(e) => {
                    errors.push(FieldError::new("subject.account_id", e.to_string()));
                    None
                }
            },
            None => None,
        };
        match product {
            Some(product_key) if errors.is_empty() => Ok(NewRequest {
                product_key,
                subject,
                reason: self.reason,
                duration_hours: self.duration_hours,
            }),
            _ => {
                errors.sort_by(|a, b| a.field.cmp(&b.field));
                Err(ApiError::Validation(errors))
            }
        }
    }
}

/// The body of an approval: when the access ends (an empty body is fine too).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// When the access ends; in the future. Left out (or `null`): the request's
    /// `duration_hours`, else the product's `max_duration_hours`, else no end.
    pub expires_at: Option<DateTime<Utc>>,
}

/// The body of a denial.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// A short message for the requester.
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 500, message = "at most 500 characters")
    )]
    #[schema(
        pattern = "^[^\\u0000]*$",
        max_length = 500,
        example = "Please ask your team lead first."
    )]
    pub message: Option<String>,
}

/// The body of a cancellation: nothing to say (an empty body is fine too).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {}

/// Filters of the site's request list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<RequestStatus>,
    #[param(pattern = "^[a-z][a-z0-9-]{1,63}$")]
    pub product_key: Option<String>,
    pub kind: Option<RequestKind>,
    /// Account id of the requester.
    #[param(pattern = "^[A-Za-z0-9:_-]{1,128}$")]
    pub requester: Option<String>,
    /// Account id of the subject.
    #[param(pattern = "^[A-Za-z0-9:_-]{1,128}$")]
    pub subject: Option<String>,
    /// How many items to return, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
