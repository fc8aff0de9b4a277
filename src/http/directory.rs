//! The directory of a site: its products and its users.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::orgs::string_list_schema;
use super::{account_to_read, account_to_write, path_id, product_to_write, time, validated, JsonObject};
use crate::app::directory::{self as use_case, ProductInput, SiteUserInput};
use crate::auth::Caller;
use crate::domain::SiteRole;
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::models::{ProductRow, SiteUserRow};
use crate::store::{directory, grants, DbConnection};

pub fn configure(cfg: &mut web::ServiceConfig) {
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
    /// The longest a grant of the product may last, in hours; `null`: no maximum.
    pub max_duration_hours: Option<i32>,
    /// How many active grants the product may have; `null`: unlimited.
    pub seat_limit: Option<i64>,
    /// The product's active grants on the site.
    pub seats_used: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Product {
    fn new(row: ProductRow, seats_used: i64) -> Self {
        Product {
            site_id: row.site_id.parse().unwrap_or_default(),
            product_key: row.product_key,
            name: row.name,
            default_group: row.default_group,
            max_duration_hours: row.max_duration_hours,
            seat_limit: row.seat_limit,
            seats_used,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
        }
    }
}

/// The largest seat limit accepted.
const MAX_SEAT_LIMIT: i64 = 1_000_000_000;

/// A product's name, default group, maximum duration and seat limit.
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
    /// The longest a grant may last, in hours (1–87840); left out or `null`: no maximum.
    #[validate(range(min = 1, max = 87840, message = "must be from 1 to 87840 hours"))]
    #[schema(minimum = 1, maximum = 87840)]
    #[serde(default, deserialize_with = "super::optional_whole_number")]
    pub max_duration_hours: Option<i32>,
    /// How many active grants the product may have (0 or more); left out or `null`: unlimited.
    #[validate(range(min = 0, max = 1_000_000_000, message = "must be from 0 to 1000000000"))]
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "super::optional_whole_number")]
    pub seat_limit: Option<i64>,
}

/// Create or replace a product of a site.
///
/// Org admins. `max_duration_hours` caps how long a grant of the product may last: a request
/// asking for more is refused, and an approval without an end gets the maximum. `seat_limit`
/// caps the product's active grants: an approval that would exceed it answers `409
/// seat_limit_reached`. `null` or absent means no limit.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/products/{product_key}", operation_id = "upsert_product", tag = "directory",
    params(("site_id" = Uuid, Path), ("product_key" = String, Path, pattern = "^[a-z][a-z0-9-]{1,63}$")),
    request_body = PutProduct,
    responses(
        (status = 200, description = "Replaced", body = Product),
        (status = 201, description = "Created", body = Product)
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
        .run(move |c| {
            let key = product_to_write(&key)?;
            let body = validated(body)?;
            let input = ProductInput {
                name: body.name,
                default_group: body.default_group,
                max_duration_hours: body.max_duration_hours,
                seat_limit: body.seat_limit.map(|l| l.min(MAX_SEAT_LIMIT)),
            };
            let (product, created) = use_case::put_product(c, &caller, &site_id, &key, input)?;
            let used = grants::seats_used(c, &product.site_id, &product.product_key)?;
            Ok((Product::new(product, used), created))
        })
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(product))
}

/// List the products of a site.
///
/// Any authenticated caller: the "Request access" page needs them. Each product comes with its
/// seats in use.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/products", operation_id = "list_products", tag = "directory",
    params(("site_id" = Uuid, Path)),
    responses((status = 200, description = "The products, by key", body = Vec<Product>)),
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
            let seats = grants::seats_by_product(c, &site_id)?;
            Ok(directory::list_products(c, &site_id)?
                .into_iter()
                .map(|p| {
                    let used = seats
                        .iter()
                        .find(|(k, _)| *k == p.product_key)
                        .map_or(0, |(_, n)| *n);
                    Product::new(p, used)
                })
                .collect())
        })
        .await?;
    Ok(web::Json(products))
}

