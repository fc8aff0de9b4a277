//! Site administration: request blocks, access request settings and the rollout, feedback.

use serde_json::json;
use uuid::Uuid;

use super::access::administered_site;
use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::{pending_ttl_micros, AccountId};
use crate::error::{ApiError, ApiResult};
use crate::store::directory::{self, SiteSettings};
use crate::store::models::{FeedbackRow, SiteRow};
use crate::store::records::{self, audit, AuditEntry};
use crate::store::{now_micros, requests, transaction, DbConnection};

/// Lifts a block: the account may request access again. Site admins and org admins.
pub fn unblock(c: &mut DbConnection, caller: &Caller, site_id: &str, account: &AccountId) -> ApiResult<()> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        if !directory::delete_block(c, &site.id, account.as_str())? {
            return Err(ApiError::not_found("the block"));
        }
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "request_block.deleted",
                request_id: None,
                details: json!({"account_id": account.as_str()}),
            },
        )
    })
}

/// A change of the site's settings by one of its admins.
pub struct SettingsChange {
    pub opted_out: Option<bool>,
    /// `Some(None)`: back to the service default.
    pub pending_ttl_hours: Option<Option<i32>>,
}

/// Opts the site out of external requests (or back in) and sets how long its pending
/// requests wait: the new time applies to every pending request of the site at once.
pub fn update_settings(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    change: SettingsChange,
) -> ApiResult<SiteRow> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        let updated = directory::update_settings(
            c,
            &site.id,
            &SiteSettings {
                opted_out: change.opted_out,
                in_rollout: None,
                pending_ttl_hours: change.pending_ttl_hours,
            },
        )?;
        if change.pending_ttl_hours.is_some() {
            let ttl = pending_ttl_micros(updated.pending_ttl_hours, settings.pending_request_ttl_secs);
            requests::set_pending_ttl(c, &site.id, ttl)?;
        }
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "settings.updated",
                request_id: None,
                details: json!({"opted_out": change.opted_out, "pending_ttl_hours": change.pending_ttl_hours}),
            },
        )?;
        Ok(updated)
    })
}

/// Puts the site in the measured rollout of external requests, or takes it out. Platform admins.
pub fn set_rollout(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    in_rollout: bool,
) -> ApiResult<SiteRow> {
    transaction(c, |c| {
        let site = directory::find_site(c, site_id)?;
        caller.require_platform_admin()?;
        let updated = directory::update_settings(
            c,
            &site.id,
            &SiteSettings {
                opted_out: None,
                in_rollout: Some(in_rollout),
                pending_ttl_hours: None,
            },
        )?;
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "rollout.updated",
                request_id: None,
                details: json!({"in_rollout": in_rollout}),
            },
        )?;
        Ok(updated)
    })
}

/// Records an admin's feedback on the feature. Site admins and org admins.
pub fn send_feedback(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    rating: i32,
    comment: Option<String>,
) -> ApiResult<FeedbackRow> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        let row = FeedbackRow {
            id: Uuid::new_v4().to_string(),
            site_id: site.id.clone(),
            account_id: caller.account_id().to_owned(),
            rating,
            comment,
            created_at: now_micros(),
        };
        records::insert_feedback(c, &row)?;
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "feedback.created",
                request_id: None,
                details: json!({"feedback_id": row.id, "rating": row.rating}),
            },
        )?;
        Ok(row)
    })
}
