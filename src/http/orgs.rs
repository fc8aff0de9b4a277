//! Organizations, their admins and sites, and the sites a caller administers.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::{account_to_read, account_to_write, path_id, time, validated, JsonObject};
use crate::app::access::administered_site;
use crate::app::directory as use_case;
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::directory;
use crate::store::models::{OrgRow, SiteRow};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/orgs").route(web::post().to(create_org)));
    cfg.service(web::resource("/v1/orgs/{org_id}").route(web::get().to(get_org)));
    cfg.service(
        web::resource("/v1/orgs/{org_id}/admins/{account_id}")
            .route(web::put().to(put_org_admin))
            .route(web::delete().to(delete_org_admin)),
    );
    cfg.service(web::resource("/v1/orgs/{org_id}/sites").route(web::post().to(create_site)));
    cfg.service(web::resource("/v1/sites/{site_id}").route(web::get().to(get_site)));
    cfg.service(web::resource("/v1/me/admin-sites").route(web::get().to(admin_sites)));
}

/// An organization: a customer with one or more sites.
#[derive(Debug, Serialize, ToSchema)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    /// Email domains the organization has verified (lower case).
    pub verified_domains: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl From<OrgRow> for Org {
    fn from(row: OrgRow) -> Self {
        Org {
            id: row.id.parse().unwrap_or_default(),
            verified_domains: row.domains(),
            name: row.name,
            created_at: time(row.created_at),
        }
    }
}

fn valid_domains(domains: &[String]) -> Result<(), ValidationError> {
    let valid = |d: &str| {
        d.len() <= 253
            && d.contains('.')
            && d.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    if domains.iter().all(|d| valid(d)) {
        Ok(())
    } else {
        Err(ValidationError::new("domain")
            .with_message("each entry must be a domain name such as example.com".into()))
    }
}

/// What `valid_domains` accepts, for the document: dot-separated labels of letters, digits and
/// inner hyphens, at most 253 characters.
const DOMAIN_PATTERN: &str =
    r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$";

/// An optional array of strings that match `pattern`, for fields whose items utoipa cannot constrain.
pub fn string_list_schema(
    description: &str,
    pattern: &str,
    max_length: usize,
    max_items: usize,
    example: serde_json::Value,
) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .max_length(Some(max_length)),
        )
        .max_items(Some(max_items))
        .description(Some(description))
        .examples([example])
        .build()
}

fn verified_domains_schema() -> utoipa::openapi::schema::Array {
    string_list_schema(
        "Email domains verified by the organization; shown in the review view.",
        DOMAIN_PATTERN,
        253,
        100,
        json!(["acme.com"]),
    )
}

/// A new organization.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrg {
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(min = 1, max = 200, message = "must be 1-200 characters")
    )]
    #[schema(pattern = "^[^\\u0000]*$", min_length = 1, max_length = 200, example = "Acme")]
    pub name: String,
    /// Email domains verified by the organization; shown in the review view.
    #[validate(
        length(max = 100, message = "at most 100 domains"),
        custom(function = "valid_domains")
    )]
    #[schema(schema_with = verified_domains_schema)]
    pub verified_domains: Option<Vec<String>>,
}

/// Create an organization.
///
/// Platform admins only. `verified_domains` are the email domains the organization has proven
/// it owns; the review view shows whether a person's email is in one of them.
#[utoipa::path(
    post, path = "/v1/orgs", operation_id = "create_org", tag = "directory",
    request_body = CreateOrg,
    responses((status = 201, description = "Created", body = Org, headers(("Location" = String)))),
    security(("bearer" = []))
)]
pub async fn create_org(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<JsonObject<CreateOrg>>,
) -> ApiResult<HttpResponse> {
    caller.require_platform_admin()?;
    let body = validated(body.into_inner().into_inner())?;
    let row = state
        .db
        .run(move |c| use_case::create_org(c, &caller, body.name, body.verified_domains.unwrap_or_default()))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/orgs/{}", row.id)))
        .json(Org::from(row)))
}

