//! What ends by itself: pending requests nobody decided, grants whose end has come, and the
//! warning before a grant ends. Each step claims one row (`SKIP LOCKED` on PostgreSQL, so every
//! instance can take part and each row is handled once) and handles it in one transaction.

use serde_json::json;

use super::decide::transition;
use super::grants::end_grant;
use crate::config::Settings;
use crate::domain::{EndReason, RequestStatus};
use crate::error::ApiResult;
use crate::store::records::{audit, AuditEntry};
use crate::store::requests::{self, Transition};
use crate::store::{directory, grants, now_micros, outbox, transaction, DbConnection};
use crate::webhooks::events;

/// Expires the oldest overdue pending request, if there is one: `decided_at` set, no
/// decider, its audit event and the notification. `false` when none is due.
pub fn expire_next_request(c: &mut DbConnection, settings: &Settings) -> ApiResult<bool> {
    transaction(c, |c| {
        let now = now_micros();
        let Some(row) = requests::claim_expired(c, now)? else {
            return Ok(false);
        };
        let expired = transition(
            c,
            &row,
            None,
            Transition {
                status: RequestStatus::Expired,
                decided_by: None,
                decided_at: now,
                message: None,
                grant_id: None,
            },
        )?;
        audit(
            c,
            AuditEntry {
                site_id: &expired.site_id,
                actor: None,
                action: "access_request.expired",
                request_id: Some(&expired.id),
                details: json!({
                    "product_key": expired.product_key,
                    "subject_account_id": expired.subject_account_id,
                }),
            },
        )?;
        if let Some(delivery) = events::access_request_decided(settings, &expired) {
            outbox::enqueue(c, &delivery)?;
        }
        Ok(true)
    })
}

/// Ends the grant whose end came first, if one has come: exactly as a revoke, with status
/// and reason `expired` and no actor. `false` when none is due.
pub fn expire_next_grant(c: &mut DbConnection, settings: &Settings) -> ApiResult<bool> {
    transaction(c, |c| {
        let Some(grant) = grants::claim_expired(c, now_micros())? else {
            return Ok(false);
        };
        let site = directory::find_site(c, &grant.site_id)?;
        end_grant(c, settings, &site, &grant, EndReason::Expired, None, None)?;
        Ok(true)
    })
}

/// Queues `grant.expiring` for the next grant from a request that ends within
/// `GRANT_EXPIRY_WARNING_SECS`, once per grant. `false` when none is due.
pub fn warn_next_grant(c: &mut DbConnection, settings: &Settings) -> ApiResult<bool> {
    transaction(c, |c| {
        let now = now_micros();
        let until = now.saturating_add(warning_micros(settings));
        let Some(grant) = grants::claim_unwarned(c, until)? else {
            return Ok(false);
        };
        grants::mark_warned(c, &grant.id, now)?;
        if let Some(delivery) = events::grant_expiring(settings, &grant) {
            outbox::enqueue(c, &delivery)?;
        }
        Ok(true)
    })
}

fn warning_micros(settings: &Settings) -> i64 {
    i64::try_from(settings.grant_expiry_warning_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

/// When the next of these falls due (a pending request, a grant's end, a warning), if any.
pub fn next_due(c: &mut DbConnection, settings: &Settings) -> ApiResult<Option<i64>> {
    let warning = grants::next_unwarned(c)?.map(|at| at.saturating_sub(warning_micros(settings)));
    Ok([requests::next_expiry(c)?, grants::next_expiry(c)?, warning]
        .into_iter()
        .flatten()
        .min())
}
