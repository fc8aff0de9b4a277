//! The transactional outbox of webhook deliveries.
//!
//! Who may send a row is decided by the database's clock (due, leased), never by the app's:
//! instances with skewed clocks, or one that waited for a pooled connection, still agree.
//! A claim writes a random token; only its holder records the attempt or frees the row.

use std::collections::HashMap;
use std::time::Duration;

use diesel::dsl::{count_star, sql};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use uuid::Uuid;

use super::cursor::after_cursor;
use super::models::{AttemptRow, DeliveryRow};
use super::schema::{webhook_attempts, webhook_deliveries as wd};
use super::{now_micros, transaction, Cursor, DbConnection, Page};
use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::error::{ApiError, ApiResult};

/// The events a grant's start and end are recorded by.
const GRANT_LIFECYCLE: [&str; 3] = [
    crate::webhooks::events::GROUP_MEMBER_ADD,
    crate::webhooks::events::BILLING_SEAT_START,
    crate::webhooks::events::BILLING_SEAT_END,
];

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

/// Now by the database's clock, in µs since the epoch like every stored time.
fn db_now(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Pg(_) => db_now_pg(),
        DbConnection::Sqlite(_) => "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
    }
}

fn db_now_pg() -> &'static str {
    "(extract(epoch from statement_timestamp()) * 1000000)::bigint"
}

/// `FROM … WHERE` of the pending rows `d` that nobody holds and whose predecessor (`p`, by
/// `after_id`), if any, is delivered. A predecessor that is gone was delivered: only delivered
/// rows are pruned. A join rather than `NOT EXISTS`, which PostgreSQL may answer by hashing
/// every undelivered row.
const CLAIMABLE: &str = "webhook_deliveries d LEFT JOIN webhook_deliveries p ON p.id = d.after_id \
     WHERE d.status = 'pending' AND d.locked_until <= {now} \
     AND (p.id IS NULL OR p.status = 'delivered')";

/// One `SELECT` per target with free slots, each with its own `LIMIT`: a full target's rows,
/// however many are due, never take another target's share. Placeholders: `$1` lease, `$2`
/// token, then target and limit of each branch, numbered in order of first appearance.
fn claim_sql(conn: &DbConnection, branches: usize) -> String {
    // On PostgreSQL the claim's commit does not wait for the disk: a claim lost in a crash only
    // leaves its rows free for the next claimer.
    let (relaxed, from, returning, lock) = match conn {
        DbConnection::Pg(_) => (
            RELAXED_COMMIT_PG,
            " FROM relaxed",
            "webhook_deliveries.*",
            " FOR UPDATE OF d SKIP LOCKED",
        ),
        DbConnection::Sqlite(_) => ("", "", "*", ""),
    };
    let selects: Vec<String> = (0..branches)
        .map(|i| {
            format!(
                "SELECT id FROM (SELECT d.id FROM {CLAIMABLE} \
                 AND d.target = ${target} AND d.next_attempt_at <= {{now}} \
                 ORDER BY d.next_attempt_at LIMIT ${limit}{lock}) claim{i}",
                target = 3 + 2 * i,
                limit = 4 + 2 * i,
            )
        })
        .collect();
    format!(
        "{relaxed}UPDATE webhook_deliveries SET locked_until = {{now}} + $1, claim_token = $2{from} \
         WHERE id IN ({}) RETURNING {returning}",
        selects.join(" UNION ALL ")
    )
    .replace("{now}", db_now(conn))
}

/// Claims for `lease` up to the given number of due, unblocked deliveries of each target, in
/// one statement. On PostgreSQL several instances claim side by side (`SKIP LOCKED`); a
/// crashed claimer's rows come back when its lease runs out.
pub fn claim_due(
    conn: &mut DbConnection,
    wanted: &[(WebhookTargetKind, i64)],
    lease: Duration,
) -> ApiResult<Vec<DeliveryRow>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let statement = claim_sql(conn, wanted.len());
    let lease = i64::try_from(lease.as_micros()).unwrap_or(i64::MAX);
    let token = Uuid::new_v4().to_string();
    macro_rules! claim {
        ($conn:expr, $backend:ty) => {{
            let mut query = diesel::sql_query(statement)
                .into_boxed::<$backend>()
                .bind::<BigInt, _>(lease)
                .bind::<Text, _>(token);
            for &(target, limit) in wanted {
                query = query.bind::<Text, _>(target.as_str()).bind::<BigInt, _>(limit);
            }
            query.load::<DeliveryRow>($conn)?
        }};
    }
    Ok(match conn {
        DbConnection::Pg(c) => claim!(c, diesel::pg::Pg),
        DbConnection::Sqlite(c) => claim!(c, diesel::sqlite::Sqlite),
    })
}

