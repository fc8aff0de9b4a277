//! Token verification: HS256 with a shared secret, RS256/ES256 with keys from a JWKS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

use super::claims::{check_times, TokenClaims, LEEWAY_SECS};
use super::jwks::Jwks;
use crate::config::Settings;
use crate::domain::AccountId;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The verified identity of a caller.
#[derive(Debug, Clone)]
pub struct Identity {
    pub account_id: AccountId,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    Invalid(String),
    /// The JWKS could not be fetched and no cached key fits.
    #[error("the signing keys could not be fetched")]
    KeysUnavailable,
}

pub(super) fn invalid(why: impl Into<String>) -> TokenError {
    TokenError::Invalid(why.into())
}

/// Verifies bearer tokens per contract §1 and knows the platform admins, so the
/// `Caller` extractor needs nothing else.
pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    audience: Option<String>,
    max_ttl_secs: Option<u64>,
    platform_admins: HashSet<String>,
}

impl Verifier {
    /// With `JWT_JWKS_URL` set, this starts the JWKS refresher on the current Tokio
    /// runtime (so it must run inside one); the refresher ends with the verifier.
    pub fn new(settings: &Settings, client: reqwest::Client) -> Self {
        Self {
            hs256: settings
                .jwt_hs256_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.expose())),
            jwks: settings
                .jwt_jwks_url
                .clone()
                .map(|url| Jwks::start(url, client, Duration::from_secs(settings.jwt_jwks_refresh_secs))),
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
            max_ttl_secs: (settings.jwt_max_ttl_secs > 0).then_some(settings.jwt_max_ttl_secs),
            platform_admins: settings.platform_admins.clone(),
        }
    }

    /// True when `PLATFORM_ADMINS` lists the account.
    pub fn is_platform_admin(&self, account_id: &AccountId) -> bool {
        self.platform_admins.contains(account_id.as_str())
    }

    /// The identity in `token`, or why it is refused. A token whose `kid` is already
    /// known never waits for a JWKS fetch.
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid("the token is empty or too long"));
        }
        let header = decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        let key = match (header.alg, &self.jwks) {
            (Algorithm::HS256, _) => self
                .hs256
                .clone()
                .ok_or_else(|| invalid("HS256 tokens are not accepted"))?,
            (Algorithm::RS256 | Algorithm::ES256, Some(jwks)) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| invalid("the token names no key (kid)"))?;
                jwks.key(kid, header.alg).await?
            }
            _ => return Err(invalid("the token's algorithm is not accepted")),
        };
        let claims = decode::<TokenClaims>(token, &key, &self.validation(header.alg))
            .map_err(|e| invalid(format!("the token is not valid: {}", describe(&e))))?
            .claims;
        check_times(&claims, chrono::Utc::now().timestamp(), self.max_ttl_secs)
            .map_err(|why| invalid(format!("the token is not valid: {why}")))?;
        let account_id =
            AccountId::parse(&claims.sub).map_err(|_| invalid("the token's sub is not an account id"))?;
        Ok(Identity {
            account_id,
            email_verified: claims.email_verified == Some(true) && claims.email.is_some(),
            email: claims.email,
            name: claims.name,
        })
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS.unsigned_abs();
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }
}

fn describe(error: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind;
    match error.kind() {
        ErrorKind::ExpiredSignature => "it has expired",
        ErrorKind::ImmatureSignature => "it is not valid yet",
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::InvalidSignature => "bad signature",
        ErrorKind::MissingRequiredClaim(_) => "a required claim is missing",
        ErrorKind::InvalidAlgorithm => "algorithm not accepted",
        _ => "malformed",
    }
}

