//! Access requests: create, list, read, review, approve, deny, cancel.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::directory::administered_site;
use super::{
    optional_body, path_id, product_to_write, validated, BadRequest, BodyRejected, Forbidden, JsonObject,
    NotFound, PageQuery, Unauthorized, Unavailable, Unprocessable,
};
use crate::auth::Caller;
use crate::domain::{
    denial_blocks_requester, email_domain_verified, external_requests_enabled, may_request, may_transition,
    over_limit, over_pending_cap, parse_if_match, AccountId, ProductKey, RequestAttempt, RequestKind,
    RequestStatus, SiteRole,
};
use crate::error::{ApiError, ApiResult, Problem};
use crate::startup::AppState;
use crate::store::models::{BlockRow, IdempotencyRow, RequestRow, SiteRow, SiteUserRow};
use crate::store::records::{audit, find_idempotent, save_idempotent, AuditEntry};
use crate::store::requests::{self, RequestFilter, Transition};
use crate::store::{directory, now_micros, outbox, to_datetime, DbConnection, Page};
use crate::webhooks::events;

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
            .route(web::get().to(review_request)),
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
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The account that approved, denied or cancelled it.
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
            created_at: to_datetime(r.created_at),
            decided_at: r.decided_at.map(to_datetime),
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
}

impl CreateAccessRequest {
    /// Field rules the derive cannot say: account id and product key formats.
    fn check(self) -> ApiResult<(ProductKey, Option<SubjectInput>, Option<String>)> {
        let mut errors = match self.validate() {
            Ok(()) => Vec::new(),
            Err(e) => match ApiError::from(e) {
                ApiError::Validation(fields) => fields,
                other => return Err(other),
            },
        };
        let product = ProductKey::parse(&self.product_key)
            .map_err(|e| errors.push(crate::error::FieldError::new("product_key", e.to_string())))
            .ok();
        if let Some(subject) = &self.subject {
            if let Err(e) = AccountId::parse(&subject.account_id) {
                errors.push(crate::error::FieldError::new("subject.account_id", e.to_string()));
            }
        }
        match product {
            Some(product) if errors.is_empty() => Ok((product, self.subject, self.reason)),
            _ => {
                errors.sort_by(|a, b| a.field.cmp(&b.field));
                Err(ApiError::Validation(errors))
            }
        }
    }
}

/// `201` and `409`/`429` answers of a creation.
#[derive(IntoResponses)]
pub enum CreateRefused {
    #[response(
        status = 409,
        description = "`already_has_access`, `duplicate_request` (with `existing_request_id`) or `idempotency_key_reused`.",
        content_type = "application/problem+json"
    )]
    Conflict(Problem),
    #[response(
        status = 429,
        description = "`rate_limited`: more than `RATE_LIMIT_CREATE_PER_MINUTE` creations by this account in a minute, \
                       or `MAX_PENDING_PER_REQUESTER` pending requests by this account on this site. Nothing was created.",
        content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "Seconds to wait"))
    )]
    RateLimited(Problem),
}

/// `403` answers of a creation.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "`email_not_verified`, `requester_blocked`, `on_behalf_requires_site_user` or `external_requests_disabled`.",
    content_type = "application/problem+json"
)]
pub struct CreateForbidden(pub Problem);

const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

fn idempotency_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1-255 visible ASCII characters".to_owned())
        })?;
    Ok(Some(key.to_owned()))
}

/// A stored or fresh creation answer.
struct Created {
    status: u16,
    location: Option<String>,
    body: String,
}

