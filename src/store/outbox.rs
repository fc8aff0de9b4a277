//! The transactional outbox of webhook deliveries.
//!
//! Who may send a row is decided by the database's clock (due, leased), never by the app's:
//! instances with skewed clocks, or one that waited for a pooled connection, still agree.
//! A claim writes a random token; only its holder records the attempt or frees the row.

use std::time::Duration;

use diesel::dsl::count_star;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text};
use uuid::Uuid;

use super::cursor::after_cursor;
use super::models::DeliveryRow;
use super::schema::{webhook_attempts, webhook_deliveries as wd};
use super::{now_micros, Cursor, DbConnection, Page};
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

/// Now by PostgreSQL's clock, in µs since the epoch like every stored time.
pub(super) const DB_NOW_PG: &str = "(extract(epoch from statement_timestamp()) * 1000000)::bigint";

/// Now by the database's clock, in µs since the epoch like every stored time.
pub(super) fn db_now(conn: &DbConnection) -> &'static str {
    match conn {
        DbConnection::Pg(_) => DB_NOW_PG,
        DbConnection::Sqlite(_) => "CAST(unixepoch('subsec') * 1000000 AS INTEGER)",
    }
}

/// The start of a PostgreSQL statement whose commit does not wait for the disk. A statement
/// outside a transaction block is its own transaction, and `set_config(…, true)` lasts until
/// the end of the current transaction, so this does what `SET LOCAL synchronous_commit = off`
/// does in a block, without `BEGIN` and `COMMIT`. The statement must read `relaxed` (a CTE
/// nobody reads is not run).
pub(super) const RELAXED_COMMIT_PG: &str =
    "WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true)) ";

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
