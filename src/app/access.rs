//! Who may act on a site or an organization: the directory's answer, checked once per use case.

use crate::auth::Caller;
use crate::domain::Access;
use crate::error::{ApiError, ApiResult};
use crate::store::models::{OrgRow, SiteRow};
use crate::store::{directory, DbConnection};

/// Loads a site for one of its admins (site admins and org admins); an unknown site is `404`.
pub fn administered_site(c: &mut DbConnection, caller: &Caller, site_id: &str) -> ApiResult<SiteRow> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    require_site_admin(&access)?;
    Ok(site)
}

/// Loads a site for an admin of its organization; an unknown site is `404`.
pub fn org_administered_site(c: &mut DbConnection, caller: &Caller, site_id: &str) -> ApiResult<SiteRow> {
    let (site, access) = directory::site_access(c, site_id, caller.account_id())?;
    if !access.org_admin {
        return Err(ApiError::forbidden(
            "only admins of the site's organization may do this",
        ));
    }
    Ok(site)
}

/// Site admins and admins of the site's organization.
pub fn require_site_admin(access: &Access) -> ApiResult<()> {
    if access.administers_site() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "only admins of this site or its organization may do this",
        ))
    }
}

/// Loads an org the caller may administer: its org admins and platform admins.
pub fn administered_org(c: &mut DbConnection, caller: &Caller, org_id: &str) -> ApiResult<OrgRow> {
    let org = directory::find_org(c, org_id)?;
    if caller.platform_admin || directory::is_org_admin(c, org_id, caller.account_id())? {
        Ok(org)
    } else {
        Err(ApiError::forbidden(
            "only admins of this organization may do this",
        ))
    }
}