/// Asks for access to a product, for oneself or on behalf of someone else.
///
/// Anyone with a verified email may ask for themselves on a site whose external requests are
/// enabled; users of the site may also ask on behalf of others. With `Idempotency-Key`, a retry
/// by the same caller with the same key gets the first answer again.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1-255 visible ASCII characters",
            nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")
    ),
    request_body = CreateAccessRequest,
    responses(
        (status = 201, description = "Created", body = AccessRequest,
            headers(("Location" = String), ("ETag" = String))),
        BadRequest, Unauthorized, CreateForbidden, NotFound, Unprocessable, BodyRejected, CreateRefused, Unavailable
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
    let fingerprint = {
        let canonical = serde_json::to_value(&body).unwrap_or_default().to_string();
        format!("{:x}", Sha256::digest(format!("{site_id}\n{canonical}")))
    };
    // A unique index may refuse a row that a concurrent transaction committed first;
    // the second try then sees that row and answers as the contract says.
    let mut tries = 0;
    let created = loop {
        tries += 1;
        let (state, caller, site_id, body, key, fingerprint) = (
            state.clone(),
            caller.clone(),
            site_id.clone(),
            body.clone(),
            key.clone(),
            fingerprint.clone(),
        );
        let result = state
            .db
            .clone()
            .transaction(move |c| create_in_tx(c, &state, &caller, &site_id, body, key, fingerprint))
            .await;
        match result {
            Err(ApiError::Conflict { code: "conflict", .. }) if tries < 3 => continue,
            other => break other?,
        }
    };
    let mut response = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(created.status).unwrap_or(actix_web::http::StatusCode::CREATED),
    );
    if let Some(location) = &created.location {
        response.insert_header((header::LOCATION, location.clone()));
    }
    if let Ok(request) = serde_json::from_str::<AccessRequest>(&created.body) {
        response.insert_header((header::ETAG, format!("\"{}\"", request.version)));
    }
    Ok(response.content_type("application/json").body(created.body))
}

