//! Token verification: HS256 with a shared secret, RS256/ES256 with keys from a JWKS.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::Settings;
use crate::domain::AccountId;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// An unknown `kid` refetches the JWKS at most this often.
pub const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

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

fn invalid(why: impl Into<String>) -> TokenError {
    TokenError::Invalid(why.into())
}

struct JwksCache {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    fetched_at: Option<Instant>,
}

/// Verifies bearer tokens per contract §1.
pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks_url: Option<String>,
    jwks: Mutex<JwksCache>,
    client: reqwest::Client,
    issuer: Option<String>,
    audience: Option<String>,
}

impl Verifier {
    pub fn new(settings: &Settings, client: reqwest::Client) -> Self {
        Self {
            hs256: settings
                .jwt_hs256_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.expose())),
            jwks_url: settings.jwt_jwks_url.clone(),
            jwks: Mutex::new(JwksCache {
                keys: HashMap::new(),
                fetched_at: None,
            }),
            client,
            issuer: settings.jwt_issuer.clone(),
            audience: settings.jwt_audience.clone(),
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(invalid("the token is empty or too long"));
        }
        let header = decode_header(token).map_err(|_| invalid("the token is malformed"))?;
        let key = match header.alg {
            Algorithm::HS256 => self
                .hs256
                .clone()
                .ok_or_else(|| invalid("HS256 tokens are not accepted"))?,
            Algorithm::RS256 | Algorithm::ES256 if self.jwks_url.is_some() => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| invalid("the token names no key (kid)"))?;
                self.jwks_key(kid, header.alg).await?
            }
            _ => return Err(invalid("the token's algorithm is not accepted")),
        };
        let claims = decode::<TokenClaims>(token, &key, &self.validation(header.alg))
            .map_err(|e| invalid(format!("the token is not valid: {}", describe(&e))))?
            .claims;
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
        validation.leeway = 60;
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

    /// The key for `kid`, refetching the JWKS when `kid` is unknown (at most once per interval).
    async fn jwks_key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, TokenError> {
        let mut cache = self.jwks.lock().await;
        if !cache.keys.contains_key(kid) {
            let may_fetch = cache
                .fetched_at
                .is_none_or(|at| at.elapsed() >= JWKS_REFETCH_INTERVAL);
            if may_fetch {
                cache.fetched_at = Some(Instant::now());
                match self.fetch_jwks().await {
                    Ok(keys) => cache.keys = keys,
                    Err(error) => {
                        tracing::warn!(%error, "JWKS fetch failed");
                        if cache.keys.is_empty() {
                            return Err(TokenError::KeysUnavailable);
                        }
                    }
                }
            }
        }
        match cache.keys.get(kid) {
            // The key fixes the algorithm: a token cannot pick another one (no RS/HS/ES confusion).
            Some((key_alg, key)) if *key_alg == alg => Ok(key.clone()),
            Some(_) => Err(invalid("the token's algorithm does not match its key")),
            None => Err(invalid("the token names an unknown key")),
        }
    }

    async fn fetch_jwks(&self) -> anyhow::Result<HashMap<String, (Algorithm, DecodingKey)>> {
        let url = self.jwks_url.as_deref().unwrap_or_default();
        let response = self
            .client
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await?
            .error_for_status()?;
        let bytes = response.bytes().await?;
        if bytes.len() > 1024 * 1024 {
            anyhow::bail!("the JWKS document is larger than 1 MiB");
        }
        let set: JwkSet = serde_json::from_slice(&bytes)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (alg, key));
            }
        }
        Ok(keys)
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
    use super::*;
    use crate::config::Settings;

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
        let v = verifier(&[("JWT_HS256_SECRET", "unit-tests-hs256-secret-0123456789")]);
        let id = v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &claims("acc-1"))).await.unwrap();
        assert_eq!(id.account_id.as_str(), "acc-1");
        assert!(id.email_verified);
    }

    #[tokio::test]
    async fn rejects_wrong_secret_expiry_and_bad_sub() {
        let v = verifier(&[("JWT_HS256_SECRET", "unit-tests-hs256-secret-0123456789")]);
        assert!(v.verify(&mint_hs256(b"other", &claims("acc-1"))).await.is_err());
        let mut old = claims("acc-1");
        old.exp = chrono::Utc::now().timestamp() - 120;
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &old)).await.is_err());
        let mut within_leeway = claims("acc-1");
        within_leeway.exp = chrono::Utc::now().timestamp() - 30;
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &within_leeway)).await.is_ok());
        assert!(v
            .verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &claims("bad sub")))
            .await
            .is_err());
        let mut early = claims("acc-1");
        early.nbf = Some(chrono::Utc::now().timestamp() + 600);
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &early)).await.is_err());
    }

    #[tokio::test]
    async fn rejects_alg_none_and_unconfigured_algorithms() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let v = verifier(&[("JWT_HS256_SECRET", "unit-tests-hs256-secret-0123456789")]);
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
            ("JWT_HS256_SECRET", "unit-tests-hs256-secret-0123456789"),
            ("JWT_ISSUER", "https://issuer"),
            ("JWT_AUDIENCE", "access-requests"),
        ]);
        let mut good = claims("acc-1");
        good.iss = Some("https://issuer".into());
        good.aud = Some(Audience::Many(vec!["x".into(), "access-requests".into()]));
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &good)).await.is_ok());
        let mut wrong_iss = good.clone();
        wrong_iss.iss = Some("https://evil".into());
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &wrong_iss)).await.is_err());
        let mut no_aud = good.clone();
        no_aud.aud = None;
        assert!(v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &no_aud)).await.is_err());
    }

    #[tokio::test]
    async fn unverified_or_missing_email_is_not_verified() {
        let v = verifier(&[("JWT_HS256_SECRET", "unit-tests-hs256-secret-0123456789")]);
        let mut c = claims("acc-1");
        c.email_verified = Some(false);
        assert!(!v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &c)).await.unwrap().email_verified);
        let mut c = claims("acc-1");
        c.email = None;
        assert!(!v.verify(&mint_hs256(b"unit-tests-hs256-secret-0123456789", &c)).await.unwrap().email_verified);
    }
}
