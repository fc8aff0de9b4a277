//! The directory: orgs, org admins, sites, products and site users.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::{
    account_to_read, account_to_write, path_id, product_to_write, validated, BadRequest, BodyRejected,
    Forbidden, JsonObject, NotFound, Unauthorized, Unavailable, Unprocessable,
};
use crate::auth::Caller;
use crate::domain::{starts_in_rollout, Access, SiteRole};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::models::{OrgRow, ProductRow, SiteRow, SiteUserRow};
use crate::store::records::{audit, AuditEntry};
use crate::store::{directory, now_micros, to_datetime, DbConnection};

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
    cfg.service(web::resource("/v1/sites/{site_id}/products").route(web::get().to(list_products)));
    cfg.service(
        web::resource("/v1/sites/{site_id}/products/{product_key}").route(web::put().to(put_product)),
    );
    cfg.service(
        web::resource("/v1/sites/{site_id}/users/{account_id}")
            .route(web::put().to(put_site_user))
            .route(web::get().to(get_site_user))
            .route(web::delete().to(delete_site_user)),
    );
    cfg.service(web::resource("/v1/me/admin-sites").route(web::get().to(admin_sites)));
}

/// Site admins and admins of the site's organization.
fn require_site_admin(access: &Access) -> ApiResult<()> {
    if access.administers_site() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only admins of this site or its organization may do this",
        ))
    }
}

/// Loads a site for one of its admins (site admins and org admins); an unknown site is `404`.
pub fn administered_site(c: &mut DbConnection, caller: &Caller, site_id: &str) -> ApiResult<SiteRow> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    require_site_admin(&access)?;
    Ok(site)
}

/// Admins of the site's organization.
pub fn require_org_admin(access: &Access) -> ApiResult<()> {
    if access.org_admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only admins of the site's organization may do this",
        ))
    }
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
            created_at: to_datetime(row.created_at),
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
fn string_list_schema(
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

/// Creates an organization. Platform admins only.
#[utoipa::path(
    post, path = "/v1/orgs", tag = "directory",
    request_body = CreateOrg,
    responses(
        (status = 201, description = "Created", body = Org, headers(("Location" = String))),
        BadRequest, Unauthorized, Forbidden, Unprocessable, BodyRejected, Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn create_org(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Json<JsonObject<CreateOrg>>,
) -> ApiResult<HttpResponse> {
    caller.require_platform_admin()?;
    let body = validated(body.into_inner().into_inner())?;
    let mut domains: Vec<String> = body
        .verified_domains
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.to_ascii_lowercase())
        .collect();
    domains.sort();
    domains.dedup();
    let row = OrgRow {
        id: Uuid::new_v4().to_string(),
        name: body.name,
        verified_domains: json!(domains).to_string(),
        created_at: now_micros(),
    };
    let stored = row.clone();
    state.db.run(move |c| directory::insert_org(c, &stored)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/orgs/{}", row.id)))
        .json(Org::from(row)))
}

/// Loads an org the caller may administer: org admins of it and platform admins.
fn org_for_admin(conn: &mut DbConnection, org_id: &str, caller: &Caller) -> ApiResult<OrgRow> {
    let org = directory::find_org(conn, org_id)?;
    if caller.platform_admin || directory::is_org_admin(conn, org_id, caller.account_id())? {
        Ok(org)
    } else {
        Err(ApiError::forbidden(
            "only admins of this organization may do this",
        ))
    }
}

/// Reads an organization. Its org admins and platform admins.
#[utoipa::path(
    get, path = "/v1/orgs/{org_id}", tag = "directory",
    params(("org_id" = Uuid, Path)),
    responses((status = 200, description = "The organization", body = Org), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn get_org(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<Org>> {
    let org_id = path_id(&path, "the organization")?;
    let org = state.db.run(move |c| org_for_admin(c, &org_id, &caller)).await?;
    Ok(web::Json(org.into()))
}

/// Makes an account an admin of the organization. Platform admins and the org's admins.
#[utoipa::path(
    put, path = "/v1/orgs/{org_id}/admins/{account_id}", tag = "directory",
    params(("org_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "The account is an org admin"), Unauthorized, Forbidden, NotFound, Unprocessable, Unavailable),
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
        .transaction(move |c| {
            org_for_admin(c, &org_id, &caller)?;
            directory::add_org_admin(c, &org_id, account.as_str())
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes an org admin (idempotent). Platform admins and the org's admins.
#[utoipa::path(
    delete, path = "/v1/orgs/{org_id}/admins/{account_id}", tag = "directory",
    params(("org_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "The account is not an org admin"), Unauthorized, Forbidden, NotFound, Unavailable),
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
        .transaction(move |c| {
            org_for_admin(c, &org_id, &caller)?;
            directory::remove_org_admin(c, &org_id, account.as_str())
        })
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
            created_at: to_datetime(row.created_at),
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

/// Creates a site in the organization; it joins the rollout by `ROLLOUT_PERCENT`. Org admins.
#[utoipa::path(
    post, path = "/v1/orgs/{org_id}/sites", tag = "directory",
    params(("org_id" = Uuid, Path)),
    request_body = CreateSite,
    responses(
        (status = 201, description = "Created", body = Site, headers(("Location" = String))),
        BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, BodyRejected, Unavailable
    ),
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
    let percent = state.settings.rollout_percent;
    let site = state
        .db
        .transaction(move |c| {
            directory::find_org(c, &org_id)?;
            if !directory::is_org_admin(c, &org_id, caller.account_id())? {
                return Err(ApiError::forbidden(
                    "only admins of this organization may create sites",
                ));
            }
            let body = validated(body)?;
            let id = Uuid::new_v4().to_string();
            let row = SiteRow {
                in_rollout: starts_in_rollout(&id, percent),
                opted_out: false,
                id,
                org_id,
                name: body.name,
                url: body.url,
                created_at: now_micros(),
            };
            directory::insert_site(c, &row)?;
            Ok(row)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/sites/{}", site.id)))
        .json(Site::from(site)))
}

/// Reads a site. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}", tag = "directory",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The site", body = Site), Unauthorized, Forbidden, NotFound, Unavailable),
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
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            Ok(site)
        })
        .await?;
    Ok(web::Json(site.into()))
}

/// A product of a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct Product {
    pub site_id: Uuid,
    #[schema(pattern = "^[a-z][a-z0-9-]{1,63}$", example = "jira-software")]
    pub product_key: String,
    pub name: String,
    /// The group that approved users join.
    pub default_group: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            site_id: row.site_id.parse().unwrap_or_default(),
            product_key: row.product_key,
            name: row.name,
            default_group: row.default_group,
            created_at: to_datetime(row.created_at),
            updated_at: to_datetime(row.updated_at),
        }
    }
}

/// A product's name and default group.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutProduct {
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(min = 1, max = 200, message = "must be 1-200 characters")
    )]
    #[schema(
        pattern = "^[^\\u0000]*$",
        min_length = 1,
        max_length = 200,
        example = "Jira Software"
    )]
    pub name: String,
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(min = 1, max = 200, message = "must be 1-200 characters")
    )]
    #[schema(
        pattern = "^[^\\u0000]*$",
        min_length = 1,
        max_length = 200,
        example = "jira-software-users"
    )]
    pub default_group: String,
}