fn create_in_tx(
    c: &mut DbConnection,
    state: &AppState,
    caller: &Caller,
    site_id: &str,
    body: CreateAccessRequest,
    key: Option<String>,
    fingerprint: String,
) -> ApiResult<Created> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    if let Some(key) = &key {
        if let Some(stored) = find_idempotent(c, caller.account_id(), key)? {
            if stored.fingerprint != fingerprint {
                return Err(ApiError::conflict(
                    "idempotency_key_reused",
                    "this Idempotency-Key was used with another request",
                ));
            }
            return Ok(Created {
                status: u16::try_from(stored.status_code).unwrap_or(201),
                location: stored.location,
                body: stored.body,
            });
        }
    }
    let (product_key, subject_input, reason) = body.check()?;
    let me = &caller.identity;
    let subject_id = match &subject_input {
        Some(s) => AccountId::parse(&s.account_id)
            .map_err(|e| ApiError::invalid("subject.account_id", e.to_string()))?,
        None => me.account_id.clone(),
    };
    let kind = RequestKind::of(&me.account_id, Some(&subject_id));
    let blocked = directory::find_block(c, &site.id, caller.account_id())?.is_some();
    may_request(RequestAttempt {
        email_verified: me.email_verified,
        caller_on_site: access.on_site(),
        caller_blocked: blocked,
        kind,
        external_requests_enabled: external_requests_enabled(site.in_rollout, site.opted_out),
    })?;
    if directory::find_product(c, &site.id, product_key.as_str())?.is_none() {
        return Err(ApiError::Unprocessable {
            code: "unknown_product",
            detail: format!("the site has no product `{product_key}`"),
        });
    }
    let requester_email = me.email.clone().unwrap_or_default();
    let requester_user = directory::find_site_user(c, &site.id, caller.account_id())?;
    let (subject_email, subject_name, subject_on_site) = match kind {
        RequestKind::SelfRequest => (
            Some(requester_email.clone()),
            me.name
                .clone()
                .or_else(|| requester_user.as_ref().and_then(|u| u.display_name.clone())),
            requester_user.is_some(),
        ),
        RequestKind::OnBehalf => match directory::find_site_user(c, &site.id, subject_id.as_str())? {
            Some(user) => (Some(user.email), user.display_name, true),
            None => {
                let input = subject_input.as_ref();
                let email = input.and_then(|s| s.email.clone()).ok_or_else(|| {
                    ApiError::invalid(
                        "subject.email",
                        "is required for someone who is not a user of the site",
                    )
                })?;
                (Some(email), input.and_then(|s| s.display_name.clone()), false)
            }
        },
    };
    check_limits(c, state, &site, caller.account_id())?;
    if directory::has_product(c, &site.id, subject_id.as_str(), product_key.as_str())? {
        return Err(ApiError::conflict(
            "already_has_access",
            format!("{subject_id} already has {product_key} on this site"),
        ));
    }
    if let Some(existing) =
        requests::pending_duplicate(c, &site.id, product_key.as_str(), subject_id.as_str())?
    {
        return Err(ApiError::Conflict {
            code: "duplicate_request",
            detail: "a pending request for this product and person exists".to_owned(),
            existing_request_id: existing.parse().ok(),
        });
    }
    let row = RequestRow {
        id: Uuid::new_v4().to_string(),
        site_id: site.id.clone(),
        product_key: product_key.as_str().to_owned(),
        kind: kind.as_str().to_owned(),
        status: RequestStatus::Pending.as_str().to_owned(),
        requester_account_id: caller.account_id().to_owned(),
        requester_email,
        requester_display_name: me
            .name
            .clone()
            .or_else(|| requester_user.and_then(|u| u.display_name)),
        requester_on_site: access.on_site(),
        subject_account_id: subject_id.as_str().to_owned(),
        subject_email,
        subject_display_name: subject_name,
        subject_on_site,
        reason,
        created_at: now_micros(),
        decided_at: None,
        decided_by: None,
        decision_message: None,
        version: 1,
    };
    requests::insert(c, &row)?;
    audit(
        c,
        AuditEntry {
            site_id: &site.id,
            actor: caller.account_id(),
            action: "access_request.created",
            request_id: Some(&row.id),
            details: json!({"product_key": row.product_key, "kind": row.kind, "subject_account_id": row.subject_account_id}),
        },
    )?;
    let created = Created {
        status: 201,
        location: Some(format!("/v1/sites/{}/access-requests/{}", site.id, row.id)),
        body: serde_json::to_string(&AccessRequest::from(row)).map_err(anyhow::Error::from)?,
    };
    if let Some(key) = key {
        save_idempotent(
            c,
            &IdempotencyRow {
                account_id: caller.account_id().to_owned(),
                idempotency_key: key,
                fingerprint,
                status_code: i32::from(created.status),
                location: created.location.clone(),
                body: created.body.clone(),
                created_at: now_micros(),
            },
        )?;
    }
    Ok(created)
}

const MINUTE_MICROS: i64 = 60_000_000;

/// The abuse limits: creations per minute per account, pending requests per account and site.
fn check_limits(c: &mut DbConnection, state: &AppState, site: &SiteRow, requester: &str) -> ApiResult<()> {
    let settings = &state.settings;
    let now = now_micros();
    if settings.rate_limit_create_per_minute > 0 {
        let (count, oldest) = requests::created_since(c, requester, now - MINUTE_MICROS)?;
        let limit = settings.rate_limit_create_per_minute;
        if let Some(retry_after_secs) =
            over_limit(count as u64, limit, oldest.unwrap_or(now), MINUTE_MICROS, now)
        {
            return Err(ApiError::RateLimited {
                retry_after_secs,
                detail: format!("at most {limit} access requests a minute per account"),
            });
        }
    }
    let cap = settings.max_pending_per_requester;
    if cap > 0
        && over_pending_cap(
            requests::pending_by_requester(c, &site.id, requester)? as u64,
            cap,
        )
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: 60,
            detail: format!("at most {cap} pending requests per account on a site"),
        });
    }
    Ok(())
}

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

