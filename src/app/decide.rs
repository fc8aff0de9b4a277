//! Deciding a pending request: approve, deny, and the requester's cancel.

use serde_json::json;
use uuid::Uuid;

use super::access::{administered_site, require_site_admin};
use super::grants::{start_grant, NewGrant, ProductTerms};
use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::{
    approval_end, denial_blocks_requester, may_transition, EndRefusal, RequestKind, RequestStatus, SiteRole,
    TransitionRefusal,
};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{BlockRow, RequestRow, SiteUserRow};
use crate::store::records::{audit, AuditEntry};
use crate::store::requests::{self, Transition};
use crate::store::{context, directory, now_micros, outbox, transaction, DbConnection};
use crate::webhooks::events;

/// What an approver may say: when the access ends, and the version they reviewed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Approval {
    pub expires_at: Option<i64>,
    pub if_match: Option<i64>,
}

/// What a denier may say: a message for the requester, and the version they reviewed.
#[derive(Debug, Clone, Default)]
pub struct Denial {
    pub message: Option<String>,
    pub if_match: Option<i64>,
}

/// A request of the site, or `404`.
pub fn find_request(c: &mut DbConnection, site_id: &str, request_id: &str) -> ApiResult<RequestRow> {
    requests::find(c, site_id, request_id)?.ok_or_else(|| ApiError::not_found("the access request"))
}

/// Ends a pending request; of concurrent callers exactly one passes. A request that is no
/// longer pending answers `409 not_pending`, whatever `If-Match` says; a stale `If-Match` on a
/// pending one `412`.
pub fn transition(
    c: &mut DbConnection,
    row: &RequestRow,
    if_match: Option<i64>,
    change: Transition<'_>,
) -> ApiResult<RequestRow> {
    let status: RequestStatus = row.status.parse().unwrap_or(RequestStatus::Pending);
    may_transition(status, row.version, if_match)?;
    if let Some(changed) = requests::transition(c, row, change)? {
        return Ok(changed);
    }
    // Someone else changed it between our read and our write.
    let now = find_request(c, &row.site_id, &row.id)?;
    let status: RequestStatus = now.status.parse().unwrap_or(RequestStatus::Pending);
    may_transition(status, now.version, Some(row.version))?;
    Err(TransitionRefusal::NotPending.into())
}

/// A request of the site for one of its admins to decide, with what deciding it needs, in one
/// round trip. When there is none, `404` for an unknown site and `403` for a caller who is no
/// admin of it come before `404` for the request.
fn to_decide(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
) -> ApiResult<context::DecisionContext> {
    let Some(facts) = context::decision_context(c, site_id, request_id, caller.account_id())? else {
        administered_site(c, caller, site_id)?;
        return Err(ApiError::not_found("the access request"));
    };
    require_site_admin(&facts.access())?;
    Ok(facts)
}

/// Approves a pending request (contract §2): in one transaction the request is approved, the
/// subject becomes a site member if needed and gets the product as a new grant (within its
/// seat limit and maximum duration), with the audit event and the group, billing and
/// notification webhooks. A subject who already has the product is approved without a new
/// grant and without group or billing webhooks.
pub fn approve(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
    approval: Approval,
) -> ApiResult<RequestRow> {
    super::retrying(|| {
        transaction(c, |c| {
            let facts = to_decide(c, caller, site_id, request_id)?;
            let now = now_micros();
            if approval.expires_at.is_some_and(|at| at <= now) {
                return Err(EndRefusal::NotInFuture.into());
            }
            let row = &facts.request;
            let site_id = row.site_id.as_str();
            let status: RequestStatus = row.status.parse().unwrap_or(RequestStatus::Pending);
            may_transition(status, row.version, approval.if_match)?;
            let (grant_id, end) = match &facts.existing_grant_id {
                Some(existing) => (existing.clone(), None),
                None => {
                    let end = approval_end(
                        now,
                        approval.expires_at,
                        row.duration_hours,
                        facts.max_duration_hours,
                    )?;
                    (Uuid::new_v4().to_string(), end)
                }
            };
            let approved = transition(
                c,
                row,
                approval.if_match,
                Transition {
                    status: RequestStatus::Approved,
                    decided_by: Some(caller.account_id()),
                    decided_at: now,
                    message: None,
                    grant_id: Some(&grant_id),
                },
            )?;
            let email = approved.subject_email.clone().unwrap_or_default();
            directory::ensure_site_user(
                c,
                &SiteUserRow {
                    site_id: site_id.to_owned(),
                    account_id: approved.subject_account_id.clone(),
                    email: email.clone(),
                    display_name: approved.subject_display_name.clone(),
                    role: SiteRole::Member.as_str().to_owned(),
                    created_at: now,
                    updated_at: now,
                    email_verified: approved.subject_email_verified,
                },
            )?;
            let mut deliveries = Vec::new();
            let new_grant = facts.existing_grant_id.is_none();
            if new_grant {
                let grant = start_grant(
                    c,
                    site_id,
                    ProductTerms {
                        product_key: &approved.product_key,
                        default_group: facts.default_group.as_deref().unwrap_or_default(),
                        seat_limit: facts.seat_limit,
                    },
                    NewGrant {
                        id: grant_id.clone(),
                        account_id: &approved.subject_account_id,
                        request_id: Some(&approved.id),
                        granted_by: Some(caller.account_id()),
                        granted_at: now,
                        expires_at: end,
                    },
                )?;
                deliveries.extend(events::grant_started(
                    settings,
                    &grant,
                    &events::Grantee {
                        org_id: &facts.org_id,
                        email: &email,
                        email_verified: approved.subject_email_verified,
                    },
                ));
            }
            deliveries.extend(events::access_request_decided(settings, &approved));
            outbox::enqueue_all(c, &deliveries)?;
            audit(
                c,
                AuditEntry {
                    site_id,
                    actor: Some(caller.account_id()),
                    action: "access_request.approved",
                    request_id: Some(&approved.id),
                    details: json!({
                        "product_key": approved.product_key,
                        "subject_account_id": approved.subject_account_id,
                        "grant_id": grant_id,
                        "already_had_product": !new_grant,
                        "expires_at": end.map(events::rfc3339),
                    }),
                },
            )?;
            Ok(approved)
        })
    })
}

