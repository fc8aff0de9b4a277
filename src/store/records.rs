//! Records: audit events (kept for good), feedback, and idempotent responses (kept a day).

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use uuid::Uuid;

use super::cursor::after_cursor;
use super::models::*;
use super::schema::*;
use super::{now_micros, Cursor, DbConnection, Page};
use crate::error::ApiResult;

/// What an audit event says happened.
pub struct AuditEntry<'a> {
    pub site_id: &'a str,
    /// `None` for what the service does by itself.
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub request_id: Option<&'a str>,
    pub details: serde_json::Value,
}

pub fn audit(conn: &mut DbConnection, entry: AuditEntry<'_>) -> ApiResult<()> {
    diesel::insert_into(audit_events::table)
        .values(&AuditRow {
            id: Uuid::new_v4().to_string(),
            site_id: entry.site_id.to_owned(),
            at: now_micros(),
            actor_account_id: entry.actor.map(str::to_owned),
            action: entry.action.to_owned(),
            request_id: entry.request_id.map(str::to_owned),
            details: entry.details.to_string(),
        })
        .execute(conn)?;
    Ok(())
}

pub fn list_audit(
    conn: &mut DbConnection,
    site_id: &str,
    request_id: Option<&str>,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<AuditRow>> {
    let mut query = audit_events::table
        .filter(audit_events::site_id.eq(site_id))
        .into_boxed();
    if let Some(request_id) = request_id {
        query = query.filter(audit_events::request_id.eq(request_id.to_owned()));
    }
    let query = after_cursor!(query, "audit_events.at", "audit_events.id", cursor);
    let rows = query
        .order((audit_events::at.desc(), audit_events::id.desc()))
        .limit(limit + 1)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok(Page::from_rows(rows, limit, |r| Cursor {
        at: r.at,
        id: r.id.clone(),
    }))
}

pub fn insert_feedback(conn: &mut DbConnection, row: &FeedbackRow) -> ApiResult<()> {
    diesel::insert_into(feedback::table).values(row).execute(conn)?;
    Ok(())
}

pub fn list_feedback(
    conn: &mut DbConnection,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<FeedbackRow>> {
    let query = feedback::table.into_boxed();
    let query = after_cursor!(query, "feedback.created_at", "feedback.id", cursor);
    let rows = query
        .order((feedback::created_at.desc(), feedback::id.desc()))
        .limit(limit + 1)
        .select(FeedbackRow::as_select())
        .load(conn)?;
    Ok(Page::from_rows(rows, limit, |r| Cursor {
        at: r.created_at,
        id: r.id.clone(),
    }))
}

pub fn find_idempotent(
    conn: &mut DbConnection,
    account_id: &str,
    key: &str,
) -> ApiResult<Option<IdempotencyRow>> {
    Ok(idempotency_keys::table
        .find((account_id, key))
        .select(IdempotencyRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn save_idempotent(conn: &mut DbConnection, row: &IdempotencyRow) -> ApiResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Deletes up to `batch` idempotent responses stored before `cutoff`; how many.
pub fn prune_idempotency(conn: &mut DbConnection, cutoff: i64, batch: i64) -> ApiResult<usize> {
    Ok(diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE (account_id, idempotency_key) IN \
           (SELECT account_id, idempotency_key FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
    )
    .bind::<BigInt, _>(cutoff)
    .bind::<BigInt, _>(batch)
    .execute(conn)?)
}