/// Lists the site's access requests, newest first. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests", tag = "access-requests",
    params(("site_id" = Uuid, Path), ListQuery),
    responses((status = 200, description = "One page", body = AccessRequestPage), BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, Unavailable),
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
    let page = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let (limit, cursor) = PageQuery {
                limit: query.limit,
                cursor: query.cursor,
            }
            .parse()?;
            if let Some(key) = &query.product_key {
                product_to_write(key)?;
            }
            for (name, account) in [("requester", &query.requester), ("subject", &query.subject)] {
                if let Some(account) = account {
                    AccountId::parse(account).map_err(|e| ApiError::invalid(name, e.to_string()))?;
                }
            }
            let filter = RequestFilter {
                status: query.status,
                product_key: query.product_key,
                kind: query.kind.map(|k| k.as_str().to_owned()),
                requester: query.requester,
                subject: query.subject,
            };
            requests::list_for_site(c, &site.id, &filter, limit, cursor)
        })
        .await?;
    Ok(web::Json(page.into()))
}

/// The site and request ids of a `…/access-requests/{request_id}…` path.
fn request_ids(path: web::Path<(String, String)>) -> ApiResult<(String, String)> {
    let (site_id, request_id) = path.into_inner();
    Ok((
        path_id(&site_id, "the site")?,
        path_id(&request_id, "the access request")?,
    ))
}

fn request_response(status: actix_web::http::StatusCode, row: RequestRow) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{}\"", row.version)))
        .json(AccessRequest::from(row))
}

/// Loads a request of the site that the caller may see: admins, its requester and its subject.
/// Anyone else gets `404`, as if it did not exist.
fn visible_request(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
) -> ApiResult<(SiteRow, crate::domain::Access, RequestRow)> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    let row =
        requests::find(c, &site.id, request_id)?.ok_or_else(|| ApiError::not_found("the access request"))?;
    let involved =
        row.requester_account_id == caller.account_id() || row.subject_account_id == caller.account_id();
    if !(access.administers_site() || involved) {
        return Err(ApiError::not_found("the access request"));
    }
    Ok((site, access, row))
}

/// Reads one access request. Site admins, org admins, its requester and its subject.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests/{request_id}", tag = "access-requests",
    params(("site_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses((status = 200, description = "The request", body = AccessRequest, headers(("ETag" = String))), Unauthorized, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn get_request(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (site_id, request_id) = request_ids(path)?;
    let (_, _, row) = state
        .db
        .run(move |c| visible_request(c, &caller, &site_id, &request_id))
        .await?;
    Ok(request_response(actix_web::http::StatusCode::OK, row))
}

/// How a person's earlier requests on this site ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestHistory {
    pub total: i64,
    pub approved: i64,
    pub denied: i64,
}

/// Everything the service knows about a person, to help decide.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    pub account_id: String,
    pub email: Option<String>,
    /// `true` when the person proved their email to this service; `null` when unknown.
    pub email_verified: Option<bool>,
    pub display_name: Option<String>,
    /// Whether the person is a user of the site now.
    pub on_site: bool,
    /// Their role on the site now, if they are a user of it.
    pub role: Option<SiteRole>,
    /// The products they have on the site now.
    pub products: Vec<String>,
    /// Whether they are blocked from requesting access on this site.
    pub blocked: bool,
    /// Whether their email's domain is verified by the site's organization.
    pub email_domain_verified_by_org: bool,
    /// Their other requests on this site as subject (this one excluded).
    pub previous_requests: RequestHistory,
}

/// A request with the profiles of the people in it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Review {
    pub request: AccessRequest,
    pub requester: Profile,
    pub subject: Profile,
}

struct Known<'a> {
    account_id: &'a str,
    email: Option<&'a str>,
    display_name: Option<&'a str>,
    email_verified: Option<bool>,
}

