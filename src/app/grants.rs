//! Grants: their start (within the seat limit), their end (revoke, expiry, user removed, a
//! directory drop) with the end webhooks, and a new end date.

use serde_json::json;

use super::access::administered_site;
use crate::auth::Caller;
use crate::config::Settings;
use crate::domain::{new_end, seat_available, EndReason, GrantSource, GrantStatus, TransitionRefusal};
use crate::error::{ApiError, ApiResult};
use crate::store::grants::{self, Ending, GrantFilter};
use crate::store::models::{GrantRow, ProductRow, SiteRow};
use crate::store::records::{audit, AuditEntry};
use crate::store::{directory, now_micros, outbox, transaction, Cursor, DbConnection, Page};
use crate::webhooks::events;

/// What a new grant takes from its product.
pub struct ProductTerms<'a> {
    pub product_key: &'a str,
    pub default_group: &'a str,
    pub seat_limit: Option<i64>,
}

impl<'a> From<&'a ProductRow> for ProductTerms<'a> {
    fn from(product: &'a ProductRow) -> Self {
        ProductTerms {
            product_key: &product.product_key,
            default_group: &product.default_group,
            seat_limit: product.seat_limit,
        }
    }
}

/// A grant about to begin.
pub struct NewGrant<'a> {
    pub id: String,
    pub account_id: &'a str,
    /// The approved request; `None` for directory sync.
    pub request_id: Option<&'a str>,
    pub granted_by: Option<&'a str>,
    pub granted_at: i64,
    pub expires_at: Option<i64>,
}

/// Starts a grant of `product`: from a request it takes a seat, refused with
/// `409 seat_limit_reached` when the product's seats are all taken (the product row is locked
/// first, so concurrent approvals on any instance count one after the other); directory sync
/// is never refused but counts.
pub fn start_grant(
    c: &mut DbConnection,
    site_id: &str,
    product: ProductTerms<'_>,
    new: NewGrant<'_>,
) -> ApiResult<GrantRow> {
    let source = match new.request_id {
        Some(_) => GrantSource::Request,
        None => GrantSource::Directory,
    };
    if source == GrantSource::Request && product.seat_limit.is_some() {
        grants::lock_product(c, site_id, product.product_key)?;
        let used = grants::seats_used(c, site_id, product.product_key)?;
        if !seat_available(used, product.seat_limit) {
            return Err(ApiError::conflict(
                "seat_limit_reached",
                format!(
                    "all {} seats of {} are taken; revoke a grant or raise the seat limit",
                    product.seat_limit.unwrap_or_default(),
                    product.product_key
                ),
            ));
        }
    }
    let row = GrantRow {
        id: new.id,
        site_id: site_id.to_owned(),
        product_key: product.product_key.to_owned(),
        account_id: new.account_id.to_owned(),
        status: GrantStatus::Active.as_str().to_owned(),
        source: source.as_str().to_owned(),
        request_id: new.request_id.map(str::to_owned),
        group_name: product.default_group.to_owned(),
        granted_at: new.granted_at,
        granted_by: new.granted_by.map(str::to_owned),
        expires_at: new.expires_at,
        ended_at: None,
        ended_by: None,
        end_reason: None,
        warned_at: None,
        version: 1,
    };
    grants::insert(c, &row)?;
    Ok(row)
}

/// Ends an active grant: the grant, its audit event and, for a grant that began with webhooks,
/// `group.member.remove` and `billing.seat.end` (each sent only after its start) and
/// `grant.ended`. `409 grant_not_active` when it has ended already.
pub fn end_grant(
    c: &mut DbConnection,
    settings: &Settings,
    site: &SiteRow,
    grant: &GrantRow,
    reason: EndReason,
    by: Option<&str>,
    message: Option<&str>,
) -> ApiResult<GrantRow> {
    let status = match reason {
        EndReason::Expired => GrantStatus::Expired,
        EndReason::Revoked | EndReason::UserRemoved => GrantStatus::Revoked,
    };
    let ending = Ending {
        status,
        reason,
        at: now_micros(),
        by,
    };
    let ended = grants::end(c, &grant.id, &ending)?.ok_or_else(not_active)?;
    if ended.source == GrantSource::Request.as_str() {
        let started = outbox::starts_of(c, &ended.id)?;
        outbox::enqueue_all(c, &events::grant_ended(settings, &ended, &site.org_id, &started))?;
    }
    let action = match status {
        GrantStatus::Expired => "grant.expired",
        _ => "grant.revoked",
    };
    audit(
        c,
        AuditEntry {
            site_id: &site.id,
            actor: by,
            action,
            request_id: ended.request_id.as_deref(),
            details: json!({
                "grant_id": ended.id,
                "product_key": ended.product_key,
                "account_id": ended.account_id,
                "reason": reason.as_str(),
                "message": message,
            }),
        },
    )?;
    Ok(ended)
}

