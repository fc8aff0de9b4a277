//! Ends what ends by itself — pending requests nobody decided, grants whose end has come —
//! and queues the warning before a grant ends: on every instance, at most about a second late.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::app::expire::{expire_next_grant, expire_next_request, next_due, warn_next_grant};
use crate::config::Settings;
use crate::error::ApiResult;
use crate::store::{now_micros, Db, DbConnection};

/// The longest the loop sleeps without looking (its safety net against clocks and new rows).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);
/// The most rows of each kind one round handles before it lets the others have the connection.
const BATCH: usize = 200;

/// One use case that handles the next due row, if any (`false`: none is due).
type Step = fn(&mut DbConnection, &Settings) -> ApiResult<bool>;

/// Runs until the task is dropped; `outbox` wakes the webhook worker after a round queued webhooks.
pub async fn run(db: Db, settings: Arc<Settings>, outbox: Arc<Notify>) {
    let steps: [Step; 3] = [expire_next_request, expire_next_grant, warn_next_grant];
    loop {
        let mut most = 0;
        for step in steps {
            most = most.max(drain(&db, &settings, step).await);
        }
        if most > 0 {
            outbox.notify_one();
        }
        if most >= BATCH {
            continue;
        }
        let due_settings = settings.clone();
        let wait = match db.run(move |c| next_due(c, &due_settings)).await {
            Ok(due) => until(due),
            Err(error) => {
                tracing::warn!(%error, "expiry sweep failed; trying again");
                SWEEP_INTERVAL
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// Handles up to [`BATCH`] due rows, each in its own transaction and its own turn on a pooled
/// connection, so that requests get the connection between two of them (SQLite has one).
async fn drain(db: &Db, settings: &Arc<Settings>, step: Step) -> usize {
    let mut handled = 0;
    while handled < BATCH {
        let settings = settings.clone();
        match db.run(move |c| step(c, &settings)).await {
            Ok(true) => handled += 1,
            Ok(false) => break,
            Err(error) => {
                tracing::warn!(%error, "expiry sweep failed; trying again");
                break;
            }
        }
    }
    handled
}

fn until(due: Option<i64>) -> Duration {
    match due {
        Some(at) => {
            let micros = (at - now_micros()).clamp(10_000, SWEEP_INTERVAL.as_micros() as i64);
            Duration::from_micros(micros as u64)
        }
        None => SWEEP_INTERVAL,
    }
}