fn profile(
    c: &mut DbConnection,
    site: &SiteRow,
    domains: &[String],
    request_id: &str,
    known: Known<'_>,
) -> ApiResult<Profile> {
    let user: Option<SiteUserRow> = directory::find_site_user(c, &site.id, known.account_id)?;
    let products = match &user {
        Some(_) => directory::user_products(c, &site.id, known.account_id)?,
        None => Vec::new(),
    };
    let blocked = directory::find_block(c, &site.id, known.account_id)?.is_some();
    let mut history = RequestHistory {
        total: 0,
        approved: 0,
        denied: 0,
    };
    for (status, count) in requests::history(c, &site.id, known.account_id, request_id)? {
        history.total += count;
        match status.parse() {
            Ok(RequestStatus::Approved) => history.approved += count,
            Ok(RequestStatus::Denied) => history.denied += count,
            _ => {}
        }
    }
    let email = user
        .as_ref()
        .map(|u| u.email.clone())
        .or_else(|| known.email.map(str::to_owned));
    Ok(Profile {
        account_id: known.account_id.to_owned(),
        email_domain_verified_by_org: email
            .as_deref()
            .is_some_and(|e| email_domain_verified(e, domains)),
        email,
        email_verified: known.email_verified,
        display_name: user
            .as_ref()
            .and_then(|u| u.display_name.clone())
            .or_else(|| known.display_name.map(str::to_owned)),
        on_site: user.is_some(),
        role: user.and_then(|u| u.role.parse().ok()),
        products,
        blocked,
        previous_requests: history,
    })
}

/// The review view: the request and everything known about its requester and subject.
/// Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests/{request_id}/review", tag = "access-requests",
    params(("site_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses((status = 200, description = "The review", body = Review), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn review_request(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<Review>> {
    let (site_id, request_id) = request_ids(path)?;
    let review = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let row = requests::find(c, &site.id, &request_id)?
                .ok_or_else(|| ApiError::not_found("the access request"))?;
            let domains = directory::find_org(c, &site.org_id)?.domains();
            let is_self = row.kind == RequestKind::SelfRequest.as_str();
            let requester = profile(
                c,
                &site,
                &domains,
                &row.id,
                Known {
                    account_id: &row.requester_account_id,
                    email: Some(&row.requester_email),
                    display_name: row.requester_display_name.as_deref(),
                    email_verified: Some(true),
                },
            )?;
            let subject = profile(
                c,
                &site,
                &domains,
                &row.id,
                Known {
                    account_id: &row.subject_account_id,
                    email: row.subject_email.as_deref(),
                    display_name: row.subject_display_name.as_deref(),
                    email_verified: is_self.then_some(true),
                },
            )?;
            Ok(Review {
                request: row.into(),
                requester,
                subject,
            })
        })
        .await?;
    Ok(web::Json(review))
}

/// The body of an approval: nothing to say (an empty body is fine too).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {}

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

/// `409`/`412` answers of a decision.
#[derive(IntoResponses)]
pub enum DecisionRefused {
    #[response(
        status = 409,
        description = "`not_pending`: the request was already decided or cancelled.",
        content_type = "application/problem+json"
    )]
    NotPending(Problem),
    #[response(
        status = 412,
        description = "`precondition_failed`: `If-Match` names an older version of a pending request.",
        content_type = "application/problem+json"
    )]
    Precondition(Problem),
}

fn if_match(req: &HttpRequest) -> ApiResult<Option<i64>> {
    match req.headers().get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => {
            let raw = value.to_str().unwrap_or_default();
            if raw.trim() == "*" {
                return Ok(None);
            }
            parse_if_match(raw)
                .map(Some)
                .ok_or_else(|| ApiError::BadRequest("If-Match must name a version, e.g. \"3\"".to_owned()))
        }
    }
}

