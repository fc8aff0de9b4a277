//! Delivers the outbox: claims due rows, sends them signed, records every attempt.
//!
//! Each target has its own slots, and a claim asks only for rows of targets with a free
//! slot: a receiver that hangs until the timeout fills its own slots, never the others'.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use super::schedule::{jitter, parse_retry_after, retry_delay};
use super::signing::sign;
use crate::config::{Settings, WebhookTarget};
use crate::domain::WebhookTargetKind;
use crate::store::attempts::{self, Outcome};
use crate::store::models::DeliveryRow;
use crate::store::outbox;
use crate::store::{now_micros, Db};

/// Every target a delivery can have.
const TARGETS: [WebhookTargetKind; 3] = [
    WebhookTargetKind::Group,
    WebhookTargetKind::Billing,
    WebhookTargetKind::Notification,
];
/// Deliveries in flight at once, per target and instance.
const SLOTS_PER_TARGET: usize = 16;
/// The longest the worker sleeps without looking at the outbox (the safety-net sweep).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// How long a claim outlives the attempt's timeout: time to record the outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// The webhook worker; `notify` wakes it when a transaction has added deliveries.
pub struct Worker {
    db: Db,
    settings: Arc<Settings>,
    client: reqwest::Client,
    notify: Arc<Notify>,
    slots: HashMap<WebhookTargetKind, Arc<Semaphore>>,
    /// Wakes the loop when a delivery ends: its target has a free slot, and rows that
    /// waited for it (`after_id`) may be sendable.
    finished: Notify,
}

impl Worker {
    pub fn new(db: Db, settings: Arc<Settings>, client: reqwest::Client, notify: Arc<Notify>) -> Self {
        Self {
            db,
            settings,
            client,
            notify,
            slots: TARGETS
                .into_iter()
                .map(|target| (target, Arc::new(Semaphore::new(SLOTS_PER_TARGET))))
                .collect(),
            finished: Notify::new(),
        }
    }

    /// A claim outlives the longest attempt, so a live worker rarely loses its rows; a
    /// crashed one's rows are taken over once it runs out.
    fn lease(&self) -> Duration {
        Duration::from_millis(self.settings.webhook_timeout_ms) + LEASE_MARGIN
    }

    /// Runs until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            let claimed = self.claim_batch().await;
            if claimed > 0 {
                continue;
            }
            let wait = self.until_next_due().await;
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = self.finished.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The targets with a free slot right now.
    fn open_targets(&self) -> Vec<WebhookTargetKind> {
        TARGETS
            .into_iter()
            .filter(|target| self.slots[target].available_permits() > 0)
            .collect()
    }

    async fn until_next_due(&self) -> Duration {
        let targets = self.open_targets();
        if targets.is_empty() {
            // Every target is full: the next delivery to finish wakes the loop.
            return SWEEP_INTERVAL;
        }
        match self.db.run(move |conn| outbox::next_due(conn, &targets)).await {
            Ok(Some(micros)) => {
                let micros = micros.clamp(1_000, SWEEP_INTERVAL.as_micros() as i64);
                Duration::from_micros(micros as u64)
            }
            _ => SWEEP_INTERVAL,
        }
    }

