//! Webhook attempts: recording each attempt's outcome against the claim that sent it, and
//! the newest attempts of deliveries for their log.

use std::collections::HashMap;
use std::time::Duration;

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use uuid::Uuid;

use super::models::{AttemptRow, DeliveryRow};
use super::outbox::{db_now, DB_NOW_PG, RELAXED_COMMIT_PG};
use super::schema::{webhook_attempts, webhook_deliveries as wd};
use super::{now_micros, transaction, DbConnection};
use crate::domain::DeliveryStatus;
use crate::error::ApiResult;

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

/// What an attempt led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again this long after now (by the database's clock).
    Retry {
        after: Duration,
        error: String,
    },
    Failed {
        error: String,
    },
}

/// Records one attempt and its outcome, if `row`'s claim still holds: the delivery's new state
/// and the attempt's log row together. False when the claim does not hold: the lease ran out
/// and another worker took the row over, so this attempt is not counted and the new holder's
/// lease is left alone.
///
/// Losing the last few outcomes in a crash only means those webhooks are sent again
/// (at-least-once, same webhook-id), so the commit does not wait for the disk: that lets
/// PostgreSQL record thousands a second.
pub fn record_attempt(
    conn: &mut DbConnection,
    row: &DeliveryRow,
    attempt: &AttemptRow,
    outcome: &Outcome,
) -> ApiResult<bool> {
    let Some(token) = row.claim_token.as_deref() else {
        return Ok(false);
    };
    let (status, error, retry_after) = match outcome {
        Outcome::Delivered => (DeliveryStatus::Delivered, None, None),
        Outcome::Retry { after, error } => (
            DeliveryStatus::Pending,
            Some(error.as_str()),
            Some(i64::try_from(after.as_micros()).unwrap_or(i64::MAX)),
        ),
        Outcome::Failed { error } => (DeliveryStatus::Failed, Some(error.as_str()), None),
    };
    let change = Recorded {
        id: &row.id,
        token,
        status: status.as_str(),
        error,
        retry_after,
    };
    match conn {
        DbConnection::Pg(pg) => record_in_one_statement(pg, &change, attempt),
        DbConnection::Sqlite(_) => transaction(conn, |conn| {
            let next_attempt_at = sql::<BigInt>(&format!("COALESCE({} + ", db_now(conn)))
                .bind::<Nullable<BigInt>, _>(change.retry_after)
                .sql(", next_attempt_at)");
            let updated = diesel::update(
                wd::table
                    .filter(wd::id.eq(change.id))
                    .filter(wd::claim_token.eq(change.token))
                    .filter(wd::status.eq(DeliveryStatus::Pending.as_str())),
            )
            .set((
                wd::status.eq(change.status),
                wd::last_error.eq(change.error),
                wd::next_attempt_at.eq(next_attempt_at),
                wd::attempts.eq(attempt.attempt),
                wd::locked_until.eq(0),
                wd::claim_token.eq(None::<String>),
                wd::updated_at.eq(now_micros()),
            ))
            .execute(conn)?;
            if updated == 0 {
                return Ok(false);
            }
            diesel::insert_into(webhook_attempts::table)
                .values(attempt)
                .execute(conn)?;
            Ok(true)
        }),
    }
}

/// A delivery's new state after an attempt: its status and last error, and for a retry the
/// wait (µs) before the next attempt, from the database's clock.
struct Recorded<'a> {
    id: &'a str,
    token: &'a str,
    status: &'a str,
    error: Option<&'a str>,
    retry_after: Option<i64>,
}

/// After [`RELAXED_COMMIT_PG`](super::outbox::RELAXED_COMMIT_PG): the claim check, the delivery's update and the attempt's log
/// row in one statement, one round trip instead of four.
const RECORD_ATTEMPT_PG: &str = ", held AS (UPDATE webhook_deliveries SET status = $3, last_error = $4, \
                     next_attempt_at = COALESCE({now} + $5, next_attempt_at), attempts = $6, \
                     locked_until = 0, claim_token = NULL, updated_at = $7 \
               WHERE id = $1 AND claim_token = $2 AND status = 'pending' RETURNING id) \
     INSERT INTO webhook_attempts (id, delivery_id, attempt, at, status_code, error, duration_ms) \
     SELECT $8, held.id, $6, $9, $10, $11, $12 FROM held, relaxed";

fn record_in_one_statement(
    pg: &mut diesel::PgConnection,
    change: &Recorded<'_>,
    attempt: &AttemptRow,
) -> ApiResult<bool> {
    let statement = format!(
        "{RELAXED_COMMIT_PG}{}",
        RECORD_ATTEMPT_PG.replace("{now}", DB_NOW_PG)
    );
    let inserted = diesel::sql_query(statement)
        .bind::<Text, _>(change.id)
        .bind::<Text, _>(change.token)
        .bind::<Text, _>(change.status)
        .bind::<Nullable<Text>, _>(change.error)
        .bind::<Nullable<BigInt>, _>(change.retry_after)
        .bind::<Integer, _>(attempt.attempt)
        .bind::<BigInt, _>(now_micros())
        .bind::<Text, _>(&attempt.id)
        .bind::<BigInt, _>(attempt.at)
        .bind::<Nullable<Integer>, _>(attempt.status_code)
        .bind::<Nullable<Text>, _>(attempt.error.as_deref())
        .bind::<BigInt, _>(attempt.duration_ms)
        .execute(pg)?;
    Ok(inserted == 1)
}

/// The newest attempts of one delivery, oldest first, and how many it has in all.
#[derive(Debug, Default)]
pub struct AttemptLog {
    pub attempts: Vec<AttemptRow>,
    pub total: i64,
}

#[derive(QueryableByName)]
struct RankedAttempt {
    #[diesel(embed)]
    attempt: AttemptRow,
    #[diesel(sql_type = BigInt)]
    total: i64,
}

/// The newest `keep` attempts of each of these deliveries, in one query however many there are.
pub fn recent_attempts(
    conn: &mut DbConnection,
    delivery_ids: &[String],
    keep: i64,
) -> ApiResult<HashMap<String, AttemptLog>> {
    if delivery_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let placeholders: Vec<String> = (1..=delivery_ids.len()).map(|i| format!("${i}")).collect();
    let statement = format!(
        "SELECT id, delivery_id, attempt, at, status_code, error, duration_ms, total FROM \
           (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.delivery_id ORDER BY a.at DESC, a.id DESC) AS newest, \
              COUNT(*) OVER (PARTITION BY a.delivery_id) AS total \
            FROM webhook_attempts a WHERE a.delivery_id IN ({})) ranked \
         WHERE newest <= ${} ORDER BY delivery_id, at, id",
        placeholders.join(", "),
        delivery_ids.len() + 1
    );
    macro_rules! ranked {
        ($conn:expr, $backend:ty) => {{
            let mut query = diesel::sql_query(statement).into_boxed::<$backend>();
            for id in delivery_ids {
                query = query.bind::<Text, _>(id.as_str());
            }
            query.bind::<BigInt, _>(keep).load::<RankedAttempt>($conn)?
        }};
    }
    let rows = match conn {
        DbConnection::Pg(c) => ranked!(c, diesel::pg::Pg),
        DbConnection::Sqlite(c) => ranked!(c, diesel::sqlite::Sqlite),
    };
    let mut logs: HashMap<String, AttemptLog> = HashMap::new();
    for row in rows {
        let log = logs.entry(row.attempt.delivery_id.clone()).or_default();
        log.total = row.total;
        log.attempts.push(row.attempt);
    }
    Ok(logs)
}
