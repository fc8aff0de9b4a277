//! Retention: what would only grow is pruned in the background, in batches small enough
//! that no statement holds its locks for long. Audit events are never pruned.

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::error::ApiResult;
use crate::store::{now_micros, outbox, records, Db, DbConnection};

/// How often the pruner looks.
const INTERVAL: Duration = Duration::from_secs(300);
/// The most rows one statement deletes.
const BATCH: i64 = 1000;
/// How long an `Idempotency-Key` replays its first response.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// What one sweep deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub idempotency_keys: usize,
    /// Delivered webhook deliveries, each with its attempts.
    pub deliveries: usize,
}

/// Deletes idempotent responses after [`IDEMPOTENCY_TTL`] and delivered webhooks after
/// `WEBHOOK_RETENTION_DAYS`.
pub struct Pruner {
    db: Db,
    retention: Duration,
}

impl Pruner {
    pub fn new(db: Db, retention_days: u32) -> Self {
        Self {
            db,
            retention: Duration::from_secs(u64::from(retention_days) * 24 * 3600),
        }
    }

    /// Sweeps at start-up and then every few minutes, until the task is dropped.
    pub async fn run(self) {
        let mut every = tokio::time::interval(INTERVAL);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match self.sweep(now_micros()).await {
                Ok(pruned) if pruned != Pruned::default() => tracing::info!(
                    idempotency_keys = pruned.idempotency_keys,
                    deliveries = pruned.deliveries,
                    "pruned old records"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "could not prune old records"),
            }
        }
    }

    /// Deletes everything past its retention as of `now` (µs since the epoch).
    pub async fn sweep(&self, now: i64) -> ApiResult<Pruned> {
        let keys_before = now.saturating_sub(micros(IDEMPOTENCY_TTL));
        let deliveries_before = now.saturating_sub(micros(self.retention));
        Ok(Pruned {
            idempotency_keys: self
                .in_batches(move |c| records::prune_idempotency(c, keys_before, BATCH))
                .await?,
            deliveries: self
                .in_batches(move |c| outbox::prune_delivered(c, deliveries_before, BATCH))
                .await?,
        })
    }

    /// Runs `prune` (one batch, one short transaction) until a batch comes back short.
    async fn in_batches<F>(&self, prune: F) -> ApiResult<usize>
    where
        F: Fn(&mut DbConnection) -> ApiResult<usize> + Clone + Send + 'static,
    {
        let mut total = 0;
        loop {
            let deleted = self.db.run(prune.clone()).await?;
            total += deleted;
            if deleted < BATCH as usize {
                return Ok(total);
            }
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
