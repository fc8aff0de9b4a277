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

/// Runs until the task is dropped; `outbox` wakes the webhook worker after a round queued webhooks.
pub async fn run(db: Db, settings: Arc<Settings>, outbox: Arc<Notify>) {
    loop {
        let round_settings = settings.clone();
        let wait = match db.run(move |c| round(c, &round_settings)).await {
            Ok((handled, due)) => {
                if handled > 0 {
                    outbox.notify_one();
                }
                if handled >= BATCH {
                    Duration::ZERO
                } else {
                    until(due)
                }
            }
            Err(error) => {
                tracing::warn!(%error, "expiry sweep failed; trying again");
                SWEEP_INTERVAL
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// One sweep: how many rows it handled (of the kind that had most) and when the next is due.
fn round(c: &mut DbConnection, settings: &Settings) -> ApiResult<(usize, Option<i64>)> {
    let steps: [fn(&mut DbConnection, &Settings) -> ApiResult<bool>; 3] =
        [expire_next_request, expire_next_grant, warn_next_grant];
    let mut most = 0;
    for step in steps {
        let mut handled = 0;
        while handled < BATCH && step(c, settings)? {
            handled += 1;
        }
        most = most.max(handled);
    }
    Ok((most, next_due(c, settings)?))
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
