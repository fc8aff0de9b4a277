//! Site administration: request blocks, access request settings and the rollout.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{account_to_read, path_id, time, JsonObject};
use crate::app::access::administered_site;
use crate::app::admin::{self as use_case, SettingsChange};
use crate::auth::Caller;
use crate::domain::external_requests_enabled;
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::directory;
use crate::store::models::SiteRow;

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

/// List the accounts blocked from requesting access.
///
/// Newest first. Denying a request of kind `self` blocks its requester. Site admins and org
/// admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/request-blocks", operation_id = "list_request_blocks", tag = "blocks",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The blocks, newest first", body = RequestBlockList)),
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
                created_at: time(b.created_at),
            })
            .collect(),
    }))
}

/// Lift a block.
///
/// The account may request access again. Site admins and org admins.
#[utoipa::path(
    delete, path = "/v1/sites/{site_id}/request-blocks/{account_id}", operation_id = "remove_request_block", tag = "blocks",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "Lifted")),
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
        .run(move |c| {
            administered_site(c, &caller, &site_id)?;
            let account = account_to_read(&account, "the block")?;
            use_case::unblock(c, &caller, &site_id, &account)
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
    /// How long a request may stay pending before it expires, in hours; `null`: the service
    /// default (`PENDING_REQUEST_TTL_SECS`, 7 days unless configured).
    pub pending_ttl_hours: Option<i32>,
}

impl From<&SiteRow> for AccessRequestSettings {
    fn from(site: &SiteRow) -> Self {
        AccessRequestSettings {
            in_rollout: site.in_rollout,
            opted_out: site.opted_out,
            external_requests_enabled: external_requests_enabled(site.in_rollout, site.opted_out),
            pending_ttl_hours: site.pending_ttl_hours,
        }
    }
}

/// Read the access request settings of a site.
///
/// Whether people who are not site users may ask for themselves, and how long requests may stay
/// pending. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/settings/access-requests", operation_id = "get_access_request_settings", tag = "settings",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The settings", body = AccessRequestSettings)),
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

/// A change of the site's settings; what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSettings {
    /// Opt the site out of external requests (or back in).
    pub opted_out: Option<bool>,
    /// How long a request may stay pending before it expires, in hours (1–1440); `null`: the
    /// service default. Applies at once to the site's pending requests.
    #[serde(default, deserialize_with = "super::present_whole_number")]
    #[schema(value_type = Option<i32>, minimum = 1, maximum = 1440)]
    pub pending_ttl_hours: Option<Option<i32>>,
}

/// Change the access request settings of a site.
///
/// Opt the site out of external requests (or back in) and set how long its requests may stay
/// pending (`pending_ttl_hours`; `null`: the service default); what is left out stays as it is.
/// Site admins and org admins.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/settings/access-requests", operation_id = "update_access_request_settings", tag = "settings",
    params(("site_id" = Uuid, Path)),
    request_body = PutSettings,
    responses((status = 200, description = "The settings", body = AccessRequestSettings)),
    security(("bearer" = []))
)]
pub async fn put_settings(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<PutSettings>>,
) -> ApiResult<web::Json<AccessRequestSettings>> {
    let site_id = path_id(&path, "the site")?;
    let body = body.into_inner().into_inner();
    if let Some(Some(hours)) = body.pending_ttl_hours {
        if !(1..=1440).contains(&hours) {
            return Err(ApiError::invalid(
                "pending_ttl_hours",
                "must be from 1 to 1440 hours",
            ));
        }
    }
    let change = SettingsChange {
        opted_out: body.opted_out,
        pending_ttl_hours: body.pending_ttl_hours,
    };
    let settings = state.settings.clone();
    let site = state
        .db
        .run(move |c| use_case::update_settings(c, &settings, &caller, &site_id, change))
        .await?;
    Ok(web::Json((&site).into()))
}

/// Putting the site in (or out of) the measured rollout.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutRollout {
    pub in_rollout: bool,
}

/// Put a site in or out of the measured rollout.
///
/// Platform admins. External requests are enabled while the site is in the rollout and has not
/// opted out.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/rollout", operation_id = "set_site_rollout", tag = "settings",
    params(("site_id" = Uuid, Path)),
    request_body = PutRollout,
    responses((status = 200, description = "The settings", body = AccessRequestSettings)),
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
        .run(move |c| use_case::set_rollout(c, &caller, &site_id, in_rollout))
        .await?;
    Ok(web::Json((&site).into()))
}