/// Mints an HS256 token, for local use (`access-requests token`) and tests.
pub fn mint_hs256(secret: &[u8], claims: &TokenClaims) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of serializable claims cannot fail")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::auth::Audience;

    const SECRET: &str = "unit-tests-hs256-secret-0123456789";

    fn verifier(vars: &[(&str, &str)]) -> Verifier {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let settings = Settings::from_lookup(|k| map.get(k).cloned()).unwrap();
        Verifier::new(&settings, reqwest::Client::new())
    }

    fn claims(sub: &str) -> TokenClaims {
        TokenClaims {
            sub: sub.to_owned(),
            email: Some("a@example.com".into()),
            email_verified: Some(true),
            name: None,
            exp: chrono::Utc::now().timestamp() + 600,
            iat: None,
            nbf: None,
            iss: None,
            aud: None,
        }
    }

    #[tokio::test]
    async fn accepts_a_good_hs256_token() {
        let v = verifier(&[("JWT_HS256_SECRET", SECRET)]);
        let id = v
            .verify(&mint_hs256(SECRET.as_bytes(), &claims("acc-1")))
            .await
            .unwrap();
        assert_eq!(id.account_id.as_str(), "acc-1");
        assert!(id.email_verified);
    }

    #[tokio::test]
    async fn rejects_wrong_secret_expiry_and_bad_sub() {
        let v = verifier(&[("JWT_HS256_SECRET", SECRET)]);
        assert!(v.verify(&mint_hs256(b"other", &claims("acc-1"))).await.is_err());
        let mut old = claims("acc-1");
        old.exp = chrono::Utc::now().timestamp() - 120;
        assert!(v.verify(&mint_hs256(SECRET.as_bytes(), &old)).await.is_err());
        let mut within_leeway = claims("acc-1");
        within_leeway.exp = chrono::Utc::now().timestamp() - 30;
        assert!(v
            .verify(&mint_hs256(SECRET.as_bytes(), &within_leeway))
            .await
            .is_ok());
        assert!(v
            .verify(&mint_hs256(SECRET.as_bytes(), &claims("bad sub")))
            .await
            .is_err());
        let mut early = claims("acc-1");
        early.nbf = Some(chrono::Utc::now().timestamp() + 600);
        assert!(v.verify(&mint_hs256(SECRET.as_bytes(), &early)).await.is_err());
    }

    #[tokio::test]
    async fn rejects_alg_none_and_unconfigured_algorithms() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let v = verifier(&[("JWT_HS256_SECRET", SECRET)]);
        let payload = b64.encode(serde_json::to_vec(&claims("acc-1")).unwrap());
        for alg in ["none", "RS256", "HS512"] {
            let header = b64.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
            let token = format!("{header}.{payload}.");
            assert!(v.verify(&token).await.is_err(), "{alg}");
        }
    }

    #[tokio::test]
    async fn checks_issuer_and_audience_when_configured() {
        let v = verifier(&[
            ("JWT_HS256_SECRET", SECRET),
            ("JWT_ISSUER", "https://issuer"),
            ("JWT_AUDIENCE", "access-requests"),
        ]);
        let mut good = claims("acc-1");
        good.iss = Some("https://issuer".into());
        good.aud = Some(Audience::Many(vec!["x".into(), "access-requests".into()]));
        assert!(v.verify(&mint_hs256(SECRET.as_bytes(), &good)).await.is_ok());
        let mut wrong_iss = good.clone();
        wrong_iss.iss = Some("https://evil".into());
        assert!(v
            .verify(&mint_hs256(SECRET.as_bytes(), &wrong_iss))
            .await
            .is_err());
        let mut no_aud = good.clone();
        no_aud.aud = None;
        assert!(v.verify(&mint_hs256(SECRET.as_bytes(), &no_aud)).await.is_err());
    }

    #[tokio::test]
    async fn unverified_or_missing_email_is_not_verified() {
        let v = verifier(&[("JWT_HS256_SECRET", SECRET)]);
        let mut c = claims("acc-1");
        c.email_verified = Some(false);
        assert!(
            !v.verify(&mint_hs256(SECRET.as_bytes(), &c))
                .await
                .unwrap()
                .email_verified
        );
        let mut c = claims("acc-1");
        c.email = None;
        assert!(
            !v.verify(&mint_hs256(SECRET.as_bytes(), &c))
                .await
                .unwrap()
                .email_verified
        );
    }

    #[tokio::test]
    async fn refuses_future_iat_and_overlong_lifetimes_unless_turned_off() {
        let now = chrono::Utc::now().timestamp();
        let ten_years = TokenClaims {
            iat: Some(now),
            exp: now + 10 * 365 * 86_400,
            ..claims("acc-1")
        };
        let future_iat = TokenClaims {
            iat: Some(now + 600),
            ..claims("acc-1")
        };
        let v = verifier(&[("JWT_HS256_SECRET", SECRET)]);
        for case in [&ten_years, &future_iat] {
            let error = v.verify(&mint_hs256(SECRET.as_bytes(), case)).await.unwrap_err();
            assert!(matches!(error, TokenError::Invalid(_)), "{case:?}");
        }
        let unlimited = verifier(&[("JWT_HS256_SECRET", SECRET), ("JWT_MAX_TTL_SECS", "0")]);
        assert!(unlimited
            .verify(&mint_hs256(SECRET.as_bytes(), &ten_years))
            .await
            .is_ok());
        assert!(unlimited
            .verify(&mint_hs256(SECRET.as_bytes(), &future_iat))
            .await
            .is_err());
    }
}