fn not_active() -> ApiError {
    ApiError::conflict("grant_not_active", "the grant has ended already")
}

/// A grant of the site, or `404`.
fn find_grant(c: &mut DbConnection, site_id: &str, grant_id: &str) -> ApiResult<GrantRow> {
    grants::find(c, site_id, grant_id)?.ok_or_else(|| ApiError::not_found("the grant"))
}

/// Revokes an active grant: the product leaves the user at once, with the end webhooks.
pub fn revoke(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    grant_id: &str,
    message: Option<&str>,
) -> ApiResult<GrantRow> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        let grant = find_grant(c, &site.id, grant_id)?;
        end_grant(
            c,
            settings,
            &site,
            &grant,
            EndReason::Revoked,
            Some(caller.account_id()),
            message,
        )
    })
}

/// Sets, moves or removes the end of an active grant: in the future and within the product's
/// maximum duration; `If-Match` guards against a stale read.
pub fn set_expiry(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    grant_id: &str,
    expires_at: Option<i64>,
    if_match: Option<i64>,
) -> ApiResult<GrantRow> {
    transaction(c, |c| {
        let site = administered_site(c, caller, site_id)?;
        let grant = find_grant(c, &site.id, grant_id)?;
        if grant.status != GrantStatus::Active.as_str() {
            return Err(not_active());
        }
        if if_match.is_some_and(|v| v != grant.version) {
            return Err(TransitionRefusal::VersionMismatch.into());
        }
        let max =
            directory::find_product(c, &site.id, &grant.product_key)?.and_then(|p| p.max_duration_hours);
        let end = new_end(now_micros(), expires_at, max)?;
        let changed = match grants::set_expiry(c, &grant, end)? {
            Some(changed) => changed,
            None => {
                let now = find_grant(c, &site.id, grant_id)?;
                return Err(if now.status != GrantStatus::Active.as_str() {
                    not_active()
                } else {
                    TransitionRefusal::VersionMismatch.into()
                });
            }
        };
        audit(
            c,
            AuditEntry {
                site_id: &site.id,
                actor: Some(caller.account_id()),
                action: "grant.expiry_changed",
                request_id: changed.request_id.as_deref(),
                details: json!({
                    "grant_id": changed.id,
                    "product_key": changed.product_key,
                    "account_id": changed.account_id,
                    "expires_at": changed.expires_at.map(events::rfc3339),
                    "previous_expires_at": grant.expires_at.map(events::rfc3339),
                }),
            },
        )?;
        Ok(changed)
    })
}

/// One grant: for the site's admins and the grant's own account; `404` for anyone else.
pub fn visible_grant(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    grant_id: &str,
) -> ApiResult<GrantRow> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    let grant = find_grant(c, &site.id, grant_id)?;
    if access.administers_site() || grant.account_id == caller.account_id() {
        Ok(grant)
    } else {
        Err(ApiError::not_found("the grant"))
    }
}

/// The site's grants, newest first: for its admins.
pub fn list_grants(
    c: &mut DbConnection,
    caller: &Caller,
    site_id: &str,
    filter: &GrantFilter,
    limit: i64,
    cursor: Option<Cursor>,
) -> ApiResult<Page<GrantRow>> {
    let site = administered_site(c, caller, site_id)?;
    grants::list(c, &site.id, filter, limit, cursor)
}
