//! Bulk decisions: approve or deny up to 100 requests of a site in one call.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::request_types::AccessRequest;
use super::requests::{answer, render};
use super::{idempotency_key, path_id, JsonObject};
use crate::app::bulk::{decide_all, BulkDecision};
use crate::app::idempotency;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::startup::AppState;
use crate::store::to_micros;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/sites/{site_id}/access-requests/bulk").route(web::post().to(bulk_decide)));
}

/// The most requests one bulk call decides.
pub const MAX_BULK_IDS: usize = 100;

/// What a bulk call does to each of its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    Approve,
    Deny,
}

/// A bulk decision.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"action": "approve", "ids": ["7b5c1a55-2f61-4c2e-9a43-3c8f2a1d9e01"]}))]
pub struct BulkDecisionBody {
    pub action: BulkAction,
    /// The requests to decide, 1–100 distinct ids of this site, in the order the results follow.
    #[schema(min_items = 1, max_items = 100, value_type = Vec<Uuid>)]
    pub ids: Vec<String>,
    /// A message for the requesters (deny only).
    #[schema(pattern = "^[^\\u0000]*$", max_length = 500)]
    pub message: Option<String>,
    /// When the access ends, in the future (approve only); as `expires_at` of a single approval.
    pub expires_at: Option<DateTime<Utc>>,
}

impl BulkDecisionBody {
    /// The field rules JSON Schema cannot say (distinct UUIDs, what goes with which action).
    pub fn parse(self) -> ApiResult<(Vec<String>, BulkDecision)> {
        let mut errors = Vec::new();
        if self.ids.is_empty() || self.ids.len() > MAX_BULK_IDS {
            errors.push(FieldError::new("ids", "must hold 1 to 100 request ids"));
        }
        let mut seen = HashSet::new();
        let mut ids = Vec::with_capacity(self.ids.len());
        for (index, raw) in self.ids.iter().enumerate() {
            match Uuid::parse_str(raw) {
                Ok(id) if seen.insert(id) => ids.push(id.hyphenated().to_string()),
                Ok(_) => errors.push(FieldError::new(format!("ids[{index}]"), "repeats an earlier id")),
                Err(_) => errors.push(FieldError::new(format!("ids[{index}]"), "must be a UUID")),
            }
        }
        if self.action == BulkAction::Approve && self.message.is_some() {
            errors.push(FieldError::new("message", "only a denial carries a message"));
        }
        let message = self.message;
        if let Some(message) = &message {
            if message.chars().count() > 500 || message.contains('\0') {
                errors.push(FieldError::new("message", "at most 500 characters, without NUL"));
            }
        }
        if self.action == BulkAction::Deny && self.expires_at.is_some() {
            errors.push(FieldError::new(
                "expires_at",
                "only an approval sets when access ends",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let decision = match self.action {
            BulkAction::Approve => BulkDecision::Approve {
                expires_at: self.expires_at.map(to_micros),
            },
            BulkAction::Deny => BulkDecision::Deny { message },
        };
        Ok((ids, decision))
    }
}

/// How one request of a bulk call went: the status its single endpoint would have answered,
/// with the request on `200` or the problem otherwise.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    pub id: Uuid,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<AccessRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}

/// One result per id, in the order given.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResults {
    pub results: Vec<BulkResult>,
}

/// Approve or deny up to 100 requests at once.
///
/// Each id is decided exactly as by its single endpoint, in its own transaction (partial
/// success): grants, seats, webhooks, blocks and audit events alike. One result per id, in the
/// order given; `status` is what the single endpoint would have answered. Site admins and org
/// admins. With `Idempotency-Key`, a retry gets the first answer again.
#[utoipa::path(
    post, path = "/v1/sites/{site_id}/access-requests/bulk", operation_id = "decide_access_requests", tag = "access-requests",
    params(
        ("site_id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: 1-255 visible ASCII characters",
            nullable = false, min_length = 1, max_length = 255, pattern = "^[!-~]{1,255}$")
    ),
    request_body = BulkDecisionBody,
    responses((status = 200, description = "One result per id", body = BulkResults)),
    security(("bearer" = []))
)]
pub async fn bulk_decide(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<JsonObject<BulkDecisionBody>>,
) -> ApiResult<HttpResponse> {
    let site_id = path_id(&path, "the site")?;
    let key = idempotency_key(&req)?;
    let body = body.into_inner().into_inner();
    let canonical = serde_json::to_value(&body).unwrap_or_default();
    let (ids, decision) = body.parse()?;
    let settings = state.settings.clone();
    let results = state
        .db
        .run(move |c| {
            let key = key.as_deref().map(|k| {
                idempotency::Key::new(caller.account_id(), k, &format!("bulk {site_id}"), &canonical)
            });
            idempotency::afterwards(c, key.as_ref(), |c| {
                let outcomes = decide_all(c, &settings, &caller, &site_id, &ids, &decision)?;
                let results = ids
                    .iter()
                    .zip(outcomes)
                    .map(|(id, outcome)| result(id, outcome))
                    .collect();
                answer(StatusCode::OK, None, &BulkResults { results })
            })
        })
        .await?;
    state.outbox_notify.notify_one();
    Ok(render(results))
}

fn result(id: &str, outcome: ApiResult<crate::store::models::RequestRow>) -> BulkResult {
    let id = id.parse().unwrap_or_default();
    match outcome {
        Ok(row) => BulkResult {
            id,
            status: 200,
            request: Some(row.into()),
            problem: None,
        },
        Err(error) => {
            if let ApiError::Internal(cause) = &error {
                tracing::error!(error = ?cause, "bulk decision failed");
            }
            BulkResult {
                id,
                status: error.status_code().as_u16(),
                request: None,
                problem: Some(error.problem()),
            }
        }
    }
}
