//! Asking for access: a new pending request.

use serde_json::json;
use uuid::Uuid;

use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::{
    duration_allowed, external_requests_enabled, may_request, over_limit, over_pending_cap, pending_expiry,
    AccountId, ProductKey, RequestAttempt, RequestKind, RequestStatus,
};
use crate::error::{ApiError, ApiResult};
use crate::store::context::{self, CreateContext};
use crate::store::models::{RequestRow, SiteRow};
use crate::store::records::{audit, AuditEntry};
use crate::store::{directory, now_micros, requests, transaction, DbConnection};

/// Whom an on-behalf request is for, as the requester named them.
#[derive(Debug, Clone)]
pub struct NewSubject {
    pub account_id: AccountId,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

/// A new access request, parsed at the edge.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub product_key: ProductKey,
    pub subject: Option<NewSubject>,
    pub reason: Option<String>,
    pub duration_hours: Option<i32>,
}

/// Who the subject is, as far as the service can tell.
struct Subject {
    email: Option<String>,
    display_name: Option<String>,
    on_site: bool,
    /// False when the email is one the requester typed.
    email_verified: bool,
}

/// Creates a pending request (contract §2): who may ask for whom, blocks, the product and its
/// maximum duration, the abuse limits, existing access and duplicates, in that order.
pub fn create_request(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    input: &NewRequest,
) -> ApiResult<RequestRow> {
    transaction(c, |c| {
        let me = &caller.identity;
        let subject_id = input.subject.as_ref().map_or(&me.account_id, |s| &s.account_id);
        let facts = context::create_context(
            c,
            site_id,
            caller.account_id(),
            input.product_key.as_str(),
            subject_id.as_str(),
        )?;
        let site = &facts.site;
        let access = facts.access();
        let kind = RequestKind::of(&me.account_id, Some(subject_id));
        may_request(RequestAttempt {
            email_verified: me.email_verified,
            caller_on_site: access.on_site(),
            caller_blocked: facts.blocked,
            kind,
            external_requests_enabled: external_requests_enabled(site.in_rollout, site.opted_out),
        })?;
        if !facts.product_exists {
            return Err(ApiError::Unprocessable {
                code: "unknown_product",
                detail: format!("the site has no product `{}`", input.product_key),
            });
        }
        duration_allowed(input.duration_hours, facts.max_duration_hours)?;
        let requester_name = me.name.clone().or_else(|| facts.caller_display_name.clone());
        let subject = match (kind, &input.subject) {
            (RequestKind::OnBehalf, Some(named)) => on_behalf_subject(&facts, named)?,
            _ => Subject {
                email: me.email.clone(),
                display_name: requester_name.clone(),
                on_site: access.on_site(),
                email_verified: true,
            },
        };
        check_limits(c, settings, site, caller.account_id())?;
        if facts.subject_has_access {
            return Err(ApiError::conflict(
                "already_has_access",
                format!("{subject_id} already has {} on this site", input.product_key),
            ));
        }
        if let Some(existing) = &facts.duplicate {
            return Err(ApiError::Conflict {
                code: "duplicate_request",
                detail: "a pending request for this product and person exists".to_owned(),
                existing_request_id: existing.parse().ok(),
            });
        }
        let now = now_micros();
        let row = RequestRow {
            id: Uuid::new_v4().to_string(),
            site_id: site.id.clone(),
            product_key: input.product_key.as_str().to_owned(),
            kind: kind.as_str().to_owned(),
            status: RequestStatus::Pending.as_str().to_owned(),
            requester_account_id: caller.account_id().to_owned(),
            requester_email: me.email.clone().unwrap_or_default(),
            requester_display_name: requester_name,
            requester_on_site: access.on_site(),
            subject_account_id: subject_id.as_str().to_owned(),
            subject_email: subject.email,
            subject_display_name: subject.display_name,
            subject_on_site: subject.on_site,
            reason: input.reason.clone(),
            created_at: now,
            decided_at: None,
            decided_by: None,
            decision_message: None,
            version: 1,
            duration_hours: input.duration_hours,
            expires_at: Some(pending_expiry(
                now,
                site.pending_ttl_hours,
                settings.pending_request_ttl_secs,
            )),
            grant_id: None,
            subject_email_verified: subject.email_verified,
        };
        requests::insert(c, &row)?;
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "access_request.created",
                request_id: Some(&row.id),
                details: json!({
                    "product_key": row.product_key,
                    "kind": row.kind,
                    "subject_account_id": row.subject_account_id,
                    "duration_hours": row.duration_hours,
                }),
            },
        )?;
        Ok(row)
    })
}

/// The subject of an on-behalf request: the directory's record of a site user, else what the
/// requester typed (an email nobody has proven, so never trusted as verified; a user an
/// approval adds with it keeps it unverified).
fn on_behalf_subject(facts: &CreateContext, named: &NewSubject) -> ApiResult<Subject> {
    if let Some(email) = &facts.subject_email {
        return Ok(Subject {
            email: Some(email.clone()),
            display_name: facts.subject_display_name.clone(),
            on_site: true,
            email_verified: facts.subject_email_verified.unwrap_or(false),
        });
    }
    let email = named.email.clone().ok_or_else(|| {
        ApiError::invalid(
            "subject.email",
            "is required for someone who is not a user of the site",
        )
    })?;
    Ok(Subject {
        email: Some(email),
        display_name: named.display_name.clone(),
        on_site: false,
        email_verified: false,
    })
}

const MINUTE_MICROS: i64 = 60_000_000;

/// The abuse limits: creations per minute per account, pending requests per account and site.
/// The requester's lock row serializes their concurrent creations (on every instance), so the
/// counts below are exact.
fn check_limits(c: &mut DbConnection, settings: &Settings, site: &SiteRow, requester: &str) -> ApiResult<()> {
    let rate = settings.rate_limit_create_per_minute;
    let cap = settings.max_pending_per_requester;
    if rate == 0 && cap == 0 {
        return Ok(());
    }
    let now = now_micros();
    directory::lock_requester(c, requester, now)?;
    if rate > 0 {
        let (count, oldest) = requests::created_since(c, requester, now - MINUTE_MICROS)?;
        if let Some(retry_after_secs) =
            over_limit(count as u64, rate, oldest.unwrap_or(now), MINUTE_MICROS, now)
        {
            return Err(ApiError::RateLimited {
                retry_after_secs,
                detail: format!("at most {rate} access requests a minute per account"),
            });
        }
    }
    if cap > 0
        && over_pending_cap(
            requests::pending_by_requester(c, &site.id, requester)? as u64,
            cap,
        )
    {
        return Err(ApiError::RateLimited {
            retry_after_secs: 60,
            detail: format!("at most {cap} pending requests per account on a site"),
        });
    }
    Ok(())
}
