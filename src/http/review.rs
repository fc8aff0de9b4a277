//! The review view: a request with everything the service knows about its people and product.

use actix_web::web;
use serde::Serialize;
use utoipa::ToSchema;

use super::request_types::AccessRequest;
use super::requests::request_ids;
use crate::app::access::administered_site;
use crate::app::decide::find_request;
use crate::auth::Caller;
use crate::domain::{email_domain_verified, RequestKind, RequestStatus, SiteRole};
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::models::{ProductRow, SiteRow};
use crate::store::{directory, grants, requests, DbConnection};

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
    /// `true` when the email was proven (the person's own token, or the directory); `false` for
    /// an email the requester typed for someone else.
    pub email_verified: bool,
    pub display_name: Option<String>,
    /// Whether the person is a user of the site now.
    pub on_site: bool,
    /// Their role on the site now, if they are a user of it.
    pub role: Option<SiteRole>,
    /// The products they have on the site now.
    pub products: Vec<String>,
    /// Whether they are blocked from requesting access on this site.
    pub blocked: bool,
    /// Whether their email is verified and its domain is verified by the site's organization.
    pub email_domain_verified_by_org: bool,
    /// Their other requests on this site as subject (this one excluded).
    pub previous_requests: RequestHistory,
}

/// The product asked for, with its seats and maximum duration.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewProduct {
    #[schema(example = "jira-software")]
    pub product_key: String,
    pub name: String,
    /// How many active grants the product may have; `null`: unlimited.
    pub seat_limit: Option<i64>,
    /// Active grants of the product on the site.
    pub seats_used: i64,
    /// The longest a grant of the product may last; `null`: no maximum.
    pub max_duration_hours: Option<i32>,
}

/// A request with the profiles of the people in it and its product.
#[derive(Debug, Serialize, ToSchema)]
pub struct Review {
    pub request: AccessRequest,
    pub requester: Profile,
    pub subject: Profile,
    pub product: ReviewProduct,
}

struct Known<'a> {
    account_id: &'a str,
    email: Option<&'a str>,
    display_name: Option<&'a str>,
    email_verified: bool,
}

fn profile(
    c: &mut DbConnection,
    site: &SiteRow,
    domains: &[String],
    request_id: &str,
    known: Known<'_>,
) -> ApiResult<Profile> {
    let user = directory::find_site_user(c, &site.id, known.account_id)?;
    let products = match &user {
        Some(_) => grants::products_of(c, &site.id, known.account_id)?,
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
    // A site user's email is as trusted as the directory's record of it; a typed one only
    // says what was typed.
    let (email, email_verified) = match &user {
        Some(u) => (Some(u.email.clone()), u.email_verified),
        None => (known.email.map(str::to_owned), known.email_verified),
    };
    Ok(Profile {
        account_id: known.account_id.to_owned(),
        email_domain_verified_by_org: email_verified
            && email
                .as_deref()
                .is_some_and(|e| email_domain_verified(e, domains)),
        email,
        email_verified,
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

fn review_product(c: &mut DbConnection, product: ProductRow) -> ApiResult<ReviewProduct> {
    Ok(ReviewProduct {
        seats_used: grants::seats_used(c, &product.site_id, &product.product_key)?,
        product_key: product.product_key,
        name: product.name,
        seat_limit: product.seat_limit,
        max_duration_hours: product.max_duration_hours,
    })
}

/// Review an access request.
///
/// The request with everything the service knows about its requester and subject (site role,
/// products, block, whether the email is verified and its domain is the organization's, earlier
/// requests) and its product's seats and maximum duration. Site admins and org admins.
#[utoipa::path(
    get, path = "/v1/sites/{site_id}/access-requests/{request_id}/review", operation_id = "review_access_request", tag = "access-requests",
    params(("site_id" = Uuid, Path), ("request_id" = Uuid, Path)),
    responses((status = 200, description = "The review", body = Review)),
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
            let row = find_request(c, &site.id, &request_id)?;
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
                    email_verified: true,
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
                    email_verified: is_self || row.subject_email_verified,
                },
            )?;
            let product = directory::find_product(c, &site.id, &row.product_key)?
                .ok_or_else(|| crate::error::ApiError::not_found("the product"))?;
            Ok(Review {
                product: review_product(c, product)?,
                request: row.into(),
                requester,
                subject,
            })
        })
        .await?;
    Ok(web::Json(review))
}
