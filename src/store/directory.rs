//! Orgs, sites, products, site users, org admins, blocks and site settings.

use std::collections::HashSet;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::models::*;
use super::schema::*;
use super::{now_micros, on_backend, DbConnection};
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

/// Makes an account an org admin; a concurrent or repeated call changes nothing.
pub fn add_org_admin(conn: &mut DbConnection, org_id: &str, account_id: &str) -> ApiResult<()> {
    let values = (
        org_admins::org_id.eq(org_id),
        org_admins::account_id.eq(account_id),
        org_admins::created_at.eq(now_micros()),
    );
    on_backend!(conn, |c| diesel::insert_into(org_admins::table)
        .values(values)
        .on_conflict_do_nothing()
        .execute(c))?;
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

/// Loads a site and what `account_id` may do on it, in one query; an unknown site is `404`.
pub fn site_access(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<(SiteRow, Access)> {
    let account_id = account_id.to_owned();
    let (site, role, org_admin) = sites::table
        .left_join(
            site_users::table.on(site_users::site_id
                .eq(sites::id)
                .and(site_users::account_id.eq(account_id.clone()))),
        )
        .left_join(
            org_admins::table.on(org_admins::org_id
                .eq(sites::org_id)
                .and(org_admins::account_id.eq(account_id))),
        )
        .filter(sites::id.eq(site_id))
        .select((
            SiteRow::as_select(),
            site_users::role.nullable(),
            org_admins::account_id.nullable(),
        ))
        .first::<(SiteRow, Option<String>, Option<String>)>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("the site"))?;
    let access = Access {
        org_admin: org_admin.is_some(),
        site_role: role.and_then(|r| r.parse::<SiteRole>().ok()),
    };
    Ok((site, access))
}

/// The site's external-request switches and pending-request lifetime.
pub struct SiteSettings {
    pub opted_out: Option<bool>,
    pub in_rollout: Option<bool>,
    /// `Some(None)` goes back to the service default.
    pub pending_ttl_hours: Option<Option<i32>>,
}

pub fn update_settings(conn: &mut DbConnection, site_id: &str, change: &SiteSettings) -> ApiResult<SiteRow> {
    if let Some(opted_out) = change.opted_out {
        diesel::update(sites::table.find(site_id))
            .set(sites::opted_out.eq(opted_out))
            .execute(conn)?;
    }
    if let Some(in_rollout) = change.in_rollout {
        diesel::update(sites::table.find(site_id))
            .set(sites::in_rollout.eq(in_rollout))
            .execute(conn)?;
    }
    if let Some(ttl) = change.pending_ttl_hours {
        diesel::update(sites::table.find(site_id))
            .set(sites::pending_ttl_hours.eq(ttl))
            .execute(conn)?;
    }
    find_site(conn, site_id)
}

/// Creates or replaces a product; `true` when it was created. Race-free: of concurrent
/// creators one inserts and the others replace.
pub fn put_product(conn: &mut DbConnection, row: &ProductRow) -> ApiResult<(ProductRow, bool)> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(products::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    let created = inserted == 1;
    if !created {
        diesel::update(products::table.find((&row.site_id, &row.product_key)))
            .set((
                products::name.eq(&row.name),
                products::default_group.eq(&row.default_group),
                products::max_duration_hours.eq(row.max_duration_hours),
                products::seat_limit.eq(row.seat_limit),
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

/// The products of the site among `keys`, by key.
pub fn products_among(conn: &mut DbConnection, site_id: &str, keys: &[String]) -> ApiResult<Vec<ProductRow>> {
    Ok(products::table
        .filter(products::site_id.eq(site_id))
        .filter(products::product_key.eq_any(keys))
        .order(products::product_key.asc())
        .select(ProductRow::as_select())
        .load(conn)?)
}

/// The keys among `keys` that `known` does not hold.
pub fn missing_keys(keys: &[String], known: &[ProductRow]) -> Vec<String> {
    let known: HashSet<&str> = known.iter().map(|p| p.product_key.as_str()).collect();
    keys.iter()
        .filter(|k| !known.contains(k.as_str()))
        .cloned()
        .collect()
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

/// Creates or updates a site user's email, name and role; `true` when created. Race-free:
/// of concurrent writers one inserts and the others update.
pub fn put_site_user(conn: &mut DbConnection, row: &SiteUserRow) -> ApiResult<(SiteUserRow, bool)> {
    let created = ensure_site_user(conn, row)?;
    if !created {
        diesel::update(site_users::table.find((&row.site_id, &row.account_id)))
            .set((
                site_users::email.eq(&row.email),
                site_users::display_name.eq(&row.display_name),
                site_users::role.eq(&row.role),
                site_users::updated_at.eq(row.updated_at),
                site_users::email_verified.eq(row.email_verified),
            ))
            .execute(conn)?;
    }
    let stored = find_site_user(conn, &row.site_id, &row.account_id)?
        .ok_or_else(|| ApiError::not_found("the site user"))?;
    Ok((stored, created))
}

/// Adds a site user unless there is one (never changing an existing user); `true` when added.
pub fn ensure_site_user(conn: &mut DbConnection, row: &SiteUserRow) -> ApiResult<bool> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(site_users::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

/// Removes a site user; `false` when there was none.
pub fn delete_site_user(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<bool> {
    let removed = diesel::delete(site_users::table.find((site_id, account_id))).execute(conn)?;
    Ok(removed > 0)
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
    let inserted = on_backend!(conn, |c| diesel::insert_into(request_blocks::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
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

/// A site its caller administers, with its pending requests.
#[derive(QueryableByName)]
pub struct AdminSiteRow {
    #[diesel(embed)]
    pub site: SiteRow,
    #[diesel(sql_type = BigInt)]
    pub pending_requests: i64,
}

/// The sites one account administers, driven by the indexes on its site roles and org
/// memberships (never a scan of every site), with one parameter whatever their number.
const ADMIN_SITES: &str = "SELECT s.id, s.org_id, s.name, s.url, s.in_rollout, s.opted_out, s.created_at, \
            s.pending_ttl_hours, \
            (SELECT count(*) FROM access_requests r WHERE r.site_id = s.id AND r.status = 'pending') \
              AS pending_requests \
       FROM sites s \
      WHERE s.id IN (SELECT u.site_id FROM site_users u WHERE u.account_id = $1 AND u.role = 'admin' \
                     UNION \
                     SELECT o_site.id FROM org_admins o JOIN sites o_site ON o_site.org_id = o.org_id \
                      WHERE o.account_id = $1) \
      ORDER BY s.name, s.id";

/// The sites `account_id` administers, as site admin or org admin, with their pending counts.
pub fn admin_sites(conn: &mut DbConnection, account_id: &str) -> ApiResult<Vec<AdminSiteRow>> {
    Ok(on_backend!(conn, |c| diesel::sql_query(ADMIN_SITES)
        .bind::<Text, _>(account_id)
        .load::<AdminSiteRow>(c))?)
}

/// Takes the requester's lock row until the transaction ends (creating it on first use):
/// concurrent creations by one account, on any instance, then count their limits in turn.
pub fn lock_requester(conn: &mut DbConnection, account_id: &str, now: i64) -> ApiResult<()> {
    let values = (
        requester_locks::account_id.eq(account_id),
        requester_locks::touched_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(requester_locks::table)
        .values(values)
        .on_conflict(requester_locks::account_id)
        .do_update()
        .set(requester_locks::touched_at.eq(now))
        .execute(c))?;
    Ok(())
}
