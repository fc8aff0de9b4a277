//! Site administration: request blocks, settings and rollout, feedback, the audit log.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::directory::administered_site;
use super::{
    account_to_read, path_id, validated, BadRequest, BodyRejected, Forbidden, JsonObject, NotFound,
    PageQuery, Unauthorized, Unavailable, Unprocessable,
};
use crate::auth::Caller;
use crate::domain::external_requests_enabled;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::models::{AuditRow, FeedbackRow, SiteRow};
use crate::store::records::{self, audit, AuditEntry};
use crate::store::{directory, now_micros, to_datetime};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/sites/{site_id}/request-blocks").route(web::get().to(list_blocks)));
    cfg.service(
        web::resource("/v1/sites/{site_id}/request-blocks/{account_id}")
            .route(web::delete().to(delete_block)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/settings/access-requests")
            .route(web::get().to(get_settings))
            .route(web::put().to(put_settings)),
    );
    cfg.service(web::resource("/v1/sites/{site_id}/rollout").route(web::put().to(put_rollout)));
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/feedback").route(web::post().to(create_feedback)),
    );
    cfg.service(web::resource("/v1/feedback").route(web::get().to(list_feedback)));
    cfg.service(web::resource("/v1/sites/{site_id}/audit-events").route(web::get().to(list_audit)));
}

/// An account that may no longer request access on the site.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestBlock {
    pub site_id: Uuid,
    pub account_id: String,
    pub email: String,
    /// The denied self request that caused the block.
    pub request_id: Option<Uuid>,
    pub blocked_by: String,
    pub created_at: DateTime<Utc>,
}

/// The site's blocks.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestBlockList {
    pub items: Vec<RequestBlock>,
}

/// Lists the accounts blocked from requesting access on the site. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/request-blocks", tag = "blocks",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The blocks, newest first", body = RequestBlockList), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn list_blocks(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<RequestBlockList>> {
    let site_id = path_id(&path, "the site")?;
    let rows = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            directory::list_blocks(c, &site.id)
        })
        .await?;
    Ok(web::Json(RequestBlockList {
        items: rows
            .into_iter()
            .map(|b| RequestBlock {
                site_id: b.site_id.parse().unwrap_or_default(),
                account_id: b.account_id,
                email: b.email,
                request_id: b.request_id.and_then(|id| id.parse().ok()),
                blocked_by: b.blocked_by,
                created_at: to_datetime(b.created_at),
            })
            .collect(),
    }))
}

/// Lifts a block: the account may request access again. Site admins and org admins.
#[utoipa::path(
    delete, path = "/v1/sites/{site_id}/request-blocks/{account_id}", tag = "blocks",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "Lifted"), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn delete_block(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (site_id, account) = path.into_inner();
    let site_id = path_id(&site_id, "the site")?;
    state
        .db
        .transaction(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let account = account_to_read(&account, "the block")?;
            if !directory::delete_block(c, &site.id, account.as_str())? {
                return Err(ApiError::not_found("the block"));
            }
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "request_block.deleted",
                    request_id: None,
                    details: json!({"account_id": account.as_str()}),
                },
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The site's access request settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessRequestSettings {
    /// Whether the site is in the measured rollout of external requests.
    pub in_rollout: bool,
    /// Whether the site opted out of external requests.
    pub opted_out: bool,
    /// `in_rollout && !opted_out`: people who are not site users may ask for themselves.
    pub external_requests_enabled: bool,
}

impl From<&SiteRow> for AccessRequestSettings {
    fn from(site: &SiteRow) -> Self {
        AccessRequestSettings {
            in_rollout: site.in_rollout,
            opted_out: site.opted_out,
            external_requests_enabled: external_requests_enabled(site.in_rollout, site.opted_out),
        }
    }
}

/// Reads the site's access request settings. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/settings/access-requests", tag = "settings",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The settings", body = AccessRequestSettings), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn get_settings(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<AccessRequestSettings>> {
    let site_id = path_id(&path, "the site")?;
    let site = state
        .db
        .run(move |c| administered_site(c, &caller, &site_id))
        .await?;
    Ok(web::Json((&site).into()))
}

