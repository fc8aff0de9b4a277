//! Access requests.

use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::models::RequestRow;
use super::schema::access_requests as ar;
use super::{after_cursor, Cursor, DbConnection, Page};
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
        .filter(ar::site_id.eq(site_id))
        .filter(ar::id.eq(id))
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
    let query = after_cursor!(query, ar::created_at, ar::id, cursor);
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
    let query = after_cursor!(query, ar::created_at, ar::id, cursor);
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

/// The decision to write on a pending request.
pub struct Transition<'a> {
    pub status: RequestStatus,
    pub decided_by: &'a str,
    pub decided_at: i64,
    pub message: Option<&'a str>,
}

/// Moves a request out of `pending` if it is still pending at `version`.
/// `false` means a concurrent change won: exactly one caller sees `true`.
pub fn transition(conn: &mut DbConnection, row: &RequestRow, change: Transition<'_>) -> ApiResult<bool> {
    let updated = diesel::update(
        ar::table
            .filter(ar::id.eq(&row.id))
            .filter(ar::status.eq(RequestStatus::Pending.as_str()))
            .filter(ar::version.eq(row.version)),
    )
    .set((
        ar::status.eq(change.status.as_str()),
        ar::decided_at.eq(change.decided_at),
        ar::decided_by.eq(change.decided_by),
        ar::decision_message.eq(change.message),
        ar::version.eq(row.version + 1),
    ))
    .execute(conn)?;
    Ok(updated == 1)
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
