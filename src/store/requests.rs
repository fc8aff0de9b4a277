//! Access requests.

use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::cursor::after_cursor;
use super::models::RequestRow;
use super::schema::access_requests as ar;
use super::{on_backend, Cursor, DbConnection, Page};
use crate::domain::RequestStatus;
use crate::error::ApiResult;

/// The filters of the site's request list; `None` matches everything.
#[derive(Debug, Default, Clone)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub product_key: Option<String>,
    pub kind: Option<String>,
    pub requester: Option<String>,
    pub subject: Option<String>,
}

pub fn insert(conn: &mut DbConnection, row: &RequestRow) -> ApiResult<()> {
    diesel::insert_into(ar::table).values(row).execute(conn)?;
    Ok(())
}

/// A request of `site_id`; a request of another site is not found.
pub fn find(conn: &mut DbConnection, site_id: &str, id: &str) -> ApiResult<Option<RequestRow>> {
    Ok(ar::table
        .filter(ar::id.eq(id))
        .filter(ar::site_id.eq(site_id))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?)
}

/// The pending request for the same site, product and subject, if any.
pub fn pending_duplicate(
    conn: &mut DbConnection,
    site_id: &str,
    product_key: &str,
    subject: &str,
) -> ApiResult<Option<String>> {
    Ok(ar::table
        .filter(ar::site_id.eq(site_id))
        .filter(ar::product_key.eq(product_key))
        .filter(ar::subject_account_id.eq(subject))
        .filter(ar::status.eq(RequestStatus::Pending.as_str()))
        .select(ar::id)
        .first(conn)
        .optional()?)
}

/// How many requests `requester` created since `since`, and when the oldest of them was.
pub fn created_since(conn: &mut DbConnection, requester: &str, since: i64) -> ApiResult<(i64, Option<i64>)> {
    Ok(ar::table
        .filter(ar::requester_account_id.eq(requester))
        .filter(ar::created_at.gt(since))
        .select((count_star(), min(ar::created_at)))
        .first(conn)?)
}

/// How many pending requests `requester` has made on `site_id`.
pub fn pending_by_requester(conn: &mut DbConnection, site_id: &str, requester: &str) -> ApiResult<i64> {
    Ok(ar::table
        .filter(ar::site_id.eq(site_id))
        .filter(ar::requester_account_id.eq(requester))
        .filter(ar::status.eq(RequestStatus::Pending.as_str()))
        .select(count_star())
        .first(conn)?)
}