/// Opting the site out of (or back into) external requests.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    pub opted_out: bool,
}

/// Opts the site out of external requests, or back in. Site admins and org admins.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/settings/access-requests", tag = "settings",
    params(("site_id" = Uuid, Path)),
    request_body = PutSettings,
    responses((status = 200, description = "The settings", body = AccessRequestSettings), BadRequest, Unauthorized, Forbidden, NotFound, BodyRejected, Unavailable),
    security(("bearer" = []))
)]
pub async fn put_settings(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<PutSettings>>,
) -> ApiResult<web::Json<AccessRequestSettings>> {
    let site_id = path_id(&path, "the site")?;
    let opted_out = body.into_inner().into_inner().opted_out;
    let site = state
        .db
        .transaction(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let site = directory::set_opted_out(c, &site.id, opted_out)?;
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "settings.updated",
                    request_id: None,
                    details: json!({"opted_out": opted_out}),
                },
            )?;
            Ok(site)
        })
        .await?;
    Ok(web::Json((&site).into()))
}

/// Putting the site in (or out of) the measured rollout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRollout {
    pub in_rollout: bool,
}

/// Puts the site in the measured rollout of external requests, or takes it out. Platform admins.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/rollout", tag = "settings",
    params(("site_id" = Uuid, Path)),
    request_body = PutRollout,
    responses((status = 200, description = "The settings", body = AccessRequestSettings), BadRequest, Unauthorized, Forbidden, NotFound, BodyRejected, Unavailable),
    security(("bearer" = []))
)]
pub async fn put_rollout(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<PutRollout>>,
) -> ApiResult<web::Json<AccessRequestSettings>> {
    let site_id = path_id(&path, "the site")?;
    let in_rollout = body.into_inner().into_inner().in_rollout;
    let site = state
        .db
        .transaction(move |c| {
            let site = directory::find_site(c, &site_id)?;
            caller.require_platform_admin()?;
            let site = directory::set_in_rollout(c, &site.id, in_rollout)?;
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "rollout.updated",
                    request_id: None,
                    details: json!({"in_rollout": in_rollout}),
                },
            )?;
            Ok(site)
        })
        .await?;
    Ok(web::Json((&site).into()))
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
            created_at: to_datetime(f.created_at),
        }
    }
}

/// A page of feedback, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackPage {
    pub items: Vec<Feedback>,
    pub next_cursor: Option<String>,
}

/// Sends feedback on access requests. Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/feedback", tag = "feedback",
    params(("site_id" = Uuid, Path)),
    request_body = CreateFeedback,
    responses((status = 201, description = "Thank you", body = Feedback), BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, BodyRejected, Unavailable),
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
        .transaction(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let body = validated(body)?;
            let row = FeedbackRow {
                id: Uuid::new_v4().to_string(),
                site_id: site.id.clone(),
                account_id: caller.account_id().to_owned(),
                rating: body.rating,
                comment: body.comment,
                created_at: now_micros(),
            };
            records::insert_feedback(c, &row)?;
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "feedback.created",
                    request_id: None,
                    details: json!({"feedback_id": row.id, "rating": row.rating}),
                },
            )?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created().json(Feedback::from(row)))
}

/// Reads all feedback, newest first. Platform admins.
#[utoipa::path(
    get, path = "/v1/feedback", tag = "feedback",
    params(PageQuery),
    responses((status = 200, description = "One page", body = FeedbackPage), BadRequest, Unauthorized, Forbidden, Unprocessable, Unavailable),
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
    pub actor_account_id: String,
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
            at: to_datetime(a.at),
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

/// Reads the site's audit log, newest first. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/audit-events", tag = "audit",
    params(("site_id" = Uuid, Path), AuditQuery),
    responses((status = 200, description = "One page", body = AuditEventPage), BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, Unavailable),
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
    let (limit, cursor) = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
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