    /// Claims, per target, as many due rows as it has free slots, and starts their delivery.
    async fn claim_batch(self: &Arc<Self>) -> usize {
        // The slots are taken before the claim, so every claimed row has one at once.
        let mut free: HashMap<WebhookTargetKind, Vec<OwnedSemaphorePermit>> = TARGETS
            .into_iter()
            .map(|target| {
                let slots = &self.slots[&target];
                let permits = std::iter::from_fn(|| slots.clone().try_acquire_owned().ok()).collect();
                (target, permits)
            })
            .filter(|(_, permits): &(_, Vec<_>)| !permits.is_empty())
            .collect();
        if free.is_empty() {
            return 0;
        }
        let wanted: Vec<(WebhookTargetKind, i64)> = free
            .iter()
            .map(|(target, permits)| (*target, permits.len() as i64))
            .collect();
        let lease = self.lease();
        let rows = match self
            .db
            .run(move |conn| outbox::claim_due(conn, &wanted, lease))
            .await
        {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(%error, "could not claim webhook deliveries");
                tokio::time::sleep(SWEEP_INTERVAL).await;
                return 0;
            }
        };
        let claimed = rows.len();
        for row in rows {
            let permit = row
                .target
                .parse::<WebhookTargetKind>()
                .ok()
                .and_then(|target| free.get_mut(&target)?.pop());
            let worker = Arc::clone(self);
            tokio::spawn(async move {
                worker.deliver(row).await;
                drop(permit);
                worker.finished.notify_one();
            });
        }
        claimed
    }

    fn target(&self, kind: &str) -> Option<&WebhookTarget> {
        match kind.parse::<WebhookTargetKind>().ok()? {
            WebhookTargetKind::Group => self.settings.group_service.as_ref(),
            WebhookTargetKind::Billing => self.settings.billing_service.as_ref(),
            WebhookTargetKind::Notification => self.settings.notification_service.as_ref(),
        }
    }

    #[tracing::instrument(skip_all, fields(webhook_id = %row.webhook_id, target = %row.target))]
    async fn deliver(&self, row: DeliveryRow) {
        let attempt = row.attempts + 1;
        let started = Instant::now();
        let at = now_micros();
        let (status_code, error, retry_after) = match self.target(&row.target) {
            Some(target) => self.send(target, &row).await,
            None => (None, Some("the target is not configured".to_owned()), None),
        };
        let duration_ms = started.elapsed().as_millis() as i64;
        let outcome = match &error {
            None => Outcome::Delivered,
            Some(error) if attempt as u32 >= self.settings.webhook_max_attempts => {
                Outcome::Failed { error: error.clone() }
            }
            Some(error) => {
                let base = Duration::from_millis(self.settings.webhook_retry_base_ms);
                Outcome::Retry {
                    after: retry_delay(attempt as u32, base, jitter(), retry_after),
                    error: error.clone(),
                }
            }
        };
        match &outcome {
            Outcome::Delivered => tracing::info!(attempt, duration_ms, "webhook delivered"),
            Outcome::Retry { error, .. } => {
                tracing::warn!(attempt, %error, "webhook attempt failed; will retry")
            }
            Outcome::Failed { error } => tracing::error!(attempt, %error, "webhook delivery failed for good"),
        }
        let record = attempts::new_attempt(&row.id, attempt, at, status_code, error, duration_ms);
        let result = self
            .db
            .run(move |conn| attempts::record_attempt(conn, &row, &record, &outcome))
            .await;
        match result {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!("the claim ran out before the attempt was recorded; its new holder sends it")
            }
            // The claim runs out and the delivery is tried again: at-least-once.
            Err(error) => tracing::error!(%error, "could not record a webhook attempt"),
        }
    }

    /// One HTTP attempt: the status code, the error if it failed, and any `Retry-After`.
    async fn send(
        &self,
        target: &WebhookTarget,
        row: &DeliveryRow,
    ) -> (Option<i32>, Option<String>, Option<Duration>) {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(
            target.secret.expose(),
            &row.webhook_id,
            timestamp,
            row.payload.as_bytes(),
        );
        let result = self
            .client
            .post(&target.url)
            .timeout(Duration::from_millis(self.settings.webhook_timeout_ms))
            .header("content-type", "application/json")
            .header("webhook-id", &row.webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(row.payload.clone())
            .send()
            .await;
        match result {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return (Some(i32::from(status.as_u16())), None, None);
                }
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                (
                    Some(i32::from(status.as_u16())),
                    Some(format!("the receiver answered {status}")),
                    retry_after,
                )
            }
            Err(error) => {
                let kind = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "could not connect"
                } else {
                    "request failed"
                };
                (None, Some(format!("{kind}: {}", error.without_url())), None)
            }
        }
    }
}