/// Creates or replaces a product of the site. Org admins.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/products/{product_key}", tag = "directory",
    params(("site_id" = Uuid, Path), ("product_key" = String, Path, pattern = "^[a-z][a-z0-9-]{1,63}$")),
    request_body = PutProduct,
    responses(
        (status = 200, description = "Replaced", body = Product),
        (status = 201, description = "Created", body = Product),
        BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, BodyRejected, Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn put_product(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<JsonObject<PutProduct>>,
) -> ApiResult<HttpResponse> {
    let (site_id, key) = path.into_inner();
    let site_id = path_id(&site_id, "the site")?;
    let body = body.into_inner().into_inner();
    let (product, created) = state
        .db
        .transaction(move |c| {
            let (site, access) = directory::site_access(c, &site_id, caller.account_id())?;
            require_org_admin(&access)?;
            let key = product_to_write(&key)?;
            let body = validated(body)?;
            let now = now_micros();
            let (product, created) = directory::put_product(
                c,
                &ProductRow {
                    site_id: site.id.clone(),
                    product_key: key.as_str().to_owned(),
                    name: body.name,
                    default_group: body.default_group,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            audit(c, AuditEntry {
                site_id: &site.id,
                actor: caller.account_id(),
                action: "product.upserted",
                request_id: None,
                details: json!({"product_key": product.product_key, "name": product.name, "default_group": product.default_group}),
            })?;
            Ok((product, created))
        })
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(Product::from(product)))
}

/// Lists the site's products. Any authenticated caller (the "Request access" page needs them).
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/products", tag = "directory",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The products, by key", body = Vec<Product>), Unauthorized, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn list_products(
    _caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<Vec<Product>>> {
    let site_id = path_id(&path, "the site")?;
    let products = state
        .db
        .run(move |c| {
            directory::find_site(c, &site_id)?;
            directory::list_products(c, &site_id)
        })
        .await?;
    Ok(web::Json(products.into_iter().map(Product::from).collect()))
}

/// A user of a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteUser {
    pub site_id: Uuid,
    pub account_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: SiteRole,
    /// The keys of the products the user has.
    pub products: Vec<String>,
    /// Whether the account may no longer request access on this site.
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn site_user(conn: &mut DbConnection, row: SiteUserRow) -> ApiResult<SiteUser> {
    let products = directory::user_products(conn, &row.site_id, &row.account_id)?;
    let blocked = directory::find_block(conn, &row.site_id, &row.account_id)?.is_some();
    Ok(SiteUser {
        site_id: row.site_id.parse().unwrap_or_default(),
        account_id: row.account_id,
        email: row.email,
        display_name: row.display_name,
        role: row.role.parse().unwrap_or(SiteRole::Member),
        products,
        blocked,
        created_at: to_datetime(row.created_at),
        updated_at: to_datetime(row.updated_at),
    })
}

fn valid_product_keys(keys: &[String]) -> Result<(), ValidationError> {
    if keys.iter().all(|k| crate::domain::ProductKey::parse(k).is_ok()) {
        Ok(())
    } else {
        Err(ValidationError::new("product_key").with_message(crate::domain::ProductKey::RULE.into()))
    }
}

fn site_user_products_schema() -> utoipa::openapi::schema::Array {
    string_list_schema(
        "When given, exactly these products (no webhooks are sent: this is directory sync).",
        r"^[a-z][a-z0-9-]{1,63}$",
        64,
        200,
        json!(["jira-software"]),
    )
}

/// A site user as the directory (or its sync job) knows them.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutSiteUser {
    #[validate(
        email(message = "must be an email address"),
        length(max = 320, message = "at most 320 characters")
    )]
    #[schema(format = Email, max_length = 320, example = "sam@acme.com")]
    pub email: String,
    #[validate(
        custom(function = "crate::http::no_nul"),
        length(max = 200, message = "at most 200 characters")
    )]
    #[schema(pattern = "^[^\\u0000]*$", max_length = 200, example = "Sam Jones")]
    pub display_name: Option<String>,
    pub role: SiteRole,
    /// When given, exactly these products (no webhooks are sent: this is directory sync).
    #[validate(
        length(max = 200, message = "at most 200 products"),
        custom(function = "valid_product_keys")
    )]
    #[schema(schema_with = site_user_products_schema)]
    pub products: Option<Vec<String>>,
}

