//! What is kept: admins' feedback and the audit log.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{page, path_id, time, validated, JsonObject, PageQuery};
use crate::app::access::administered_site;
use crate::app::admin as use_case;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::models::{AuditRow, FeedbackRow};
use crate::store::records;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/feedback").route(web::post().to(create_feedback)),
    );
    cfg.service(web::resource("/v1/feedback").route(web::get().to(list_feedback)));
    cfg.service(web::resource("/v1/sites/{site_id}/audit-events").route(web::get().to(list_audit)));
}

/// An admin's feedback on the feature.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFeedback {
    #[validate(range(min = 1, max = 5, message = "must be from 1 to 5"))]
    #[schema(minimum = 1, maximum = 5)]
    #[serde(deserialize_with = "super::whole_number")]
    pub rating: i32,
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 2000, message = "at most 2000 characters")
    )]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 2000)]
    pub comment: Option<String>,
}

/// Feedback as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Feedback {
    pub id: Uuid,
    pub site_id: Uuid,
    pub account_id: String,
    pub rating: i32,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<FeedbackRow> for Feedback {
    fn from(f: FeedbackRow) -> Self {
        Feedback {
            id: f.id.parse().unwrap_or_default(),
            site_id: f.site_id.parse().unwrap_or_default(),
            account_id: f.account_id,
            rating: f.rating,
            comment: f.comment,
            created_at: time(f.created_at),
        }
    }
}

/// A page of feedback, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackPage {
    pub items: Vec<Feedback>,
    pub next_cursor: Option<String>,
}

/// Send feedback on access requests.
///
/// Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/feedback", operation_id = "send_feedback", tag = "feedback",
    params(("site_id" = Uuid, Path)),
    request_body = CreateFeedback,
    responses((status = 201, description = "Thank you", body = Feedback)),
    security(("bearer" = []))
)]
pub async fn create_feedback(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<CreateFeedback>>,
) -> ApiResult<HttpResponse> {
    let site_id = path_id(&path, "the site")?;
    let body = body.into_inner().into_inner();
    let row = state
        .db
        .run(move |c| {
            administered_site(c, &caller, &site_id)?;
            let body = validated(body)?;
            use_case::send_feedback(c, &caller, &site_id, body.rating, body.comment)
        })
        .await?;
    Ok(HttpResponse::Created().json(Feedback::from(row)))
}

/// Read all feedback.
///
/// Newest first. Platform admins.
#[utoipa::path(
    get, path = "/v1/feedback", operation_id = "list_feedback", tag = "feedback",
    params(PageQuery),
    responses((status = 200, description = "One page", body = FeedbackPage)),
    security(("bearer" = []))
)]
pub async fn list_feedback(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<FeedbackPage>> {
    caller.require_platform_admin()?;
    let (limit, cursor) = query.parse()?;
    let page = state
        .db
        .run(move |c| records::list_feedback(c, limit, cursor))
        .await?;
    let page = page.map(Feedback::from);
    Ok(web::Json(FeedbackPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Who did it; `null` for what the service did by itself (expiry).
    pub actor_account_id: Option<String>,
    /// e.g. `access_request.approved`, `request_block.deleted`, `settings.updated`.
    pub action: String,
    pub request_id: Option<Uuid>,
    /// What changed.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl From<AuditRow> for AuditEvent {
    fn from(a: AuditRow) -> Self {
        AuditEvent {
            id: a.id.parse().unwrap_or_default(),
            at: time(a.at),
            actor_account_id: a.actor_account_id,
            action: a.action,
            request_id: a.request_id.and_then(|id| id.parse().ok()),
            details: serde_json::from_str(&a.details).unwrap_or_default(),
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventPage {
    pub items: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// Filters of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only the events of this access request.
    pub request_id: Option<Uuid>,
    /// How many items to return, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Read the audit log of a site.
///
/// Newest first: every creation, decision, expiry, block, setting and grant change, with who
/// did it (`null` for what the service did by itself). Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/audit-events", operation_id = "list_audit_events", tag = "audit",
    params(("site_id" = Uuid, Path), AuditQuery),
    responses((status = 200, description = "One page", body = AuditEventPage)),
    security(("bearer" = []))
)]
pub async fn list_audit(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> ApiResult<web::Json<AuditEventPage>> {
    let site_id = path_id(&path, "the site")?;
    let query = query.into_inner();
    let (limit, cursor) = page(query.limit, query.cursor.as_deref())?;
    let request_id = query.request_id.map(|id| id.to_string());
    let page = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            records::list_audit(c, &site.id, request_id.as_deref(), limit, cursor)
        })
        .await?;
    let page = page.map(AuditEvent::from);
    Ok(web::Json(AuditEventPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
