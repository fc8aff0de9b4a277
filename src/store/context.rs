//! What a decision needs to know, fetched in one query each: the hot paths (create, approve)
//! read their site, the caller's role, blocks, the product, existing access and duplicates in
//! one round trip instead of one per fact.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};

use super::models::{RequestRow, SiteRow};
use super::DbConnection;
use crate::domain::{Access, SiteRole};
use crate::error::{ApiError, ApiResult};

/// Numbered placeholders for both backends: `$1` on PostgreSQL, `?1` on SQLite, whose `$1`
/// would be numbered by first appearance instead.
fn numbered(conn: &DbConnection, sql: &str) -> String {
    match conn {
        DbConnection::Pg(_) => sql.to_owned(),
        DbConnection::Sqlite(_) => sql.replace('$', "?"),
    }
}

/// The caller's standing on a site from its directory role and org admin flag.
fn access(org_admin: bool, role: Option<&str>) -> Access {
    Access {
        org_admin,
        site_role: role.and_then(|r| r.parse::<SiteRole>().ok()),
    }
}

/// Everything a new request is checked against.
#[derive(Debug, QueryableByName)]
pub struct CreateContext {
    #[diesel(embed)]
    pub site: SiteRow,
    #[diesel(sql_type = Nullable<Text>)]
    pub caller_role: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub caller_display_name: Option<String>,
    #[diesel(sql_type = Bool)]
    pub org_admin: bool,
    #[diesel(sql_type = Bool)]
    pub blocked: bool,
    #[diesel(sql_type = Bool)]
    pub product_exists: bool,
    #[diesel(sql_type = Nullable<Integer>)]
    pub max_duration_hours: Option<i32>,
    /// The subject's directory record, when the subject is a user of the site.
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub subject_display_name: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    pub subject_email_verified: Option<bool>,
    #[diesel(sql_type = Bool)]
    pub subject_has_access: bool,
    /// The pending request for the same site, product and subject.
    #[diesel(sql_type = Nullable<Text>)]
    pub duplicate: Option<String>,
}

impl CreateContext {
    pub fn access(&self) -> Access {
        access(self.org_admin, self.caller_role.as_deref())
    }
}

const CREATE_CONTEXT: &str =
    "SELECT s.id, s.org_id, s.name, s.url, s.in_rollout, s.opted_out, s.created_at, \
        s.pending_ttl_hours, cu.role AS caller_role, cu.display_name AS caller_display_name, \
        EXISTS (SELECT 1 FROM org_admins oa WHERE oa.org_id = s.org_id AND oa.account_id = $2) AS org_admin, \
        EXISTS (SELECT 1 FROM request_blocks b WHERE b.site_id = s.id AND b.account_id = $2) AS blocked, \
        p.product_key IS NOT NULL AS product_exists, p.max_duration_hours, \
        su.email AS subject_email, su.display_name AS subject_display_name, \
        su.email_verified AS subject_email_verified, \
        EXISTS (SELECT 1 FROM grants g WHERE g.site_id = s.id AND g.account_id = $4 \
                AND g.product_key = $3 AND g.status = 'active') AS subject_has_access, \
        (SELECT r.id FROM access_requests r WHERE r.site_id = s.id AND r.product_key = $3 \
                AND r.subject_account_id = $4 AND r.status = 'pending') AS duplicate \
   FROM sites s \
   LEFT JOIN site_users cu ON cu.site_id = s.id AND cu.account_id = $2 \
   LEFT JOIN products p ON p.site_id = s.id AND p.product_key = $3 \
   LEFT JOIN site_users su ON su.site_id = s.id AND su.account_id = $4 \
  WHERE s.id = $1";

/// The site (`404` when unknown) and what a request by `caller` for `subject` to
/// `product_key` is checked against.
pub fn create_context(
    conn: &mut DbConnection,
    site_id: &str,
    caller: &str,
    product_key: &str,
    subject: &str,
) -> ApiResult<CreateContext> {
    let sql = numbered(conn, CREATE_CONTEXT);
    let found = super::on_backend!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(site_id)
        .bind::<Text, _>(caller)
        .bind::<Text, _>(product_key)
        .bind::<Text, _>(subject)
        .get_result::<CreateContext>(c)
        .optional())?;
    found.ok_or_else(|| ApiError::not_found("the site"))
}

/// A request with what deciding it needs: the caller's standing on its site, the subject's
/// active grant of the product, if any, and the product.
#[derive(Debug, QueryableByName)]
pub struct DecisionContext {
    #[diesel(embed)]
    pub request: RequestRow,
    #[diesel(sql_type = Text)]
    pub org_id: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub caller_role: Option<String>,
    #[diesel(sql_type = Bool)]
    pub org_admin: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub existing_grant_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub default_group: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub max_duration_hours: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    pub seat_limit: Option<i64>,
}

impl DecisionContext {
    pub fn access(&self) -> Access {
        access(self.org_admin, self.caller_role.as_deref())
    }
}

const DECISION_CONTEXT: &str = "SELECT r.*, s.org_id, cu.role AS caller_role, \
        EXISTS (SELECT 1 FROM org_admins oa WHERE oa.org_id = s.org_id AND oa.account_id = $3) AS org_admin, \
        g.id AS existing_grant_id, p.default_group, p.max_duration_hours, p.seat_limit \
   FROM access_requests r \
   JOIN sites s ON s.id = r.site_id \
   LEFT JOIN site_users cu ON cu.site_id = r.site_id AND cu.account_id = $3 \
   LEFT JOIN grants g ON g.site_id = r.site_id AND g.account_id = r.subject_account_id \
        AND g.product_key = r.product_key AND g.status = 'active' \
   LEFT JOIN products p ON p.site_id = r.site_id AND p.product_key = r.product_key \
  WHERE r.id = $1 AND r.site_id = $2";

/// A request of `site_id` with what `caller` deciding it needs, in one round trip; `None` when
/// the site has no such request.
pub fn decision_context(
    conn: &mut DbConnection,
    site_id: &str,
    request_id: &str,
    caller: &str,
) -> ApiResult<Option<DecisionContext>> {
    let sql = numbered(conn, DECISION_CONTEXT);
    Ok(super::on_backend!(conn, |c| diesel::sql_query(&sql)
        .bind::<Text, _>(request_id)
        .bind::<Text, _>(site_id)
        .bind::<Text, _>(caller)
        .get_result::<DecisionContext>(c)
        .optional())?)
}
