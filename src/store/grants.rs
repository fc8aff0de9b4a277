//! Grants: one person's access to one product on one site, from its start to its end.

use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::cursor::after_cursor;
use super::models::GrantRow;
use super::schema::{grants as g, products};
use super::{on_backend, Cursor, DbConnection, Page};
use crate::domain::{EndReason, GrantSource, GrantStatus};
use crate::error::ApiResult;

const ACTIVE: &str = "active";

/// The filters of the site's grant list; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct GrantFilter {
    pub product_key: Option<String>,
    pub account_id: Option<String>,
    pub status: Option<GrantStatus>,
    /// Only grants that end before this time.
    pub expiring_before: Option<i64>,
}

pub fn insert(conn: &mut DbConnection, row: &GrantRow) -> ApiResult<()> {
    diesel::insert_into(g::table).values(row).execute(conn)?;
    Ok(())
}

/// A grant of `site_id`; a grant of another site is not found.
pub fn find(conn: &mut DbConnection, site_id: &str, id: &str) -> ApiResult<Option<GrantRow>> {
    Ok(g::table
        .filter(g::id.eq(id))
        .filter(g::site_id.eq(site_id))
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

/// The active grant of `product_key` to `account_id` on the site, if any.
pub fn active_for(
    conn: &mut DbConnection,
    site_id: &str,
    account_id: &str,
    product_key: &str,
) -> ApiResult<Option<GrantRow>> {
    Ok(g::table
        .filter(g::site_id.eq(site_id))
        .filter(g::account_id.eq(account_id))
        .filter(g::product_key.eq(product_key))
        .filter(g::status.eq(ACTIVE))
        .select(GrantRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every active grant of a site user, by product key.
pub fn active_of(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<Vec<GrantRow>> {
    Ok(g::table
        .filter(g::site_id.eq(site_id))
        .filter(g::account_id.eq(account_id))
        .filter(g::status.eq(ACTIVE))
        .order(g::product_key.asc())
        .select(GrantRow::as_select())
        .load(conn)?)
}

/// The products a site user holds now: those of their active grants.
pub fn products_of(conn: &mut DbConnection, site_id: &str, account_id: &str) -> ApiResult<Vec<String>> {
    Ok(g::table
        .filter(g::site_id.eq(site_id))
        .filter(g::account_id.eq(account_id))
        .filter(g::status.eq(ACTIVE))
        .order(g::product_key.asc())
        .select(g::product_key)
        .load(conn)?)
}

/// How many seats of the product are taken: its active grants on the site.
pub fn seats_used(conn: &mut DbConnection, site_id: &str, product_key: &str) -> ApiResult<i64> {
    Ok(g::table
        .filter(g::site_id.eq(site_id))
        .filter(g::product_key.eq(product_key))
        .filter(g::status.eq(ACTIVE))
        .select(count_star())
        .first(conn)?)
}

/// Seats taken per product of the site (products without active grants are absent).
pub fn seats_by_product(conn: &mut DbConnection, site_id: &str) -> ApiResult<Vec<(String, i64)>> {
    Ok(g::table
        .filter(g::site_id.eq(site_id))
        .filter(g::status.eq(ACTIVE))
        .group_by(g::product_key)
        .select((g::product_key, count_star()))
        .load(conn)?)
}

/// Takes the product's row lock until the transaction ends, so that concurrent approvals of
/// a product with a seat limit count its seats one after the other (on every instance). SQLite
/// needs nothing: its write transactions already run one at a time.
pub fn lock_product(conn: &mut DbConnection, site_id: &str, product_key: &str) -> ApiResult<()> {
    if let DbConnection::Pg(c) = conn {
        products::table
            .find((site_id, product_key))
            .select(products::product_key)
            .for_update()
            .first::<String>(c)?;
    }
    Ok(())
}

pub fn list(
    conn: &mut DbConnection,
    site_id: &str,
    filter: &GrantFilter,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<GrantRow>> {
    let mut query = g::table.filter(g::site_id.eq(site_id.to_owned())).into_boxed();
    if let Some(product_key) = &filter.product_key {
        query = query.filter(g::product_key.eq(product_key.clone()));
    }
    if let Some(account_id) = &filter.account_id {
        query = query.filter(g::account_id.eq(account_id.clone()));
    }
    if let Some(status) = filter.status {
        query = query.filter(g::status.eq(status.as_str()));
    }
    if let Some(before) = filter.expiring_before {
        query = query.filter(g::expires_at.lt(before));
    }
    let query = after_cursor!(query, "grants.granted_at", "grants.id", cursor);
    let rows = query
        .order((g::granted_at.desc(), g::id.desc()))
        .limit(limit + 1)
        .select(GrantRow::as_select())
        .load(conn)?;
    Ok(Page::from_rows(rows, limit, |r| Cursor {
        at: r.granted_at,
        id: r.id.clone(),
    }))
}

/// How a grant ends.
pub struct Ending<'a> {
    pub status: GrantStatus,
    pub reason: EndReason,
    pub at: i64,
    pub by: Option<&'a str>,
}

/// Ends a grant that is still active, returning it as ended; `None` when it was not active
/// any more (a concurrent ending won).
pub fn end(conn: &mut DbConnection, grant_id: &str, ending: &Ending<'_>) -> ApiResult<Option<GrantRow>> {
    let target = g::table.filter(g::id.eq(grant_id)).filter(g::status.eq(ACTIVE));
    let values = (
        g::status.eq(ending.status.as_str()),
        g::end_reason.eq(ending.reason.as_str()),
        g::ended_at.eq(ending.at),
        g::ended_by.eq(ending.by),
        g::version.eq(g::version + 1),
    );
    Ok(on_backend!(conn, |c| diesel::update(target)
        .set(values)
        .returning(GrantRow::as_returning())
        .get_result(c)
        .optional())?)
}

/// Sets or removes the end of an active grant at `version`; `None` when it is no longer active
/// at that version.
pub fn set_expiry(
    conn: &mut DbConnection,
    grant: &GrantRow,
    expires_at: Option<i64>,
) -> ApiResult<Option<GrantRow>> {
    let target = g::table
        .filter(g::id.eq(&grant.id))
        .filter(g::status.eq(ACTIVE))
        .filter(g::version.eq(grant.version));
    let values = (g::expires_at.eq(expires_at), g::version.eq(grant.version + 1));
    Ok(on_backend!(conn, |c| diesel::update(target)
        .set(values)
        .returning(GrantRow::as_returning())
        .get_result(c)
        .optional())?)
}

/// The active grant that ended soonest before `now`, locked for this transaction; other
/// instances skip it (`SKIP LOCKED`) and take the next one, so each grant is ended once.
pub fn claim_expired(conn: &mut DbConnection, now: i64) -> ApiResult<Option<GrantRow>> {
    // A macro, not a value: the selection's backend is fixed where it is used.
    macro_rules! due {
        () => {
            g::table
                .filter(g::status.eq(ACTIVE))
                .filter(g::expires_at.is_not_null())
                .filter(g::expires_at.le(now))
                .order(g::expires_at.asc())
                .select(GrantRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => due!().for_update().skip_locked().first(c).optional()?,
        DbConnection::Sqlite(c) => due!().first(c).optional()?,
    })
}

/// An active grant from a request that ends before `until` and has not been warned about,
/// locked for this transaction like [`claim_expired`].
pub fn claim_unwarned(conn: &mut DbConnection, until: i64) -> ApiResult<Option<GrantRow>> {
    // A macro, not a value: the selection's backend is fixed where it is used.
    macro_rules! due {
        () => {
            g::table
                .filter(g::status.eq(ACTIVE))
                .filter(g::warned_at.is_null())
                .filter(g::expires_at.is_not_null())
                .filter(g::source.eq(GrantSource::Request.as_str()))
                .filter(g::expires_at.le(until))
                .order(g::expires_at.asc())
                .select(GrantRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => due!().for_update().skip_locked().first(c).optional()?,
        DbConnection::Sqlite(c) => due!().first(c).optional()?,
    })
}

pub fn mark_warned(conn: &mut DbConnection, grant_id: &str, at: i64) -> ApiResult<()> {
    diesel::update(g::table.find(grant_id))
        .set(g::warned_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// When the earliest active grant ends, if any does.
pub fn next_expiry(conn: &mut DbConnection) -> ApiResult<Option<i64>> {
    Ok(g::table
        .filter(g::status.eq(ACTIVE))
        .filter(g::expires_at.is_not_null())
        .select(min(g::expires_at))
        .first::<Option<i64>>(conn)?)
}

/// When the earliest unwarned grant from a request ends, if any does.
pub fn next_unwarned(conn: &mut DbConnection) -> ApiResult<Option<i64>> {
    Ok(g::table
        .filter(g::status.eq(ACTIVE))
        .filter(g::warned_at.is_null())
        .filter(g::expires_at.is_not_null())
        .filter(g::source.eq(GrantSource::Request.as_str()))
        .select(min(g::expires_at))
        .first::<Option<i64>>(conn)?)
}