/// Denies a pending request, with an optional message; denying a self request also blocks its
/// requester on the site. The notification webhook says so.
pub fn deny(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
    denial: &Denial,
) -> ApiResult<RequestRow> {
    super::retrying(|| {
        transaction(c, |c| {
            let row = to_decide(c, caller, site_id, request_id)?.request;
            let now = now_micros();
            let denied = transition(
                c,
                &row,
                denial.if_match,
                Transition {
                    status: RequestStatus::Denied,
                    decided_by: Some(caller.account_id()),
                    decided_at: now,
                    message: denial.message.as_deref(),
                    grant_id: None,
                },
            )?;
            audit(
                c,
                AuditEntry {
                    site_id: &denied.site_id,
                    actor: Some(caller.account_id()),
                    action: "access_request.denied",
                    request_id: Some(&denied.id),
                    details: json!({"product_key": denied.product_key, "message": denied.decision_message}),
                },
            )?;
            let kind: RequestKind = denied.kind.parse().unwrap_or(RequestKind::OnBehalf);
            if denial_blocks_requester(kind) {
                block_requester(c, &denied, caller.account_id(), now)?;
            }
            if let Some(delivery) = events::access_request_decided(settings, &denied) {
                outbox::enqueue(c, &delivery)?;
            }
            Ok(denied)
        })
    })
}

fn block_requester(c: &mut DbConnection, denied: &RequestRow, by: &str, now: i64) -> ApiResult<()> {
    let added = directory::insert_block(
        c,
        &BlockRow {
            site_id: denied.site_id.clone(),
            account_id: denied.requester_account_id.clone(),
            email: denied.requester_email.clone(),
            request_id: Some(denied.id.clone()),
            blocked_by: by.to_owned(),
            created_at: now,
        },
    )?;
    if added {
        audit(
            c,
            AuditEntry {
                site_id: &denied.site_id,
                actor: Some(by),
                action: "request_block.created",
                request_id: Some(&denied.id),
                details: json!({"account_id": denied.requester_account_id}),
            },
        )?;
    }
    Ok(())
}

/// Loads a request of the site that the caller may see: admins, its requester and its subject.
/// Anyone else gets `404`, as if it did not exist.
pub fn visible_request(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
) -> ApiResult<RequestRow> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    let row = find_request(c, &site.id, request_id)?;
    let involved =
        row.requester_account_id == caller.account_id() || row.subject_account_id == caller.account_id();
    if !(access.administers_site() || involved) {
        return Err(ApiError::not_found("the access request"));
    }
    Ok(row)
}

/// Withdraws a pending request: its requester only.
pub fn cancel(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    request_id: &str,
    if_match: Option<i64>,
) -> ApiResult<RequestRow> {
    transaction(c, |c| {
        let row = visible_request(c, caller, site_id, request_id)?;
        if row.requester_account_id != caller.account_id() {
            return Err(ApiError::forbidden("only the requester may cancel a request"));
        }
        let cancelled = transition(
            c,
            &row,
            if_match,
            Transition {
                status: RequestStatus::Cancelled,
                decided_by: Some(caller.account_id()),
                decided_at: now_micros(),
                message: None,
                grant_id: None,
            },
        )?;
        audit(
            c,
            AuditEntry {
                site_id: &cancelled.site_id,
                actor: Some(caller.account_id()),
                action: "access_request.cancelled",
                request_id: Some(&cancelled.id),
                details: json!({"product_key": cancelled.product_key}),
            },
        )?;
        Ok(cancelled)
    })
}
