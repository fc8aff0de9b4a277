//! Access requests: create, list, read, approve, deny, cancel, and the caller's own.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::request_types::{
    AccessRequest, AccessRequestPage, ApproveBody, CancelBody, CreateAccessRequest, DenyBody, ListQuery,
};
use super::{
    account_filter, idempotency_key, if_match, optional_body, page, path_id, product_filter, validated,
    JsonObject, PageQuery,
};
use crate::app::access::administered_site;
use crate::app::decide::{self, Approval, Denial};
use crate::app::idempotency::{self, Answer};
use crate::app::{create, retrying};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::models::RequestRow;
use crate::store::requests::{self, RequestFilter};
use crate::store::to_micros;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests")
            .route(web::post().to(create_request))
            .route(web::get().to(list_requests)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/{request_id}").route(web::get().to(get_request)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/{request_id}/review")
            .route(web::get().to(super::review::review_request)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/{request_id}/approve")
            .route(web::post().to(approve_request)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/{request_id}/deny")
            .route(web::post().to(deny_request)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/access-requests/{request_id}/cancel")
            .route(web::post().to(cancel_request)),
    );
    cfg.service(web::resource("/v1/me/access-requests").route(web::get().to(my_requests)));
}

/// An answer with a JSON body, as stored for `Idempotency-Key` replays.
pub fn answer<T: Serialize>(status: StatusCode, location: Option<String>, body: &T) -> ApiResult<Answer> {
    Ok(Answer {
        status: status.as_u16(),
        location,
        body: serde_json::to_string(body).map_err(anyhow::Error::from)?,
    })
}

/// Renders an answer; `ETag` carries the `version` of a request or grant body.
pub fn render(answer: Answer) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK));
    if let Some(location) = &answer.location {
        response.insert_header((header::LOCATION, location.clone()));
    }
    if let Ok(body) = serde_json::from_str::<serde_json::Value>(&answer.body) {
        if let Some(version) = body.get("version").and_then(serde_json::Value::as_i64) {
            response.insert_header((header::ETAG, format!("\"{version}\"")));
        }
    }
    response.content_type("application/json").body(answer.body)
}

/// Ask for access to a product.
///
/// For oneself (no `subject`, or the caller as `subject`) or on behalf of someone else. Anyone
/// with a verified email may ask for themselves on a site whose external requests are enabled;
/// users of the site may also ask on behalf of site users and of people not on the site (with
/// their `email`). `duration_hours` asks for access that ends. With `Idempotency-Key`, a retry
/// by the same caller gets the first answer again. A request nobody decides expires after
/// `PENDING_REQUEST_TTL_SECS` (or the site's `pending_ttl_hours`).
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests", operation_id = "create_access_request", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1-255 visible ASCII characters",
            nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")
    ),
    request_body = CreateAccessRequest,
    responses(
        (status = 201, description = "Created", body = AccessRequest,
            headers(("Location" = String), ("ETag" = String)))
    ),
    security(("bearer" = []))
)]
pub async fn create_request(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<CreateAccessRequest>>,
) -> ApiResult<HttpResponse> {
    let site_id = path_id(&path, "the site")?;
    let key = idempotency_key(&req)?;
    let body = body.into_inner().into_inner();
    let canonical = serde_json::to_value(&body).unwrap_or_default();
    let settings = state.settings.clone();
    let created = state
        .db
        .run(move |c| {
            let input = body.parse()?;
            let key = key.as_deref().map(|k| {
                idempotency::Key::new(caller.account_id(), k, &format!("create {site_id}"), &canonical)
            });
            retrying(|| {
                idempotency::atomically(c, key.as_ref(), |c| {
                    let row = create::create_request(c, &settings, &caller, &site_id, &input)?;
                    let location = format!("/v1/sites/{}/access-requests/{}", row.site_id, row.id);
                    answer(StatusCode::CREATED, Some(location), &AccessRequest::from(row))
                })
            })
        })
        .await?;
    Ok(render(created))
}

/// List the access requests of a site.
///
/// Newest first, with filters and a cursor. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests", operation_id = "list_access_requests", tag = "access-requests",
    params(("site_id" = Uuid, Path), ListQuery),
    responses((status = 200, description = "One page", body = AccessRequestPage)),
    security(("bearer" = []))
)]
pub async fn list_requests(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> ApiResult<web::Json<AccessRequestPage>> {
    let site_id = path_id(&path, "the site")?;
    let query = query.into_inner();
    let (limit, cursor) = page(query.limit, query.cursor.as_deref())?;
    product_filter(query.product_key.as_deref())?;
    account_filter("requester", query.requester.as_deref())?;
    account_filter("subject", query.subject.as_deref())?;
    let filter = RequestFilter {
        status: query.status,
        product_key: query.product_key,
        kind: query.kind.map(|k| k.as_str().to_owned()),
        requester: query.requester,
        subject: query.subject,
    };
    let page = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            requests::list_for_site(c, &site.id, &filter, limit, cursor)
        })
        .await?;
    Ok(web::Json(page.into()))
}

