//! The rules of the product story, as plain functions.

use sha2::{Digest, Sha256};

use super::types::{RequestKind, RequestStatus, SiteRole};

/// What the directory says about a caller on one site.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    pub org_admin: bool,
    pub site_role: Option<SiteRole>,
}

impl Access {
    /// Site admins and admins of the site's organization review and decide.
    pub fn administers_site(&self) -> bool {
        self.org_admin || self.site_role == Some(SiteRole::Admin)
    }

    pub fn on_site(&self) -> bool {
        self.site_role.is_some()
    }
}

/// Why a caller may not create the access request they asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestRefusal {
    EmailNotVerified,
    RequesterBlocked,
    OnBehalfRequiresSiteUser,
    ExternalRequestsDisabled,
}

/// Everything that decides whether a caller may create a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestAttempt {
    pub email_verified: bool,
    pub caller_on_site: bool,
    pub caller_blocked: bool,
    pub kind: RequestKind,
    pub external_requests_enabled: bool,
}

/// Who may ask for access, checked in this order: a verified email first,
/// then blocks, then the limits on people who are not on the site.
pub fn may_request(attempt: RequestAttempt) -> Result<(), RequestRefusal> {
    if !attempt.email_verified {
        return Err(RequestRefusal::EmailNotVerified);
    }
    if attempt.caller_blocked {
        return Err(RequestRefusal::RequesterBlocked);
    }
    if !attempt.caller_on_site {
        if attempt.kind == RequestKind::OnBehalf {
            return Err(RequestRefusal::OnBehalfRequiresSiteUser);
        }
        if !attempt.external_requests_enabled {
            return Err(RequestRefusal::ExternalRequestsDisabled);
        }
    }
    Ok(())
}

/// People not on the site may ask only while the site is in the rollout and has not opted out.
pub fn external_requests_enabled(in_rollout: bool, opted_out: bool) -> bool {
    in_rollout && !opted_out
}

/// A stable bucket 0–99 for a site id: the first eight bytes of its SHA-256, mod 100.
pub fn rollout_bucket(site_id: &str) -> u8 {
    let digest = Sha256::digest(site_id.as_bytes());
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) % 100) as u8
}

/// A new site starts in the rollout when its bucket is below `ROLLOUT_PERCENT`.
pub fn starts_in_rollout(site_id: &str, rollout_percent: u8) -> bool {
    rollout_bucket(site_id) < rollout_percent
}

/// Why a decision or cancellation cannot be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionRefusal {
    NotPending,
    VersionMismatch,
}

/// A pending request may be decided once; `If-Match` must name its current version.
/// A request that is no longer pending reports that first, whatever `If-Match` says.
pub fn may_transition(
    status: RequestStatus,
    version: i64,
    if_match: Option<i64>,
) -> Result<(), TransitionRefusal> {
    if status != RequestStatus::Pending {
        return Err(TransitionRefusal::NotPending);
    }
    match if_match {
        Some(expected) if expected != version => Err(TransitionRefusal::VersionMismatch),
        _ => Ok(()),
    }
}

/// Denying a self request blocks its requester on the site.
pub fn denial_blocks_requester(kind: RequestKind) -> bool {
    kind == RequestKind::SelfRequest
}

/// The lower-cased domain of an email address.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.trim_end_matches('.').to_ascii_lowercase())
}

/// Whether the organization has verified the domain of `email`.
pub fn email_domain_verified(email: &str, verified_domains: &[String]) -> bool {
    email_domain(email).is_some_and(|domain| verified_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)))
}

/// A window-based limit: `count` events happened since `now - window`;
/// the oldest of them at `oldest`. Returns the seconds to wait when over `limit`.
/// A limit of 0 is off.
pub fn over_limit(
    count: u64,
    limit: u32,
    oldest_micros: i64,
    window_micros: i64,
    now_micros: i64,
) -> Option<u64> {
    if limit == 0 || count < u64::from(limit) {
        return None;
    }
    // Saturating: the times come from the database and the clock, but no input may overflow.
    let frees_at = oldest_micros.saturating_add(window_micros);
    let wait = frees_at.saturating_sub(now_micros).max(0);
    Some((wait.saturating_add(999_999) / 1_000_000).max(1) as u64)
}

/// The cap on pending requests per requester and site; 0 is off.
pub fn over_pending_cap(pending: u64, cap: u32) -> bool {
    cap != 0 && pending >= u64::from(cap)
}

