//! The transactional outbox of webhook deliveries.

use diesel::connection::SimpleConnection;
use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use uuid::Uuid;

use super::cursor::after_cursor;
use super::models::{AttemptRow, DeliveryRow};
use super::schema::{webhook_attempts, webhook_deliveries as wd};
use super::{now_micros, Cursor, DbConnection, Page};
use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::error::{ApiError, ApiResult};

/// Adds a delivery; it commits (or not) with the caller's transaction.
pub fn enqueue(conn: &mut DbConnection, row: &DeliveryRow) -> ApiResult<()> {
    diesel::insert_into(wd::table).values(row).execute(conn)?;
    Ok(())
}

/// Adds deliveries in one statement; they commit (or not) with the caller's transaction.
pub fn enqueue_all(conn: &mut DbConnection, rows: &[DeliveryRow]) -> ApiResult<()> {
    if !rows.is_empty() {
        super::on_backend!(conn, |c| diesel::insert_into(wd::table).values(rows).execute(c))?;
    }
    Ok(())
}

/// The start deliveries (`group.member.add`, `billing.seat.start`) of a grant, with their targets.
pub fn starts_of(conn: &mut DbConnection, grant_id: &str) -> ApiResult<Vec<(String, WebhookTargetKind)>> {
    let rows: Vec<(String, String)> = wd::table
        .filter(wd::grant_id.eq(grant_id))
        .filter(wd::event_type.eq_any([
            crate::webhooks::events::GROUP_MEMBER_ADD,
            crate::webhooks::events::BILLING_SEAT_START,
        ]))
        .select((wd::id, wd::target))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, target)| Some((id, target.parse().ok()?)))
        .collect())
}

const CLAIM_POSTGRES: &str = "UPDATE webhook_deliveries SET locked_until = $1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
       WHERE status = 'pending' AND next_attempt_at <= $2 AND locked_until <= $2 \
       ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
     RETURNING *";

const CLAIM_SQLITE: &str = "UPDATE webhook_deliveries SET locked_until = $1 \
     WHERE id IN (SELECT id FROM webhook_deliveries \
       WHERE status = 'pending' AND next_attempt_at <= $2 AND locked_until <= $2 \
       ORDER BY next_attempt_at LIMIT $3) \
     RETURNING *";

/// Claims up to `limit` due deliveries until `lease_until`. On PostgreSQL several
/// instances claim side by side (`SKIP LOCKED`); a crashed claimer's rows come
/// back when its lease runs out.
pub fn claim_due(
    conn: &mut DbConnection,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> ApiResult<Vec<DeliveryRow>> {
    macro_rules! claim {
        ($conn:expr, $sql:expr) => {
            diesel::sql_query($sql)
                .bind::<BigInt, _>(lease_until)
                .bind::<BigInt, _>(now)
                .bind::<BigInt, _>(limit)
                .load::<DeliveryRow>($conn)?
        };
    }
    Ok(match conn {
        DbConnection::Pg(c) => claim!(c, CLAIM_POSTGRES),
        DbConnection::Sqlite(c) => claim!(c, CLAIM_SQLITE),
    })
}

/// When the next delivery falls due, if any is pending.
pub fn next_due(conn: &mut DbConnection) -> ApiResult<Option<i64>> {
    Ok(wd::table
        .filter(wd::status.eq(DeliveryStatus::Pending.as_str()))
        .select(diesel::dsl::min(wd::next_attempt_at.nullable()))
        .first::<Option<i64>>(conn)?)
}

/// What an attempt led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    RetryAt { at: i64, error: String },
    Failed { error: String },
}