/// The site and request ids of a `…/access-requests/{request_id}…` path.
pub fn request_ids(path: web::Path<(String, String)>) -> ApiResult<(String, String)> {
    let (site_id, request_id) = path.into_inner();
    Ok((
        path_id(&site_id, "the site")?,
        path_id(&request_id, "the access request")?,
    ))
}

fn request_response(row: RequestRow) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", row.version)))
        .json(AccessRequest::from(row))
}

/// Read an access request.
///
/// Site admins, org admins, its requester and its subject; anyone else gets `404`. `ETag` is
/// its `version`, for `If-Match`.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests/{request_id}", operation_id = "get_access_request", tag = "access-requests",
    params(("site_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses((status = 200, description = "The request", body = AccessRequest, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn get_request(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (site_id, request_id) = request_ids(path)?;
    let row = state
        .db
        .run(move |c| decide::visible_request(c, &caller, &site_id, &request_id))
        .await?;
    Ok(request_response(row))
}

/// Approve a pending request.
///
/// In one transaction the request is approved, the subject becomes a site member if needed and
/// gets the product as a new grant, and the group, billing and notification webhooks are
/// queued. The grant ends at `expires_at`, else after the request's `duration_hours`, else
/// after the product's `max_duration_hours`, else never. When the product's seats are all taken
/// the answer is `409 seat_limit_reached` and nothing changes. A subject who already has the
/// product is approved without a new grant and without group or billing webhooks. The body is
/// optional. Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/approve", operation_id = "approve_access_request", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you reviewed, e.g. \"3\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = ApproveBody, description = "Optional: `{expires_at?}`, `{}`, `null` or no body"),
    responses((status = 200, description = "Approved", body = AccessRequest, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn approve_request(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (site_id, request_id) = request_ids(path)?;
    let body: ApproveBody = optional_body(&body)?;
    let approval = Approval {
        expires_at: body.expires_at.map(to_micros),
        if_match: if_match(&req)?,
    };
    let settings = state.settings.clone();
    let row = state
        .db
        .run(move |c| decide::approve(c, &settings, &caller, &site_id, &request_id, approval))
        .await?;
    state.outbox_notify.notify_one();
    Ok(request_response(row))
}

/// Deny a pending request.
///
/// With an optional message for the requester. Denying a request of kind `self` also blocks its
/// requester on the site. The body is optional. Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/deny", operation_id = "deny_access_request", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you reviewed, e.g. \"3\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = DenyBody, description = "Optional: `{message?}`, `{}`, `null` or no body"),
    responses((status = 200, description = "Denied", body = AccessRequest, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn deny_request(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (site_id, request_id) = request_ids(path)?;
    let body: DenyBody = validated(optional_body(&body)?)?;
    let denial = Denial {
        message: body.message,
        if_match: if_match(&req)?,
    };
    let settings = state.settings.clone();
    let row = state
        .db
        .run(move |c| decide::deny(c, &settings, &caller, &site_id, &request_id, &denial))
        .await?;
    state.outbox_notify.notify_one();
    Ok(request_response(row))
}

/// Cancel a pending request.
///
/// Its requester only. The body is optional.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/cancel", operation_id = "cancel_access_request", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you saw, e.g. \"1\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = CancelBody, description = "Optional: `{}`, `null` or no body"),
    responses((status = 200, description = "Cancelled", body = AccessRequest, headers(("ETag" = String)))),
    security(("bearer" = []))
)]
pub async fn cancel_request(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let (site_id, request_id) = request_ids(path)?;
    let _: CancelBody = optional_body(&body)?;
    let if_match = if_match(&req)?;
    let row = state
        .db
        .run(move |c| decide::cancel(c, &caller, &site_id, &request_id, if_match))
        .await?;
    Ok(request_response(row))
}

/// List the caller's own access requests.
///
/// On every site, newest first: the requests where the caller is the requester or the subject,
/// with their status and decision message.
#[utoipa::path(
    get, path = "/v1/me/access-requests", operation_id = "list_my_access_requests", tag = "me",
    params(PageQuery),
    responses((status = 200, description = "One page", body = AccessRequestPage)),
    security(("bearer" = []))
)]
pub async fn my_requests(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<AccessRequestPage>> {
    let (limit, cursor) = query.parse()?;
    let page = state
        .db
        .run(move |c| requests::list_for_account(c, caller.account_id(), limit, cursor))
        .await?;
    Ok(web::Json(page.into()))
}