/// Parses an `If-Match` value: `3`, `"3"` or `W/"3"`.
pub fn parse_if_match(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let raw = raw.strip_prefix("W/").unwrap_or(raw);
    let raw = raw
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(raw);
    raw.parse::<i64>().ok().filter(|v| *v >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt() -> RequestAttempt {
        RequestAttempt {
            email_verified: true,
            caller_on_site: false,
            caller_blocked: false,
            kind: RequestKind::SelfRequest,
            external_requests_enabled: true,
        }
    }

    #[test]
    fn outsiders_may_ask_for_themselves_while_external_requests_are_enabled() {
        assert_eq!(may_request(attempt()), Ok(()));
        let disabled = RequestAttempt {
            external_requests_enabled: false,
            ..attempt()
        };
        assert_eq!(
            may_request(disabled),
            Err(RequestRefusal::ExternalRequestsDisabled)
        );
    }

    #[test]
    fn outsiders_never_ask_for_others() {
        let a = RequestAttempt {
            kind: RequestKind::OnBehalf,
            ..attempt()
        };
        assert_eq!(may_request(a), Err(RequestRefusal::OnBehalfRequiresSiteUser));
    }

    #[test]
    fn site_users_ask_for_anyone_whatever_the_rollout() {
        for kind in [RequestKind::SelfRequest, RequestKind::OnBehalf] {
            let a = RequestAttempt {
                caller_on_site: true,
                external_requests_enabled: false,
                kind,
                ..attempt()
            };
            assert_eq!(may_request(a), Ok(()));
        }
    }

    #[test]
    fn verified_email_comes_first_then_blocks() {
        let a = RequestAttempt {
            email_verified: false,
            caller_blocked: true,
            ..attempt()
        };
        assert_eq!(may_request(a), Err(RequestRefusal::EmailNotVerified));
        let a = RequestAttempt {
            caller_blocked: true,
            caller_on_site: true,
            ..attempt()
        };
        assert_eq!(may_request(a), Err(RequestRefusal::RequesterBlocked));
    }

    #[test]
    fn external_requests_need_rollout_and_no_opt_out() {
        assert!(external_requests_enabled(true, false));
        assert!(!external_requests_enabled(true, true));
        assert!(!external_requests_enabled(false, false));
        assert!(!external_requests_enabled(false, true));
    }

    #[test]
    fn rollout_is_stable_and_proportional() {
        let id = "0b8f4a52-7c51-4c47-9d0e-2f4f0f4c2b11";
        assert_eq!(rollout_bucket(id), rollout_bucket(id));
        assert!(!starts_in_rollout(id, 0));
        assert!(starts_in_rollout(id, 100));
        let inside = (0..1000)
            .filter(|i| starts_in_rollout(&format!("site-{i}"), 30))
            .count();
        assert!((230..370).contains(&inside), "{inside}");
    }

    #[test]
    fn only_pending_requests_move_and_not_pending_wins_over_if_match() {
        assert_eq!(may_transition(RequestStatus::Pending, 1, None), Ok(()));
        assert_eq!(may_transition(RequestStatus::Pending, 1, Some(1)), Ok(()));
        assert_eq!(
            may_transition(RequestStatus::Pending, 2, Some(1)),
            Err(TransitionRefusal::VersionMismatch)
        );
        for status in [
            RequestStatus::Approved,
            RequestStatus::Denied,
            RequestStatus::Cancelled,
            RequestStatus::Expired,
        ] {
            assert_eq!(
                may_transition(status, 2, Some(1)),
                Err(TransitionRefusal::NotPending)
            );
        }
    }

    #[test]
    fn only_self_denials_block() {
        assert!(denial_blocks_requester(RequestKind::SelfRequest));
        assert!(!denial_blocks_requester(RequestKind::OnBehalf));
    }

    #[test]
    fn verified_domains_match_case_insensitively() {
        let domains = vec!["Example.com".to_owned()];
        assert!(email_domain_verified("a@EXAMPLE.com", &domains));
        assert!(!email_domain_verified("a@sub.example.com", &domains));
        assert!(!email_domain_verified("nobody", &domains));
    }

    #[test]
    fn limits() {
        let s = 1_000_000;
        assert_eq!(over_limit(29, 30, 0, 60 * s, 10 * s), None);
        assert_eq!(over_limit(30, 30, 0, 60 * s, 10 * s), Some(50));
        assert_eq!(over_limit(30, 30, 0, 60 * s, 60 * s), Some(1));
        assert_eq!(over_limit(1000, 0, 0, 60 * s, 10 * s), None);
        assert!(over_pending_cap(50, 50));
        assert!(!over_pending_cap(49, 50));
        assert!(!over_pending_cap(500, 0));
    }

    #[test]
    fn limits_never_overflow() {
        // Found by fuzz/domain_rules: `oldest + window` overflowed (a panic in debug builds).
        assert_eq!(
            over_limit(1, 1, i64::MAX, i64::MAX, i64::MIN),
            Some(i64::MAX as u64 / 1_000_000)
        );
        assert_eq!(over_limit(1, 1, i64::MIN, i64::MIN, i64::MAX), Some(1));
        assert_eq!(
            over_limit(u64::MAX, u32::MAX, 0, i64::MAX, -1),
            Some(i64::MAX as u64 / 1_000_000)
        );
    }

    #[test]
    fn if_match_forms() {
        assert_eq!(parse_if_match("3"), Some(3));
        assert_eq!(parse_if_match("\"3\""), Some(3));
        assert_eq!(parse_if_match("W/\"3\""), Some(3));
        assert_eq!(parse_if_match("x"), None);
        assert_eq!(parse_if_match("-1"), None);
    }
}