/// Records one attempt and its outcome, in one transaction.
pub fn record_attempt(
    conn: &mut DbConnection,
    row: &DeliveryRow,
    attempt: &AttemptRow,
    outcome: &Outcome,
) -> ApiResult<()> {
    conn.transaction(|conn| {
        if let DbConnection::Pg(pg) = conn {
            // Losing the last few outcomes in a crash only means those webhooks are sent
            // again (at-least-once, same webhook-id); not waiting for the flush of every
            // outcome lets PostgreSQL record thousands a second.
            pg.batch_execute("SET LOCAL synchronous_commit = off")?;
        }
        diesel::insert_into(webhook_attempts::table)
            .values(attempt)
            .execute(conn)?;
        let now = now_micros();
        let target = wd::table
            .filter(wd::id.eq(&row.id))
            .filter(wd::status.eq(DeliveryStatus::Pending.as_str()));
        let attempts = wd::attempts.eq(attempt.attempt);
        match outcome {
            Outcome::Delivered => diesel::update(target)
                .set((
                    wd::status.eq(DeliveryStatus::Delivered.as_str()),
                    attempts,
                    wd::last_error.eq(None::<String>),
                    wd::locked_until.eq(0),
                    wd::updated_at.eq(now),
                ))
                .execute(conn)?,
            Outcome::RetryAt { at, error } => diesel::update(target)
                .set((
                    attempts,
                    wd::next_attempt_at.eq(at),
                    wd::last_error.eq(error),
                    wd::locked_until.eq(0),
                    wd::updated_at.eq(now),
                ))
                .execute(conn)?,
            Outcome::Failed { error } => diesel::update(target)
                .set((
                    wd::status.eq(DeliveryStatus::Failed.as_str()),
                    attempts,
                    wd::last_error.eq(error),
                    wd::locked_until.eq(0),
                    wd::updated_at.eq(now),
                ))
                .execute(conn)?,
        };
        Ok::<_, ApiError>(())
    })
}

pub fn list(
    conn: &mut DbConnection,
    status: Option<DeliveryStatus>,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<DeliveryRow>> {
    let mut query = wd::table.into_boxed();
    if let Some(status) = status {
        query = query.filter(wd::status.eq(status.as_str()));
    }
    let query = after_cursor!(
        query,
        "webhook_deliveries.created_at",
        "webhook_deliveries.id",
        cursor
    );
    let rows = query
        .order((wd::created_at.desc(), wd::id.desc()))
        .limit(limit + 1)
        .select(DeliveryRow::as_select())
        .load(conn)?;
    Ok(Page::from_rows(rows, limit, |r| Cursor {
        at: r.created_at,
        id: r.id.clone(),
    }))
}

/// Puts a failed delivery back in the queue for a new series of attempts; it keeps its `webhook-id`.
pub fn requeue(conn: &mut DbConnection, id: &str) -> ApiResult<DeliveryRow> {
    let row = wd::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("the webhook delivery"))?;
    if row.status != DeliveryStatus::Failed.as_str() {
        return Err(ApiError::conflict(
            "not_failed",
            "only failed deliveries can be retried",
        ));
    }
    let now = now_micros();
    diesel::update(wd::table.find(id))
        .set((
            wd::status.eq(DeliveryStatus::Pending.as_str()),
            wd::attempts.eq(0),
            wd::next_attempt_at.eq(now),
            wd::locked_until.eq(0),
            wd::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(wd::table.find(id).select(DeliveryRow::as_select()).first(conn)?)
}

/// The attempts of these deliveries, oldest first.
pub fn attempts_of(conn: &mut DbConnection, delivery_ids: &[String]) -> ApiResult<Vec<AttemptRow>> {
    Ok(webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq_any(delivery_ids))
        .order((webhook_attempts::delivery_id.asc(), webhook_attempts::at.asc()))
        .select(AttemptRow::as_select())
        .load(conn)?)
}

/// How many deliveries are pending and how many failed. Only those two states: the count then
/// walks the `(status, next_attempt_at)` index over rows still in play, never the delivered
/// history, which only grows.
pub fn counts_by_status(conn: &mut DbConnection) -> ApiResult<Vec<(String, i64)>> {
    let states = [DeliveryStatus::Pending.as_str(), DeliveryStatus::Failed.as_str()];
    Ok(wd::table
        .filter(wd::status.eq_any(states))
        .group_by(wd::status)
        .select((wd::status, count_star()))
        .load(conn)?)
}

pub fn new_attempt(
    delivery_id: &str,
    attempt: i32,
    at: i64,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
) -> AttemptRow {
    AttemptRow {
        id: Uuid::new_v4().to_string(),
        delivery_id: delivery_id.to_owned(),
        attempt,
        at,
        status_code,
        error,
        duration_ms,
    }
}