/// Applies a decision or cancellation; of concurrent callers exactly one passes.
fn transition(
    c: &mut DbConnection,
    row: &RequestRow,
    if_match: Option<i64>,
    change: Transition<'_>,
) -> ApiResult<RequestRow> {
    let status: RequestStatus = row.status.parse().unwrap_or(RequestStatus::Pending);
    may_transition(status, row.version, if_match)?;
    if !requests::transition(c, row, change)? {
        // Someone else changed it between our read and our write.
        let now = requests::find(c, &row.site_id, &row.id)?
            .ok_or_else(|| ApiError::not_found("the access request"))?;
        let status: RequestStatus = now.status.parse().unwrap_or(RequestStatus::Pending);
        may_transition(status, now.version, Some(row.version))?;
        return Err(crate::domain::TransitionRefusal::NotPending.into());
    }
    requests::find(c, &row.site_id, &row.id)?.ok_or_else(|| ApiError::not_found("the access request"))
}

fn decision_target(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
) -> ApiResult<(SiteRow, RequestRow)> {
    let site = administered_site(c, caller, site_id)?;
    let row =
        requests::find(c, &site.id, request_id)?.ok_or_else(|| ApiError::not_found("the access request"))?;
    Ok((site, row))
}

/// Approves a pending request. In one transaction the subject becomes a site user (member) if
/// needed, gets the product, and the group, billing and notification webhooks are queued. A
/// subject who already has the product is approved without group or billing webhooks.
/// Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/approve", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you reviewed, e.g. \"3\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = Option<ApproveBody>, description = "`{}` or nothing"),
    responses(
        (status = 200, description = "Approved", body = AccessRequest, headers(("ETag" = String))),
        BadRequest, Unauthorized, Forbidden, NotFound, BodyRejected, DecisionRefused, Unavailable
    ),
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
    let _: ApproveBody = optional_body(&body)?;
    let if_match = if_match(&req)?;
    let settings = state.settings.clone();
    let row = state
        .db
        .transaction(move |c| {
            let (site, row) = decision_target(c, &caller, &site_id, &request_id)?;
            let now = now_micros();
            let approved = transition(c, &row, if_match, Transition {
                status: RequestStatus::Approved,
                decided_by: caller.account_id(),
                decided_at: now,
                message: None,
            })?;
            let email = approved.subject_email.clone().unwrap_or_default();
            directory::ensure_site_user(c, &SiteUserRow {
                site_id: site.id.clone(),
                account_id: approved.subject_account_id.clone(),
                email: email.clone(),
                display_name: approved.subject_display_name.clone(),
                role: SiteRole::Member.as_str().to_owned(),
                created_at: now,
                updated_at: now,
            })?;
            let had_product = directory::has_product(c, &site.id, &approved.subject_account_id, &approved.product_key)?;
            if !had_product {
                directory::grant_product(c, &site.id, &approved.subject_account_id, &approved.product_key)?;
                let product = directory::find_product(c, &site.id, &approved.product_key)?
                    .ok_or_else(|| ApiError::not_found("the product"))?;
                let grant = events::Grant {
                    request: &approved,
                    org_id: &site.org_id,
                    group: &product.default_group,
                    email: &email,
                };
                if let Some(delivery) = events::group_member_add(&settings, &grant) {
                    outbox::enqueue(c, &delivery)?;
                }
                let key = events::grant_key(&site.id, &approved.product_key, &approved.subject_account_id);
                if !outbox::grant_started(c, &key)? {
                    if let Some(delivery) = events::billing_seat_start(&settings, &grant, now) {
                        outbox::enqueue(c, &delivery)?;
                    }
                }
            }
            if let Some(delivery) = events::access_request_decided(&settings, &approved) {
                outbox::enqueue(c, &delivery)?;
            }
            audit(c, AuditEntry {
                site_id: &site.id,
                actor: caller.account_id(),
                action: "access_request.approved",
                request_id: Some(&approved.id),
                details: json!({"product_key": approved.product_key, "subject_account_id": approved.subject_account_id, "already_had_product": had_product}),
            })?;
            Ok(approved)
        })
        .await?;
    state.outbox_notify.notify_one();
    Ok(request_response(actix_web::http::StatusCode::OK, row))
}

