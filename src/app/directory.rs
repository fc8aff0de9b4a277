//! The directory: orgs, org admins, sites, products and site users (directory sync), and the
//! grants a site user's `products` start and end.

use serde_json::json;
use uuid::Uuid;

use super::access::{administered_org, administered_site, org_administered_site};
use super::grants::{end_grant, start_grant, NewGrant};
use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::{starts_in_rollout, AccountId, EndReason, ProductKey, SiteRole};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{OrgRow, ProductRow, SiteRow, SiteUserRow};
use crate::store::records::{audit, AuditEntry};
use crate::store::{directory, grants, now_micros, transaction, DbConnection};

/// Creates an organization: platform admins only.
pub fn create_org(
    c: &mut DbConnection,
    caller: &Caller,
    name: String,
    domains: Vec<String>,
) -> ApiResult<OrgRow> {
    caller.require_platform_admin()?;
    let mut domains: Vec<String> = domains.into_iter().map(|d| d.to_ascii_lowercase()).collect();
    domains.sort();
    domains.dedup();
    let row = OrgRow {
        id: Uuid::new_v4().to_string(),
        name,
        verified_domains: json!(domains).to_string(),
        created_at: now_micros(),
    };
    directory::insert_org(c, &row)?;
    Ok(row)
}

/// Reads an organization: its org admins and platform admins.
pub fn get_org(c: &mut DbConnection, caller: &Caller, org_id: &str) -> ApiResult<OrgRow> {
    administered_org(c, caller, org_id)
}

/// Makes an account an admin of the organization (idempotent).
pub fn add_org_admin(
    c: &mut DbConnection,
    caller: &Caller,
    org_id: &str,
    account: &AccountId,
) -> ApiResult<()> {
    transaction(c, |c| {
        administered_org(c, caller, org_id)?;
        directory::add_org_admin(c, org_id, account.as_str())
    })
}

/// Removes an org admin (idempotent).
pub fn remove_org_admin(
    c: &mut DbConnection,
    caller: &Caller,
    org_id: &str,
    account: &AccountId,
) -> ApiResult<()> {
    transaction(c, |c| {
        administered_org(c, caller, org_id)?;
        directory::remove_org_admin(c, org_id, account.as_str())
    })
}

/// Creates a site of the organization; it joins the rollout by `ROLLOUT_PERCENT`. Org admins.
pub fn create_site(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    org_id: &str,
    name: String,
    url: String,
) -> ApiResult<SiteRow> {
    transaction(c, |c| {
        directory::find_org(c, org_id)?;
        if !directory::is_org_admin(c, org_id, caller.account_id())? {
            return Err(ApiError::forbidden(
                "only admins of this organization may create sites",
            ));
        }
        let id = Uuid::new_v4().to_string();
        let row = SiteRow {
            in_rollout: starts_in_rollout(&id, settings.rollout_percent),
            opted_out: false,
            id,
            org_id: org_id.to_owned(),
            name,
            url,
            created_at: now_micros(),
            pending_ttl_hours: None,
        };
        directory::insert_site(c, &row)?;
        Ok(row)
    })
}

/// A product as an org admin writes it.
pub struct ProductInput {
    pub name: String,
    pub default_group: String,
    pub max_duration_hours: Option<i32>,
    pub seat_limit: Option<i64>,
}

/// Creates or replaces a product of the site; `true` when created. Org admins.
pub fn put_product(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    key: &ProductKey,
    input: ProductInput,
) -> ApiResult<(ProductRow, bool)> {
    transaction(c, |c| {
        let site = org_administered_site(c, caller, site_id)?;
        let now = now_micros();
        let (product, created) = directory::put_product(
            c,
            &ProductRow {
                site_id: site.id.clone(),
                product_key: key.as_str().to_owned(),
                name: input.name,
                default_group: input.default_group,
                created_at: now,
                updated_at: now,
                max_duration_hours: input.max_duration_hours,
                seat_limit: input.seat_limit,
            },
        )?;
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "product.upserted",
                request_id: None,
                details: json!({
                    "product_key": product.product_key,
                    "name": product.name,
                    "default_group": product.default_group,
                    "max_duration_hours": product.max_duration_hours,
                    "seat_limit": product.seat_limit,
                }),
            },
        )?;
        Ok((product, created))
    })
}

