//! Grants: list, read, revoke and set the end of access.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::{
    account_filter, if_match, optional_body, page, path_id, product_filter, time, validated, JsonObject,
};
use crate::app::grants as use_case;
use crate::auth::Caller;
use crate::domain::{EndReason, GrantSource, GrantStatus};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::grants::GrantFilter;
use crate::store::models::GrantRow;
use crate::store::{to_micros, Page};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/sites/{site_id}/grants").route(web::get().to(list_grants)));
    cfg.service(
        web::resource("/v1/sites/{site_id}/grants/{grant_id}")
            .route(web::get().to(get_grant))
            .route(web::patch().to(patch_grant)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/grants/{grant_id}/revoke").route(web::post().to(revoke_grant)),
    );
}

/// One person's access to one product on one site, from its start to its end.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub site_id: Uuid,
    #[schema(example = "jira-software")]
    pub product_key: String,
    pub account_id: String,
    pub status: GrantStatus,
    /// `request`: an approved request (with webhooks); `directory`: directory sync (silent).
    pub source: GrantSource,
    /// The approved request, for a grant from a request.
    pub request_id: Option<Uuid>,
    pub granted_at: DateTime<Utc>,
    /// Who approved the request or wrote the directory entry.
    pub granted_by: Option<String>,
    /// When the access ends by itself; `null`: no end.
    pub expires_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Who revoked it; `null` while active and when it expired.
    pub ended_by: Option<String>,
    pub end_reason: Option<EndReason>,
    /// Goes up by one at every change; send it back in `If-Match`.
    pub version: i64,
}

impl From<GrantRow> for Grant {
    fn from(g: GrantRow) -> Self {
        Grant {
            id: g.id.parse().unwrap_or_default(),
            site_id: g.site_id.parse().unwrap_or_default(),
            product_key: g.product_key,
            account_id: g.account_id,
            status: g.status.parse().unwrap_or(GrantStatus::Active),
            source: g.source.parse().unwrap_or(GrantSource::Directory),
            request_id: g.request_id.and_then(|id| id.parse().ok()),
            granted_at: time(g.granted_at),
            granted_by: g.granted_by,
            expires_at: g.expires_at.map(time),
            ended_at: g.ended_at.map(time),
            ended_by: g.ended_by,
            end_reason: g.end_reason.and_then(|r| r.parse().ok()),
            version: g.version,
        }
    }
}

/// A page of grants, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantPage {
    pub items: Vec<Grant>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl From<Page<GrantRow>> for GrantPage {
    fn from(page: Page<GrantRow>) -> Self {
        let page = page.map(Grant::from);
        GrantPage {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}

/// Filters of the grant list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantQuery {
    #[param(pattern = "^[a-z][a-z0-9-]{1,63}$")]
    pub product_key: Option<String>,
    #[param(pattern = "^[A-Za-z0-9:_-]{1,128}$")]
    pub account_id: Option<String>,
    pub status: Option<GrantStatus>,
    /// Only grants that end before this time.
    pub expiring_before: Option<DateTime<Utc>>,
    /// How many items to return, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn grant_response(row: GrantRow) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", row.version)))
        .json(Grant::from(row))
}

fn grant_ids(path: web::Path<(String, String)>) -> ApiResult<(String, String)> {
    let (site_id, grant_id) = path.into_inner();
    Ok((path_id(&site_id, "the site")?, path_id(&grant_id, "the grant")?))
}

/// List the grants of a site.
///
/// Newest first, with filters and a cursor. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/grants", operation_id = "list_grants", tag = "grants",
    params(("site_id" = Uuid, Path), GrantQuery),
    responses((status = 200, description = "One page", body = GrantPage)),
    security(("bearer" = []))
)]
pub async fn list_grants(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<GrantQuery>,
) -> ApiResult<web::Json<GrantPage>> {
    let site_id = path_id(&path, "the site")?;
    let query = query.into_inner();
    let (limit, cursor) = page(query.limit, query.cursor.as_deref())?;
    product_filter(query.product_key.as_deref())?;
    account_filter("account_id", query.account_id.as_deref())?;
    let filter = GrantFilter {
        product_key: query.product_key,
        account_id: query.account_id,
        status: query.status,
        expiring_before: query.expiring_before.map(to_micros),
    };
    let page = state
        .db
        .run(move |c| use_case::list_grants(c, &caller, &site_id, &filter, limit, cursor))
        .await?;
    Ok(web::Json(page.into()))
}