pub fn list_for_site(
    conn: &mut DbConnection,
    site_id: &str,
    filter: &RequestFilter,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<RequestRow>> {
    let mut query = ar::table.filter(ar::site_id.eq(site_id.to_owned())).into_boxed();
    if let Some(status) = filter.status {
        query = query.filter(ar::status.eq(status.as_str()));
    }
    if let Some(product_key) = &filter.product_key {
        query = query.filter(ar::product_key.eq(product_key.clone()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(ar::kind.eq(kind.clone()));
    }
    if let Some(requester) = &filter.requester {
        query = query.filter(ar::requester_account_id.eq(requester.clone()));
    }
    if let Some(subject) = &filter.subject {
        query = query.filter(ar::subject_account_id.eq(subject.clone()));
    }
    let query = after_cursor!(query, "access_requests.created_at", "access_requests.id", cursor);
    let rows = query
        .order((ar::created_at.desc(), ar::id.desc()))
        .limit(limit + 1)
        .select(RequestRow::as_select())
        .load(conn)?;
    Ok(page(rows, limit))
}

/// Requests where `account_id` is the requester or the subject, on every site.
pub fn list_for_account(
    conn: &mut DbConnection,
    account_id: &str,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<RequestRow>> {
    let query = ar::table
        .filter(
            ar::requester_account_id
                .eq(account_id.to_owned())
                .or(ar::subject_account_id.eq(account_id.to_owned())),
        )
        .into_boxed();
    let query = after_cursor!(query, "access_requests.created_at", "access_requests.id", cursor);
    let rows = query
        .order((ar::created_at.desc(), ar::id.desc()))
        .limit(limit + 1)
        .select(RequestRow::as_select())
        .load(conn)?;
    Ok(page(rows, limit))
}

fn page(rows: Vec<RequestRow>, limit: i64) -> Page<RequestRow> {
    Page::from_rows(rows, limit, |r| Cursor {
        at: r.created_at,
        id: r.id.clone(),
    })
}

/// The end of a pending request: a decision, a cancellation or its expiry.
pub struct Transition<'a> {
    pub status: RequestStatus,
    pub decided_by: Option<&'a str>,
    pub decided_at: i64,
    pub message: Option<&'a str>,
    /// The grant an approval made or found.
    pub grant_id: Option<&'a str>,
}

impl Transition<'_> {
    /// A request that is no longer pending no longer expires; an expired one keeps the time it did.
    fn expires_at(&self, row: &RequestRow) -> Option<i64> {
        (self.status == RequestStatus::Expired)
            .then_some(row.expires_at)
            .flatten()
    }
}

/// Moves a request out of `pending` if it is still pending at `version`, returning it as
/// changed. `None` means a concurrent change won: of concurrent callers exactly one gets the row.
pub fn transition(
    conn: &mut DbConnection,
    row: &RequestRow,
    change: Transition<'_>,
) -> ApiResult<Option<RequestRow>> {
    let target = ar::table
        .filter(ar::id.eq(&row.id))
        .filter(ar::status.eq(RequestStatus::Pending.as_str()))
        .filter(ar::version.eq(row.version));
    let values = (
        ar::status.eq(change.status.as_str()),
        ar::decided_at.eq(change.decided_at),
        ar::decided_by.eq(change.decided_by),
        ar::decision_message.eq(change.message),
        ar::grant_id.eq(change.grant_id),
        ar::expires_at.eq(change.expires_at(row)),
        ar::version.eq(row.version + 1),
    );
    Ok(on_backend!(conn, |c| diesel::update(target)
        .set(values)
        .returning(RequestRow::as_returning())
        .get_result(c)
        .optional())?)
}

/// The oldest pending request whose time to wait for a decision is over, locked for this
/// transaction; other instances skip it (`SKIP LOCKED`) and take the next one.
pub fn claim_expired(conn: &mut DbConnection, now: i64) -> ApiResult<Option<RequestRow>> {
    // A macro, not a value: the selection's backend is fixed where it is used.
    macro_rules! due {
        () => {
            ar::table
                .filter(ar::status.eq(RequestStatus::Pending.as_str()))
                .filter(ar::expires_at.le(now))
                .order(ar::expires_at.asc())
                .select(RequestRow::as_select())
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => due!().for_update().skip_locked().first(c).optional()?,
        DbConnection::Sqlite(c) => due!().first(c).optional()?,
    })
}

/// When the earliest pending request expires, if any does.
pub fn next_expiry(conn: &mut DbConnection) -> ApiResult<Option<i64>> {
    Ok(ar::table
        .filter(ar::status.eq(RequestStatus::Pending.as_str()))
        .select(min(ar::expires_at))
        .first::<Option<i64>>(conn)?)
}

/// Sets when each pending request of the site expires: `ttl` after it was made.
pub fn set_pending_ttl(conn: &mut DbConnection, site_id: &str, ttl_micros: i64) -> ApiResult<()> {
    diesel::update(
        ar::table
            .filter(ar::site_id.eq(site_id))
            .filter(ar::status.eq(RequestStatus::Pending.as_str())),
    )
    .set(ar::expires_at.eq((ar::created_at + ttl_micros).nullable()))
    .execute(conn)?;
    Ok(())
}

/// Totals of the other requests on `site_id` whose subject is `account_id`.
pub fn history(
    conn: &mut DbConnection,
    site_id: &str,
    account_id: &str,
    except_id: &str,
) -> ApiResult<Vec<(String, i64)>> {
    Ok(ar::table
        .filter(ar::site_id.eq(site_id))
        .filter(ar::subject_account_id.eq(account_id))
        .filter(ar::id.ne(except_id))
        .group_by(ar::status)
        .select((ar::status, count_star()))
        .load(conn)?)
}