#[derive(QueryableByName)]
struct Wait {
    #[diesel(sql_type = Nullable<BigInt>)]
    wait: Option<i64>,
}

/// How many µs until the next delivery of `targets` that could be claimed falls due (zero or
/// less: due now), if any. Rows waiting for a predecessor or held by a claim do not count, so
/// a worker never spins on them; the worker's sweep looks again within a second anyway.
pub fn next_due(conn: &mut DbConnection, targets: &[WebhookTargetKind]) -> ApiResult<Option<i64>> {
    if targets.is_empty() {
        return Ok(None);
    }
    let selects: Vec<String> = (1..=targets.len())
        .map(|i| {
            format!(
                "SELECT at FROM (SELECT d.next_attempt_at AS at FROM {CLAIMABLE} \
                 AND d.target = ${i} ORDER BY d.next_attempt_at LIMIT 1) due{i}"
            )
        })
        .collect();
    let statement = format!(
        "SELECT MIN(at) - {{now}} AS wait FROM ({}) due",
        selects.join(" UNION ALL ")
    )
    .replace("{now}", db_now(conn));
    macro_rules! wait {
        ($conn:expr, $backend:ty) => {{
            let mut query = diesel::sql_query(statement).into_boxed::<$backend>();
            for target in targets {
                query = query.bind::<Text, _>(target.as_str());
            }
            query.get_result::<Wait>($conn)?
        }};
    }
    let found = match conn {
        DbConnection::Pg(c) => wait!(c, diesel::pg::Pg),
        DbConnection::Sqlite(c) => wait!(c, diesel::sqlite::Sqlite),
    };
    Ok(found.wait)
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

/// The start of a PostgreSQL statement whose commit does not wait for the disk. A statement
/// outside a transaction block is its own transaction, and `set_config(…, true)` lasts until
/// the end of the current transaction, so this does what `SET LOCAL synchronous_commit = off`
/// does in a block, without `BEGIN` and `COMMIT`. The statement must read `relaxed` (a CTE
/// nobody reads is not run).
const RELAXED_COMMIT_PG: &str = "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) ";

/// After [`RELAXED_COMMIT_PG`]: the claim check, the delivery's update and the attempt's log
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
        RECORD_ATTEMPT_PG.replace("{now}", db_now_pg())
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
    requeue_where(conn, Some(id), None)?;
    Ok(wd::table.find(id).select(DeliveryRow::as_select()).first(conn)?)
}

/// Puts every failed delivery (of `target`, if given) back in the queue, as [`requeue`] does
/// one; how many.
pub fn requeue_failed(conn: &mut DbConnection, target: Option<WebhookTargetKind>) -> ApiResult<usize> {
    requeue_where(conn, None, target)
}

fn requeue_where(
    conn: &mut DbConnection,
    id: Option<&str>,
    target: Option<WebhookTargetKind>,
) -> ApiResult<usize> {
    let now = now_micros();
    let mut query = diesel::update(wd::table)
        .filter(wd::status.eq(DeliveryStatus::Failed.as_str()))
        .into_boxed();
    if let Some(id) = id {
        query = query.filter(wd::id.eq(id.to_owned()));
    }
    if let Some(target) = target {
        query = query.filter(wd::target.eq(target.as_str()));
    }
    Ok(query
        .set((
            wd::status.eq(DeliveryStatus::Pending.as_str()),
            wd::attempts.eq(0),
            wd::next_attempt_at.eq(now),
            wd::locked_until.eq(0),
            wd::claim_token.eq(None::<String>),
            wd::updated_at.eq(now),
        ))
        .execute(conn)?)
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

/// Deletes up to `batch` deliveries delivered before `cutoff`, with their attempts, in one
/// short transaction; how many deliveries. The start and end rows of a grant stay: an end is
/// sent only for a start on record, and their unique index is what refuses a second seat
/// start or end for the grant.
pub fn prune_delivered(conn: &mut DbConnection, cutoff: i64, batch: i64) -> ApiResult<usize> {
    conn.transaction(|conn| {
        let ids: Vec<String> = wd::table
            .filter(wd::status.eq(DeliveryStatus::Delivered.as_str()))
            .filter(wd::updated_at.lt(cutoff))
            .filter(wd::grant_id.is_null().or(wd::event_type.ne_all(GRANT_LIFECYCLE)))
            .select(wd::id)
            .limit(batch)
            .load(conn)?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(webhook_attempts::table.filter(webhook_attempts::delivery_id.eq_any(&ids)))
            .execute(conn)?;
        Ok(diesel::delete(wd::table.filter(wd::id.eq_any(&ids))).execute(conn)?)
    })
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