/// A site user as the directory (or its sync job) knows them.
pub struct SiteUserInput {
    pub email: String,
    pub display_name: Option<String>,
    pub role: SiteRole,
    /// When given, exactly the products the user holds afterwards.
    pub products: Option<Vec<String>>,
}

/// Creates or updates a site user; `true` when created. With `products`, the user holds exactly
/// those afterwards: new ones start as `directory` grants (silently, never refused by a seat
/// limit but counted), dropped ones end as revoked, with the end webhooks for a grant that
/// began from a request. Site admins and org admins.
pub fn put_site_user(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    account: &AccountId,
    input: SiteUserInput,
) -> ApiResult<(SiteUserRow, bool)> {
    super::retrying(|| {
        transaction(c, |c| {
            let site = administered_site(c, caller, site_id)?;
            let wanted = match &input.products {
                Some(keys) => {
                    let mut keys = keys.clone();
                    keys.sort();
                    keys.dedup();
                    let known = directory::products_among(c, &site.id, &keys)?;
                    let unknown = directory::missing_keys(&keys, &known);
                    if !unknown.is_empty() {
                        return Err(ApiError::Unprocessable {
                            code: "unknown_product",
                            detail: format!("the site has no product {}", unknown.join(", ")),
                        });
                    }
                    Some(known)
                }
                None => None,
            };
            let now = now_micros();
            let (row, created) = directory::put_site_user(
                c,
                &SiteUserRow {
                    site_id: site.id.clone(),
                    account_id: account.as_str().to_owned(),
                    email: input.email.clone(),
                    display_name: input.display_name.clone(),
                    role: input.role.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                    email_verified: true,
                },
            )?;
            if let Some(wanted) = &wanted {
                sync_products(c, settings, caller, &site, account.as_str(), wanted)?;
            }
            audit(
                c,
                AuditEntry {
                    site_id: &site.id,
                    actor: Some(caller.account_id()),
                    action: "site_user.upserted",
                    request_id: None,
                    details: json!({"account_id": row.account_id, "role": row.role, "products": input.products}),
                },
            )?;
            Ok((row, created))
        })
    })
}

/// Makes `wanted` the products of the user's active grants.
fn sync_products(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site: &SiteRow,
    account_id: &str,
    wanted: &[ProductRow],
) -> ApiResult<()> {
    let held = grants::active_of(c, &site.id, account_id)?;
    for grant in held
        .iter()
        .filter(|g| !wanted.iter().any(|p| p.product_key == g.product_key))
    {
        end_grant(
            c,
            settings,
            site,
            grant,
            EndReason::Revoked,
            Some(caller.account_id()),
            None,
        )?;
    }
    let now = now_micros();
    for product in wanted
        .iter()
        .filter(|p| !held.iter().any(|g| g.product_key == p.product_key))
    {
        start_grant(
            c,
            &site.id,
            product.into(),
            NewGrant {
                id: Uuid::new_v4().to_string(),
                account_id,
                request_id: None,
                granted_by: Some(caller.account_id()),
                granted_at: now,
                expires_at: None,
            },
        )?;
    }
    Ok(())
}

/// Reads a site user. Site admins and org admins.
pub fn get_site_user(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    account: &AccountId,
) -> ApiResult<SiteUserRow> {
    let site = administered_site(c, caller, site_id)?;
    directory::find_site_user(c, &site.id, account.as_str())?
        .ok_or_else(|| ApiError::not_found("the site user"))
}

/// Removes a user from the site: each of their active grants ends (`revoked`, reason
/// `user_removed`, with the end webhooks for grants from requests), in the same transaction.
pub fn delete_site_user(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    account: &AccountId,
) -> ApiResult<()> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        if directory::find_site_user(c, &site.id, account.as_str())?.is_none() {
            return Err(ApiError::not_found("the site user"));
        }
        for grant in grants::active_of(c, &site.id, account.as_str())? {
            end_grant(
                c,
                settings,
                &site,
                &grant,
                EndReason::UserRemoved,
                Some(caller.account_id()),
                None,
            )?;
        }
        directory::delete_site_user(c, &site.id, account.as_str())?;
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "site_user.deleted",
                request_id: None,
                details: json!({"account_id": account.as_str()}),
            },
        )
    })
}