/// Read an organization.
///
/// Its org admins and platform admins.
#[utoipa::path(
    get, path = "/v1/orgs/{org_id}", operation_id = "get_org", tag = "directory",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, description = "The organization", body = Org)),
    security(("bearer" = []))
)]
pub async fn get_org(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<Org>> {
    let org_id = path_id(&path, "the organization")?;
    let org = state
        .db
        .run(move |c| use_case::get_org(c, &caller, &org_id))
        .await?;
    Ok(web::Json(org.into()))
}

/// Make an account an admin of an organization.
///
/// Idempotent. Platform admins and the organization's admins. An org admin may do everything a
/// site admin may on every site of the organization, create sites and manage products.
#[utoipa::path(
    put, path = "/v1/orgs/{org_id}/admins/{account_id}", operation_id = "add_org_admin", tag = "directory",
    params(("org_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "The account is an org admin")),
    security(("bearer" = []))
)]
pub async fn put_org_admin(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (org_id, account) = path.into_inner();
    let org_id = path_id(&org_id, "the organization")?;
    let account = account_to_write(&account)?;
    state
        .db
        .run(move |c| use_case::add_org_admin(c, &caller, &org_id, &account))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove an admin of an organization.
///
/// Idempotent: removing an account that is not an admin answers `204` too. Platform admins and
/// the organization's admins.
#[utoipa::path(
    delete, path = "/v1/orgs/{org_id}/admins/{account_id}", operation_id = "remove_org_admin", tag = "directory",
    params(("org_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "The account is not an org admin")),
    security(("bearer" = []))
)]
pub async fn delete_org_admin(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (org_id, account) = path.into_inner();
    let org_id = path_id(&org_id, "the organization")?;
    let account = account_to_read(&account, "the org admin")?;
    state
        .db
        .run(move |c| use_case::remove_org_admin(c, &caller, &org_id, &account))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A site (tenant) of an organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct Site {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub url: String,
    pub created_at: DateTime<Utc>,
}

impl From<SiteRow> for Site {
    fn from(row: SiteRow) -> Self {
        Site {
            id: row.id.parse().unwrap_or_default(),
            org_id: row.org_id.parse().unwrap_or_default(),
            name: row.name,
            url: row.url,
            created_at: time(row.created_at),
        }
    }
}

/// A new site.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSite {
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(min = 1, max = 200, message = "must be 1-200 characters")
    )]
    #[schema(
        pattern = "^[^\\u0000]*$",
        min_length = 1,
        max_length = 200,
        example = "Acme Jira"
    )]
    pub name: String,
    #[validate(
        url(message = "must be an absolute URL"),
        length(max = 2048, message = "at most 2048 characters")
    )]
    #[schema(format = "uri", max_length = 2048, example = "https://acme.atlassian.net")]
    pub url: String,
}

/// Create a site of an organization.
///
/// Org admins. A new site joins the measured rollout of external requests when a stable hash of
/// its id, mod 100, is below `ROLLOUT_PERCENT`.
#[utoipa::path(
    post, path = "/v1/orgs/{org_id}/sites", operation_id = "create_site", tag = "directory",
    params(("org_id" = Uuid, Path)),
    request_body = CreateSite,
    responses((status = 201, description = "Created", body = Site, headers(("Location" = String)))),
    security(("bearer" = []))
)]
pub async fn create_site(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<CreateSite>>,
) -> ApiResult<HttpResponse> {
    let org_id = path_id(&path, "the organization")?;
    let body = body.into_inner().into_inner();
    let settings = state.settings.clone();
    let site = state
        .db
        .run(move |c| {
            // The org and the caller's role first: an unknown org is 404 whatever the body says.
            directory::find_org(c, &org_id)?;
            let body = validated(body)?;
            use_case::create_site(c, &settings, &caller, &org_id, body.name, body.url)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/sites/{}", site.id)))
        .json(Site::from(site)))
}

/// Read a site.
///
/// Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}", operation_id = "get_site", tag = "directory",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The site", body = Site)),
    security(("bearer" = []))
)]
pub async fn get_site(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<Site>> {
    let site_id = path_id(&path, "the site")?;
    let site = state
        .db
        .run(move |c| administered_site(c, &caller, &site_id))
        .await?;
    Ok(web::Json(site.into()))
}

/// A site the caller administers, with how many requests wait for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSite {
    pub site: Site,
    pub pending_requests: i64,
}

/// List the sites the caller administers.
///
/// The "pick a site" step for admins of several sites: every site the caller administers as
/// site admin or org admin, by name, with how many requests wait for a decision. Empty for a
/// caller who administers none.
#[utoipa::path(
    get, path = "/v1/me/admin-sites", operation_id = "list_admin_sites", tag = "me",
    responses((status = 200, description = "The sites; empty for a caller who administers none", body = Vec<AdminSite>)),
    security(("bearer" = []))
)]
pub async fn admin_sites(caller: Caller, state: web::Data<AppState>) -> ApiResult<web::Json<Vec<AdminSite>>> {
    let sites = state
        .db
        .run(move |c| directory::admin_sites(c, caller.account_id()))
        .await?;
    Ok(web::Json(
        sites
            .into_iter()
            .map(|row| AdminSite {
                site: row.site.into(),
                pending_requests: row.pending_requests,
            })
            .collect(),
    ))
}
