//! Bulk decisions: up to 100 requests of a site approved or denied in one call, each exactly
//! as by its single endpoint and in its own transaction (partial success).

use super::access::administered_site;
use super::decide::{approve, deny, Approval, Denial};
use crate::auth::Caller;
use crate::config::Settings;
use crate::error::ApiResult;
use crate::store::models::RequestRow;
use crate::store::DbConnection;

/// The decision a bulk call applies to each of its requests.
#[derive(Debug, Clone)]
pub enum BulkDecision {
    Approve { expires_at: Option<i64> },
    Deny { message: Option<String> },
}

/// Decides each request in `ids`, in order; one result per id. The caller must administer the
/// site (else the whole call is refused); an id of another site answers `404` in its result.
pub fn decide_all(
    c: &mut DbConnection,
    settings: &Settings,
    caller: &Caller,
    site_id: &str,
    ids: &[String],
    decision: &BulkDecision,
) -> ApiResult<Vec<ApiResult<RequestRow>>> {
    let site = administered_site(c, caller, site_id)?;
    Ok(ids
        .iter()
        .map(|id| match decision {
            BulkDecision::Approve { expires_at } => approve(
                c,
                settings,
                caller,
                &site.id,
                id,
                Approval {
                    expires_at: *expires_at,
                    if_match: None,
                },
            ),
            BulkDecision::Deny { message } => deny(
                c,
                settings,
                caller,
                &site.id,
                id,
                &Denial {
                    message: message.clone(),
                    if_match: None,
                },
            ),
        })
        .collect())
}
