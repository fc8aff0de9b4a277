//! The claims a token carries, and the time rules jsonwebtoken does not check itself.

use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp`, `nbf` and `iat` (contract §1).
pub const LEEWAY_SECS: i64 = 60;

/// The claims the service reads. Types are strict: a claim of the wrong type rejects the token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenClaims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
}

/// `aud` may be one string or a list of strings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Refuses a token issued in the future (beyond the leeway) or living longer than
/// `max_ttl_secs` (`None`: any lifetime), per RFC 8725 §3.10's advice to bound what a
/// stolen token is worth. Runs after the signature and `exp`/`nbf` checks.
///
/// The lifetime is `exp − iat`; without `iat` it is what is left, `exp − now`, so
/// leaving `iat` out cannot buy a longer life. Arithmetic saturates: the claims are
/// attacker-chosen integers.
pub fn check_times(claims: &TokenClaims, now: i64, max_ttl_secs: Option<u64>) -> Result<(), &'static str> {
    if let Some(iat) = claims.iat {
        if iat > now.saturating_add(LEEWAY_SECS) {
            return Err("it was issued in the future");
        }
    }
    if let Some(max) = max_ttl_secs {
        let lifetime = claims.exp.saturating_sub(claims.iat.unwrap_or(now));
        if lifetime > i64::try_from(max).unwrap_or(i64::MAX) {
            return Err("its lifetime is longer than JWT_MAX_TTL_SECS allows");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const DAY: u64 = 86_400;

    fn claims(iat: Option<i64>, exp: i64) -> TokenClaims {
        TokenClaims {
            sub: "acc-1".into(),
            email: None,
            email_verified: None,
            name: None,
            exp,
            iat,
            nbf: None,
            iss: None,
            aud: None,
        }
    }

    #[test]
    fn iat_may_be_in_the_future_by_the_leeway_only() {
        let at = |iat| check_times(&claims(Some(iat), NOW + 600), NOW, Some(DAY));
        assert_eq!(at(NOW), Ok(()));
        assert_eq!(at(NOW + LEEWAY_SECS), Ok(()));
        assert_eq!(at(NOW + LEEWAY_SECS + 1), Err("it was issued in the future"));
        assert!(at(i64::MAX).is_err());
        // Turning the lifetime limit off does not turn the iat rule off.
        assert!(check_times(&claims(Some(NOW + 3600), NOW + 7200), NOW, None).is_err());
    }

    #[test]
    fn lifetime_with_iat_is_exp_minus_iat() {
        let day = DAY as i64;
        assert_eq!(check_times(&claims(Some(NOW), NOW + day), NOW, Some(DAY)), Ok(()));
        assert!(check_times(&claims(Some(NOW), NOW + day + 1), NOW, Some(DAY)).is_err());
        // An old iat counts: a 2-day token half-way through its life is still a 2-day token.
        assert!(check_times(&claims(Some(NOW - day), NOW + day), NOW, Some(DAY)).is_err());
        let ten_years = claims(Some(NOW), NOW + 10 * 365 * day);
        assert!(check_times(&ten_years, NOW, Some(DAY)).is_err());
        assert!(check_times(&claims(Some(i64::MIN), i64::MAX), NOW, Some(DAY)).is_err());
    }

    #[test]
    fn lifetime_without_iat_is_what_is_left() {
        let day = DAY as i64;
        assert_eq!(check_times(&claims(None, NOW + day), NOW, Some(DAY)), Ok(()));
        assert!(check_times(&claims(None, NOW + day + 1), NOW, Some(DAY)).is_err());
        assert!(check_times(&claims(None, i64::MAX), NOW, Some(DAY)).is_err());
    }

    #[test]
    fn no_maximum_accepts_any_lifetime() {
        let forever = claims(Some(NOW), i64::MAX);
        assert_eq!(check_times(&forever, NOW, None), Ok(()));
        assert_eq!(check_times(&claims(None, i64::MAX), NOW, None), Ok(()));
        assert_eq!(check_times(&claims(Some(i64::MIN), i64::MAX), NOW, None), Ok(()));
    }
}