/// Read a grant.
///
/// Site admins, org admins and the grant's own account; anyone else gets `404`. `ETag` is its
/// `version`, for `If-Match`.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/grants/{grant_id}", operation_id = "get_grant", tag = "grants",
    params(("site_id" = Uuid, Path), ("grant_id" = Uuid, Path)),
    responses((status = 200, description = "The grant", body = Grant, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn get_grant(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (site_id, grant_id) = grant_ids(path)?;
    let row = state
        .db
        .run(move |c| use_case::visible_grant(c, &caller, &site_id, &grant_id))
        .await?;
    Ok(grant_response(row))
}

/// The body of a revocation.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    /// Why, for the audit log.
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 500, message = "at most 500 characters")
    )]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500, example = "Left the project")]
    pub reason: Option<String>,
}

/// Revoke a grant.
///
/// In one transaction the product leaves the user, the grant ends (`revoked`) and, for a grant
/// from a request, `group.member.remove`, `billing.seat.end` and `grant.ended` are queued; each
/// end is sent only after its start. The seat is free at once. The body is optional. Site
/// admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/grants/{grant_id}/revoke", operation_id = "revoke_grant", tag = "grants",
    params(("site_id" = Uuid, Path), ("grant_id" = Uuid, Path)),
    request_body(content = RevokeBody, description = "Optional: `{reason?}`, `{}`, `null` or no body"),
    responses((status = 200, description = "Revoked", body = Grant, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn revoke_grant(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (site_id, grant_id) = grant_ids(path)?;
    let body: RevokeBody = validated(optional_body(&body)?)?;
    let settings = state.settings.clone();
    let row = state
        .db
        .run(move |c| use_case::revoke(c, &settings, &caller, &site_id, &grant_id, body.reason.as_deref()))
        .await?;
    state.outbox_notify.notify_one();
    Ok(grant_response(row))
}

/// A new end of access.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchGrant {
    /// When the access ends, in the future and within the product's `max_duration_hours` from
    /// now; `null` removes the end (only for a product without a maximum).
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<DateTime<Utc>>, required = true)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// Set, move or remove the end of a grant.
///
/// For an active grant: `expires_at` in the future and no later than now plus the product's
/// `max_duration_hours`; `null` removes the end (only for a product without a maximum). `If-
/// Match` guards against a stale read. Site admins and org admins.
#[utoipa::path(
    patch, path = "/v1/sites/{site_id}/grants/{grant_id}", operation_id = "update_grant_expiry", tag = "grants",
    params(
        ("site_id" = Uuid, Path), ("grant_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you read, e.g. \"1\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body = PatchGrant,
    responses((status = 200, description = "Changed", body = Grant, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn patch_grant(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<JsonObject<PatchGrant>>,
) -> ApiResult<HttpResponse> {
    let (site_id, grant_id) = grant_ids(path)?;
    let expires_at = body
        .into_inner()
        .into_inner()
        .expires_at
        .ok_or_else(|| ApiError::invalid("expires_at", "is required (a time, or null for no end)"))?
        .map(to_micros);
    let if_match = if_match(&req)?;
    let row = state
        .db
        .run(move |c| use_case::set_expiry(c, &caller, &site_id, &grant_id, expires_at, if_match))
        .await?;
    Ok(grant_response(row))
}