/// Creates or updates a site user. Site admins and org admins. Sends no webhooks.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/users/{account_id}", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    request_body = PutSiteUser,
    responses(
        (status = 200, description = "Updated", body = SiteUser),
        (status = 201, description = "Created", body = SiteUser),
        BadRequest, Unauthorized, Forbidden, NotFound, Unprocessable, BodyRejected, Unavailable
    ),
    security(("bearer" = []))
)]
pub async fn put_site_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: web::Json<JsonObject<PutSiteUser>>,
) -> ApiResult<HttpResponse> {
    let (site_id, account) = path.into_inner();
    let site_id = path_id(&site_id, "the site")?;
    let body = body.into_inner().into_inner();
    let (user, created) = state
        .db
        .transaction(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let account = account_to_write(&account)?;
            let mut body = validated(body)?;
            if let Some(products) = body.products.as_mut() {
                products.sort();
                products.dedup();
                let unknown = directory::unknown_products(c, &site.id, products)?;
                if !unknown.is_empty() {
                    return Err(ApiError::Unprocessable {
                        code: "unknown_product",
                        detail: format!("the site has no product {}", unknown.join(", ")),
                    });
                }
            }
            let now = now_micros();
            let (row, created) = directory::put_site_user(
                c,
                &SiteUserRow {
                    site_id: site.id.clone(),
                    account_id: account.as_str().to_owned(),
                    email: body.email,
                    display_name: body.display_name,
                    role: body.role.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                },
                body.products.as_deref(),
            )?;
            audit(c, AuditEntry {
                site_id: &site.id,
                actor: caller.account_id(),
                action: "site_user.upserted",
                request_id: None,
                details: json!({"account_id": row.account_id, "role": row.role, "products": body.products}),
            })?;
            Ok((site_user(c, row)?, created))
        })
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(user))
}

/// Reads a site user. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/users/{account_id}", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 200, description = "The site user", body = SiteUser), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn get_site_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<web::Json<SiteUser>> {
    let (site_id, account) = path.into_inner();
    let site_id = path_id(&site_id, "the site")?;
    let user = state
        .db
        .run(move |c| {
            let site = administered_site(c, &caller, &site_id)?;
            let account = account_to_read(&account, "the site user")?;
            let row = directory::find_site_user(c, &site.id, account.as_str())?
                .ok_or_else(|| ApiError::not_found("the site user"))?;
            site_user(c, row)
        })
        .await?;
    Ok(web::Json(user))
}

/// Removes a user from the site, with their products. Site admins and org admins.
#[utoipa::path(
    delete, path = "/v1/sites/{site_id}/users/{account_id}", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "Removed"), Unauthorized, Forbidden, NotFound, Unavailable),
    security(("bearer" = []))
)]
pub async fn delete_site_user(
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
            let account = account_to_read(&account, "the site user")?;
            if !directory::delete_site_user(c, &site.id, account.as_str())? {
                return Err(ApiError::not_found("the site user"));
            }
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: caller.account_id(),
                    action: "site_user.deleted",
                    request_id: None,
                    details: json!({"account_id": account.as_str()}),
                },
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A site the caller administers, with how many requests wait for a decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSite {
    pub site: Site,
    pub pending_requests: i64,
}

/// The sites the caller administers, as site admin or org admin, by name: the "pick a site" step.
#[utoipa::path(
    get, path = "/v1/me/admin-sites", tag = "me",
    responses((status = 200, description = "The sites; empty for a caller who administers none", body = Vec<AdminSite>), Unauthorized, Unavailable),
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
            .map(|(site, pending_requests)| AdminSite {
                site: site.into(),
                pending_requests,
            })
            .collect(),
    ))
}
