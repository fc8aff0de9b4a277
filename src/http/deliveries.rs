//! Operators' view of the webhook outbox.

use actix_web::web;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{optional_body, page, path_id};
use crate::auth::Caller;
use crate::domain::{DeliveryStatus, WebhookTargetKind};
use crate::error::ApiResult;
use crate::startup::AppState;
use crate::store::attempts::{self, AttemptLog};
use crate::store::models::{AttemptRow, DeliveryRow};
use crate::store::{outbox, to_datetime, DbConnection};

/// How many attempts a delivery shows: the newest ones.
const ATTEMPT_LOG_LIMIT: i64 = 10;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/webhook-deliveries").route(web::get().to(list_deliveries)));
    cfg.service(
        web::resource("/v1/webhook-deliveries/retry-failed").route(web::post().to(retry_failed_deliveries)),
    );
    cfg.service(
        web::resource("/v1/webhook-deliveries/{delivery_id}/retry").route(web::post().to(retry_delivery)),
    );
}

/// One webhook to deliver, and how its delivery went.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: Uuid,
    /// The `webhook-id` header: the same on every attempt; receivers deduplicate by it.
    pub webhook_id: String,
    pub request_id: Uuid,
    /// The grant a group, billing or grant event is about.
    pub grant_id: Option<Uuid>,
    pub target: WebhookTargetKind,
    /// The event type, e.g. `billing.seat.start`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub status: DeliveryStatus,
    /// Attempts made in the current series.
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The newest attempts (at most 10), oldest first; a retried delivery keeps its earlier ones.
    pub attempt_log: Vec<DeliveryAttempt>,
    /// How many attempts were made in all, including those `attempt_log` leaves out.
    pub attempt_log_total: i64,
}

/// One HTTP attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// Why the attempt failed (timeout, refused connection, non-2xx status).
    pub error: Option<String>,
    pub duration_ms: i64,
}

impl From<AttemptRow> for DeliveryAttempt {
    fn from(a: AttemptRow) -> Self {
        DeliveryAttempt {
            at: to_datetime(a.at),
            status_code: a.status_code,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

impl WebhookDelivery {
    fn new(d: DeliveryRow, log: AttemptLog) -> Self {
        WebhookDelivery {
            id: d.id.parse().unwrap_or_default(),
            webhook_id: d.webhook_id,
            request_id: d.request_id.parse().unwrap_or_default(),
            grant_id: d.grant_id.and_then(|id| id.parse().ok()),
            target: d.target.parse().unwrap_or(WebhookTargetKind::Notification),
            event_type: d.event_type,
            status: d.status.parse().unwrap_or(DeliveryStatus::Pending),
            attempts: d.attempts,
            next_attempt_at: to_datetime(d.next_attempt_at),
            last_error: d.last_error,
            created_at: to_datetime(d.created_at),
            attempt_log: log.attempts.into_iter().map(DeliveryAttempt::from).collect(),
            attempt_log_total: log.total,
        }
    }
}

/// Deliveries with their newest attempts, in two queries.
fn with_attempts(c: &mut DbConnection, rows: Vec<DeliveryRow>) -> ApiResult<Vec<WebhookDelivery>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut logs = attempts::recent_attempts(c, &ids, ATTEMPT_LOG_LIMIT)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let log = logs.remove(&r.id).unwrap_or_default();
            WebhookDelivery::new(r, log)
        })
        .collect())
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDelivery>,
    pub next_cursor: Option<String>,
}

/// Filters of the delivery list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    pub status: Option<DeliveryStatus>,
    /// How many items to return, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// List webhook deliveries.
///
/// Newest first, with a status filter and a cursor: each delivery with its target, event type,
/// status, attempts and the last 10 attempts (`attempt_log`, with `attempt_log_total`).
/// Platform admins.
#[utoipa::path(
    get, path = "/v1/webhook-deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(DeliveryQuery),
    responses((status = 200, description = "One page", body = WebhookDeliveryPage)),
    security(("bearer" = []))
)]
pub async fn list_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    query: web::Query<DeliveryQuery>,
) -> ApiResult<web::Json<WebhookDeliveryPage>> {
    caller.require_platform_admin()?;
    let query = query.into_inner();
    let (limit, cursor) = page(query.limit, query.cursor.as_deref())?;
    let status = query.status;
    let page = state
        .db
        .run(move |c| {
            let page = outbox::list(c, status, limit, cursor)?;
            Ok(WebhookDeliveryPage {
                items: with_attempts(c, page.items)?,
                next_cursor: page.next_cursor,
            })
        })
        .await?;
    Ok(web::Json(page))
}

/// Retry a failed webhook delivery.
///
/// It starts a new series of attempts and keeps its `webhook-id`, so receivers still
/// deduplicate it. Only a `failed` delivery can be retried (`409 not_failed`). Platform admins.
#[utoipa::path(
    post, path = "/v1/webhook-deliveries/{delivery_id}/retry", operation_id = "retry_webhook_delivery", tag = "webhooks",
    params(("delivery_id" = Uuid, Path)),
    responses((status = 200, description = "Queued again", body = WebhookDelivery)),
    security(("bearer" = []))
)]
pub async fn retry_delivery(
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<web::Json<WebhookDelivery>> {
    caller.require_platform_admin()?;
    let id = path_id(&path, "the webhook delivery")?;
    let delivery = state
        .db
        .transaction(move |c| {
            let row = outbox::requeue(c, &id)?;
            Ok(with_attempts(c, vec![row])?.remove(0))
        })
        .await?;
    state.outbox_notify.notify_one();
    Ok(web::Json(delivery))
}

/// Which failed deliveries to re-queue.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryFailed {
    /// Only the failed deliveries to this target; all of them when left out.
    pub target: Option<WebhookTargetKind>,
}

/// How many failed deliveries went back in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: usize,
}

/// Retry every failed webhook delivery at once.
///
/// Every failed delivery, or every one to `target`, starts a new series of attempts and keeps
/// its `webhook-id`. The body is optional. Platform admins.
#[utoipa::path(
    post, path = "/v1/webhook-deliveries/retry-failed", operation_id = "retry_failed_webhook_deliveries", tag = "webhooks",
    request_body(content = RetryFailed, description = "Optional: `{target?}`, `{}`, `null` or no body"),
    responses((status = 200, description = "Queued again", body = Requeued)),
    security(("bearer" = []))
)]
pub async fn retry_failed_deliveries(
    caller: Caller,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> ApiResult<web::Json<Requeued>> {
    caller.require_platform_admin()?;
    let RetryFailed { target } = optional_body(&body)?;
    let requeued = state.db.run(move |c| outbox::requeue_failed(c, target)).await?;
    state.outbox_notify.notify_one();
    Ok(web::Json(Requeued { requeued }))
}