/// A user of a site.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteUser {
    pub site_id: Uuid,
    pub account_id: String,
    pub email: String,
    pub display_name: Option<String>,
    pub role: SiteRole,
    /// The keys of the products the user has: those of their active grants.
    pub products: Vec<String>,
    /// Whether the account may no longer request access on this site.
    pub blocked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

fn site_user(conn: &mut DbConnection, row: SiteUserRow) -> ApiResult<SiteUser> {
    let products = grants::products_of(conn, &row.site_id, &row.account_id)?;
    let blocked = directory::find_block(conn, &row.site_id, &row.account_id)?.is_some();
    Ok(SiteUser {
        site_id: row.site_id.parse().unwrap_or_default(),
        account_id: row.account_id,
        email: row.email,
        display_name: row.display_name,
        role: row.role.parse().unwrap_or(SiteRole::Member),
        products,
        blocked,
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
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
        "When given, exactly these products afterwards: new ones start silently (directory sync); dropped ones end, with the end webhooks for grants from requests.",
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
    /// When given, exactly these products afterwards: new ones start silently (directory sync); dropped ones end, with the end webhooks for grants from requests.
    #[validate(
        length(max = 200, message = "at most 200 products"),
        custom(function = "valid_product_keys")
    )]
    #[schema(schema_with = site_user_products_schema)]
    pub products: Option<Vec<String>>,
}

/// Create or update a site user (directory sync).
///
/// Site admins and org admins. With `products`, the user holds exactly those afterwards: new
/// ones start as `directory` grants without webhooks (never refused by a seat limit, but
/// counted); dropped ones end as `revoked`, with `group.member.remove` and `billing.seat.end`
/// for grants that came from requests. Without `products`, the user's products stay as they
/// are.
#[utoipa::path(
    put, path = "/v1/sites/{site_id}/users/{account_id}", operation_id = "upsert_site_user", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    request_body = PutSiteUser,
    responses(
        (status = 200, description = "Updated", body = SiteUser),
        (status = 201, description = "Created", body = SiteUser)
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
    let settings = state.settings.clone();
    let (user, created) = state
        .db
        .run(move |c| {
            // The site and the caller's role first: an unknown site is 404 whatever the body says.
            crate::app::access::administered_site(c, &caller, &site_id)?;
            let account = account_to_write(&account)?;
            let body = validated(body)?;
            let input = SiteUserInput {
                email: body.email,
                display_name: body.display_name,
                role: body.role,
                products: body.products,
            };
            let (row, created) = use_case::put_site_user(c, &settings, &caller, &site_id, &account, input)?;
            Ok((site_user(c, row)?, created))
        })
        .await?;
    state.outbox_notify.notify_one();
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(user))
}

/// Read a site user.
///
/// Site admins and org admins. `products` are the products of the user's active grants.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/users/{account_id}", operation_id = "get_site_user", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 200, description = "The site user", body = SiteUser)),
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
            let account = account_to_read(&account, "the site user")?;
            let row = use_case::get_site_user(c, &caller, &site_id, &account)?;
            site_user(c, row)
        })
        .await?;
    Ok(web::Json(user))
}

/// Remove a user from a site.
///
/// Site admins and org admins. Every active grant of the user ends in the same transaction
/// (`status: revoked`, `end_reason: user_removed`), with the end webhooks for grants from
/// requests.
#[utoipa::path(
    delete, path = "/v1/sites/{site_id}/users/{account_id}", operation_id = "remove_site_user", tag = "directory",
    params(("site_id" = Uuid, Path), ("account_id" = String, Path, description = "Atlassian account id", min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9:_-]{1,128}$")),
    responses((status = 204, description = "Removed")),
    security(("bearer" = []))
)]
pub async fn delete_site_user(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (site_id, account) = path.into_inner();
    let site_id = path_id(&site_id, "the site")?;
    let settings = state.settings.clone();
    state
        .db
        .run(move |c| {
            let account = account_to_read(&account, "the site user")?;
            use_case::delete_site_user(c, &settings, &caller, &site_id, &account)
        })
        .await?;
    state.outbox_notify.notify_one();
    Ok(HttpResponse::NoContent().finish())
}
