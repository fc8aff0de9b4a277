//! Orgs, sites, products, site users, org admins, blocks and site settings.

use std::collections::HashSet;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::models::*;
use super::schema::*;
use super::{now_micros, DbConnection};
use crate::domain::{Access, SiteRole};
use crate::error::{ApiError, ApiResult};

pub fn insert_org(conn: &mut DbConnection, row: &OrgRow) -> ApiResult<()> {
    diesel::insert_into(orgs::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_org(conn: &mut DbConnection, org_id: &str) -> ApiResult<OrgRow> {
    orgs::table
        .find(org_id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("the organization"))
}

pub fn is_org_admin(conn: &mut DbConnection, org_id: &str, account_id: &str) -> ApiResult<bool> {
    let found = org_admins::table
        .find((org_id, account_id))
        .select(org_admins::account_id)
        .first::<String>(conn)
        .optional()?;
    Ok(found.is_some())
}

pub fn add_org_admin(conn: &mut DbConnection, org_id: &str, account_id: &str) -> ApiResult<()> {
    if !is_org_admin(conn, org_id, account_id)? {
        diesel::insert_into(org_admins::table)
            .values((
                org_admins::org_id.eq(org_id),
                org_admins::account_id.eq(account_id),
                org_admins::created_at.eq(now_micros()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn remove_org_admin(conn: &mut DbConnection, org_id: &str, account_id: &str) -> ApiResult<()> {
    diesel::delete(org_admins::table.find((org_id, account_id))).execute(conn)?;
    Ok(())
}

pub fn insert_site(conn: &mut DbConnection, row: &SiteRow) -> ApiResult<()> {
    diesel::insert_into(sites::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_site(conn: &mut DbConnection, site_id: &str) -> ApiResult<SiteRow> {
    sites::table
        .find(site_id)
        .select(SiteRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("the site"))
}

/// What `account_id` may do on `site`, from the directory.
pub fn access(conn: &mut DbConnection, site: &SiteRow, account_id: &str) -> ApiResult<Access> {
    let site_role = site_users::table
        .find((&site.id, account_id))
        .select(site_users::role)
        .first::<String>(conn)
        .optional()?
        .and_then(|role| role.parse::<SiteRole>().ok());
    Ok(Access {
        org_admin: is_org_admin(conn, &site.org_id, account_id)?,
        site_role,
    })
}

/// Loads a site and the caller's access to it; an unknown site is `404`.
pub fn site_access(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<(SiteRow, Access)> {
    let site = find_site(conn, site_id)?;
    let access = access(conn, &site, account_id)?;
    Ok((site, access))
}

pub fn set_opted_out(conn: &mut DbConnection, site_id: &str, opted_out: bool) -> ApiResult<SiteRow> {
    diesel::update(sites::table.find(site_id))
        .set(sites::opted_out.eq(opted_out))
        .execute(conn)?;
    find_site(conn, site_id)
}

pub fn set_in_rollout(conn: &mut DbConnection, site_id: &str, in_rollout: bool) -> ApiResult<SiteRow> {
    diesel::update(sites::table.find(site_id))
        .set(sites::in_rollout.eq(in_rollout))
        .execute(conn)?;
    find_site(conn, site_id)
}

/// Creates or replaces a product; `true` when it was created.
pub fn put_product(conn: &mut DbConnection, row: &ProductRow) -> ApiResult<(ProductRow, bool)> {
    let existing = find_product(conn, &row.site_id, &row.product_key)?;
    let created = existing.is_none();
    if created {
        diesel::insert_into(products::table).values(row).execute(conn)?;
    } else {
        diesel::update(products::table.find((&row.site_id, &row.product_key)))
            .set((
                products::name.eq(&row.name),
                products::default_group.eq(&row.default_group),
                products::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
    }
    let stored = find_product(conn, &row.site_id, &row.product_key)?
        .ok_or_else(|| ApiError::not_found("the product"))?;
    Ok((stored, created))
}

pub fn find_product(
    conn: &mut DbConnection,
    site_id: &str,
    product_key: &str,
) -> ApiResult<Option<ProductRow>> {
    Ok(products::table
        .find((site_id, product_key))
        .select(ProductRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_products(conn: &mut DbConnection, site_id: &str) -> ApiResult<Vec<ProductRow>> {
    Ok(products::table
        .filter(products::site_id.eq(site_id))
        .order(products::product_key.asc())
        .select(ProductRow::as_select())
        .load(conn)?)
}

/// The product keys of `site` among `keys` that do not exist.
pub fn unknown_products(conn: &mut DbConnection, site_id: &str, keys: &[String]) -> ApiResult<Vec<String>> {
    let known: HashSet<String> = products::table
        .filter(products::site_id.eq(site_id))
        .filter(products::product_key.eq_any(keys))
        .select(products::product_key)
        .load(conn)?
        .into_iter()
        .collect();
    Ok(keys.iter().filter(|k| !known.contains(*k)).cloned().collect())
}

pub fn find_site_user(
    conn: &mut DbConnection,
    site_id: &str,
    account_id: &str,
) -> ApiResult<Option<SiteUserRow>> {
    Ok(site_users::table
        .find((site_id, account_id))
        .select(SiteUserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Creates or updates a site user; `true` when created. `products`, when given, replaces their grants.
pub fn put_site_user(
    conn: &mut DbConnection,
    row: &SiteUserRow,
    products: Option<&[String]>,
) -> ApiResult<(SiteUserRow, bool)> {
    let created = find_site_user(conn, &row.site_id, &row.account_id)?.is_none();
    if created {
        diesel::insert_into(site_users::table).values(row).execute(conn)?;
    } else {
        diesel::update(site_users::table.find((&row.site_id, &row.account_id)))
            .set((
                site_users::email.eq(&row.email),
                site_users::display_name.eq(&row.display_name),
                site_users::role.eq(&row.role),
                site_users::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
    }
    if let Some(products) = products {
        diesel::delete(
            product_grants::table
                .filter(product_grants::site_id.eq(&row.site_id))
                .filter(product_grants::account_id.eq(&row.account_id))
                .filter(product_grants::product_key.ne_all(products)),
        )
        .execute(conn)?;
        let held: HashSet<String> = user_products(conn, &row.site_id, &row.account_id)?
            .into_iter()
            .collect();
        for key in products.iter().filter(|k| !held.contains(*k)) {
            grant_product(conn, &row.site_id, &row.account_id, key)?;
        }
    }
    let stored = find_site_user(conn, &row.site_id, &row.account_id)?
        .ok_or_else(|| ApiError::not_found("the site user"))?;
    Ok((stored, created))
}

/// Adds a site user unless there is one; never changes an existing user.
pub fn ensure_site_user(conn: &mut DbConnection, row: &SiteUserRow) -> ApiResult<()> {
    if find_site_user(conn, &row.site_id, &row.account_id)?.is_none() {
        diesel::insert_into(site_users::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// Removes a site user and their grants; `false` when there was none.
pub fn delete_site_user(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<bool> {
    diesel::delete(
        product_grants::table
            .filter(product_grants::site_id.eq(site_id))
            .filter(product_grants::account_id.eq(account_id)),
    )
    .execute(conn)?;
    let removed = diesel::delete(site_users::table.find((site_id, account_id))).execute(conn)?;
    Ok(removed > 0)
}

pub fn user_products(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<Vec<String>> {
    Ok(product_grants::table
        .filter(product_grants::site_id.eq(site_id))
        .filter(product_grants::account_id.eq(account_id))
        .order(product_grants::product_key.asc())
        .select(product_grants::product_key)
        .load(conn)?)
}

pub fn has_product(
    conn: &mut DbConnection,
    site_id: &str,
    account_id: &str,
    product_key: &str,
) -> ApiResult<bool> {
    Ok(product_grants::table
        .find((site_id, account_id, product_key))
        .select(product_grants::product_key)
        .first::<String>(conn)
        .optional()?
        .is_some())
}

pub fn grant_product(
    conn: &mut DbConnection,
    site_id: &str,
    account_id: &str,
    product_key: &str,
) -> ApiResult<()> {
    diesel::insert_into(product_grants::table)
        .values(&GrantRow {
            site_id: site_id.to_owned(),
            account_id: account_id.to_owned(),
            product_key: product_key.to_owned(),
            granted_at: now_micros(),
        })
        .execute(conn)?;
    Ok(())
}

pub fn find_block(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<Option<BlockRow>> {
    Ok(request_blocks::table
        .find((site_id, account_id))
        .select(BlockRow::as_select())
        .first(conn)
        .optional()?)
}

/// Blocks an account unless it is blocked already; `true` when a block was added.
pub fn insert_block(conn: &mut DbConnection, row: &BlockRow) -> ApiResult<bool> {
    if find_block(conn, &row.site_id, &row.account_id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(request_blocks::table)
        .values(row)
        .execute(conn)?;
    Ok(true)
}

pub fn delete_block(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<bool> {
    let removed = diesel::delete(request_blocks::table.find((site_id, account_id))).execute(conn)?;
    Ok(removed > 0)
}

pub fn list_blocks(conn: &mut DbConnection, site_id: &str) -> ApiResult<Vec<BlockRow>> {
    Ok(request_blocks::table
        .filter(request_blocks::site_id.eq(site_id))
        .order((
            request_blocks::created_at.desc(),
            request_blocks::account_id.asc(),
        ))
        .select(BlockRow::as_select())
        .load(conn)?)
}

/// The sites `account_id` administers, as site admin or org admin, with their pending counts.
pub fn admin_sites(conn: &mut DbConnection, account_id: &str) -> ApiResult<Vec<(SiteRow, i64)>> {
    let as_site_admin = site_users::table
        .filter(site_users::account_id.eq(account_id))
        .filter(site_users::role.eq(SiteRole::Admin.as_str()))
        .select(site_users::site_id);
    let as_org_admin = org_admins::table
        .filter(org_admins::account_id.eq(account_id))
        .select(org_admins::org_id);
    let sites: Vec<SiteRow> = sites::table
        .filter(
            sites::id
                .eq_any(as_site_admin)
                .or(sites::org_id.eq_any(as_org_admin)),
        )
        .order((sites::name.asc(), sites::id.asc()))
        .select(SiteRow::as_select())
        .load(conn)?;
    let ids: Vec<&String> = sites.iter().map(|s| &s.id).collect();
    let counts: Vec<(String, i64)> = access_requests::table
        .filter(access_requests::site_id.eq_any(ids))
        .filter(access_requests::status.eq("pending"))
        .group_by(access_requests::site_id)
        .select((access_requests::site_id, count_star()))
        .load(conn)?;
    Ok(sites
        .into_iter()
        .map(|site| {
            let pending = counts
                .iter()
                .find(|(id, _)| *id == site.id)
                .map_or(0, |(_, n)| *n);
            (site, pending)
        })
        .collect())
}
