//! Delivers the outbox: claims due rows, sends them signed, records every attempt.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use super::schedule::{jitter, parse_retry_after, retry_delay};
use super::signing::sign;
use crate::config::{Settings, WebhookTarget};
use crate::domain::WebhookTargetKind;
use crate::store::models::DeliveryRow;
use crate::store::outbox::{self, Outcome};
use crate::store::{now_micros, Db};

/// Deliveries in flight at once, per instance.
const MAX_IN_FLIGHT: usize = 32;
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
    slots: Arc<Semaphore>,
}

impl Worker {
    pub fn new(db: Db, settings: Arc<Settings>, client: reqwest::Client, notify: Arc<Notify>) -> Self {
        Self {
            db,
            settings,
            client,
            notify,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// A claim outlives the longest attempt, so a live worker never loses its rows;
    /// a crashed one's rows are taken over once it runs out.
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
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn until_next_due(&self) -> Duration {
        match self.db.run(outbox::next_due).await {
            Ok(Some(at)) => {
                let micros = (at - now_micros()).clamp(1_000, SWEEP_INTERVAL.as_micros() as i64);
                Duration::from_micros(micros as u64)
            }
            _ => SWEEP_INTERVAL,
        }
    }

    /// Claims as many due rows as there are free slots and starts their delivery.
    async fn claim_batch(self: &Arc<Self>) -> usize {
        let free = self.slots.available_permits();
        if free == 0 {
            // Wait for one delivery to finish before claiming more.
            drop(self.slots.clone().acquire_owned().await);
            return 0;
        }
        let now = now_micros();
        let lease_until = now + self.lease().as_micros() as i64;
        let rows = match self
            .db
            .run(move |conn| outbox::claim_due(conn, now, lease_until, free as i64))
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
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                return claimed;
            };
            let worker = Arc::clone(self);
            tokio::spawn(async move {
                worker.deliver(row).await;
                drop(permit);
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
                let wait = retry_delay(attempt as u32, base, jitter(), retry_after);
                Outcome::RetryAt {
                    at: now_micros() + wait.as_micros() as i64,
                    error: error.clone(),
                }
            }
        };
        match &outcome {
            Outcome::Delivered => tracing::info!(attempt, duration_ms, "webhook delivered"),
            Outcome::RetryAt { error, .. } => {
                tracing::warn!(attempt, %error, "webhook attempt failed; will retry")
            }
            Outcome::Failed { error } => tracing::error!(attempt, %error, "webhook delivery failed for good"),
        }
        let record = outbox::new_attempt(&row.id, attempt, at, status_code, error, duration_ms);
        let result = self
            .db
            .run(move |conn| outbox::record_attempt(conn, &row, &record, &outcome))
            .await;
        if let Err(error) = result {
            // The claim runs out and the delivery is tried again: at-least-once.
            tracing::error!(%error, "could not record a webhook attempt");
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