/// Denies a pending request, with an optional message. Denying a **self** request also blocks
/// its requester on the site. Site admins and org admins.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/deny", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you reviewed, e.g. \"3\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = Option<DenyBody>, description = "`{message?}` or nothing"),
    responses(
        (status = 200, description = "Denied", body = AccessRequest, headers(("ETag" = String))),
        BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, BodyRejected, DecisionRefused, Unavailable
    ),
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
    let if_match = if_match(&req)?;
    let settings = state.settings.clone();
    let row = state
        .db
        .transaction(move |c| {
            let (site, row) = decision_target(c, &caller, &site_id, &request_id)?;
            let now = now_micros();
            let denied = transition(
                c,
                &row,
                if_match,
                Transition {
                    status: RequestStatus::Denied,
                    decided_by: caller.account_id(),
                    decided_at: now,
                    message: body.message.as_deref(),
                },
            )?;
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "access_request.denied",
                    request_id: Some(&denied.id),
                    details: json!({"product_key": denied.product_key, "message": denied.decision_message}),
                },
            )?;
            let kind: RequestKind = denied.kind.parse().unwrap_or(RequestKind::OnBehalf);
            if denial_blocks_requester(kind) {
                let added = directory::insert_block(
                    c,
                    &BlockRow {
                        site_id: site.id.clone(),
                        account_id: denied.requester_account_id.clone(),
                        email: denied.requester_email.clone(),
                        request_id: Some(denied.id.clone()),
                        blocked_by: caller.account_id().to_owned(),
                        created_at: now,
                    },
                )?;
                if added {
                    audit(
                        c,
                        AuditEntry {
                            site_id: &site.id,
                            actor: caller.account_id(),
                            action: "request_block.created",
                            request_id: Some(&denied.id),
                            details: json!({"account_id": denied.requester_account_id}),
                        },
                    )?;
                }
            }
            if let Some(delivery) = events::access_request_decided(&settings, &denied) {
                outbox::enqueue(c, &delivery)?;
            }
            Ok(denied)
        })
        .await?;
    state.outbox_notify.notify_one();
    Ok(request_response(actix_web::http::StatusCode::OK, row))
}

/// Withdraws a pending request. Its requester only.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/{request_id}/cancel", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path), ("request_id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version you saw, e.g. \"1\"", nullable = false,
            pattern = "^(\\*|(W/)?\"[0-9]{1,18}\"|[0-9]{1,18})$")
    ),
    request_body(content = Option<ApproveBody>, description = "`{}` or nothing"),
    responses(
        (status = 200, description = "Cancelled", body = AccessRequest, headers(("ETag" = String))),
        BadRequest, Unauthorized, Forbidden, NotFound, BodyRejected, DecisionRefused, Unavailable
    ),
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
    let _: ApproveBody = optional_body(&body)?;
    let if_match = if_match(&req)?;
    let row = state
        .db
        .transaction(move |c| {
            let (site, _, row) = visible_request(c, &caller, &site_id, &request_id)?;
            if row.requester_account_id != caller.account_id() {
                return Err(ApiError::forbidden("only the requester may cancel a request"));
            }
            let cancelled = transition(
                c,
                &row,
                if_match,
                Transition {
                    status: RequestStatus::Cancelled,
                    decided_by: caller.account_id(),
                    decided_at: now_micros(),
                    message: None,
                },
            )?;
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "access_request.cancelled",
                    request_id: Some(&cancelled.id),
                    details: json!({"product_key": cancelled.product_key}),
                },
            )?;
            Ok(cancelled)
        })
        .await?;
    Ok(request_response(actix_web::http::StatusCode::OK, row))
}

/// The requests where the caller is requester or subject, on every site, newest first,
/// with their status and decision message.
#[utoipa::path(
    get, path = "/v1/me/access-requests", tag = "me",
    params(PageQuery),
    responses((status = 200, description = "One page", body = AccessRequestPage), BadRequest, Unauthorized, Unprocessable, Unavailable),
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
