//! Who is calling: bearer-token verification and the `Caller` extractor.

mod claims;
mod jwks;
mod jwt;

pub use claims::{Audience, TokenClaims};
pub use jwt::{mint_hs256, Identity, TokenError, Verifier};

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};

use crate::error::ApiError;

/// The authenticated caller of a request, with platform-admin status from `PLATFORM_ADMINS`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub identity: Identity,
    pub platform_admin: bool,
}

impl Caller {
    /// The caller's account id (`sub`).
    pub fn account_id(&self) -> &str {
        self.identity.account_id.as_str()
    }

    /// `403` unless `PLATFORM_ADMINS` lists the caller.
    pub fn require_platform_admin(&self) -> Result<(), ApiError> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("only platform admins may do this"))
        }
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("a bearer token is required".to_owned()))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is malformed".to_owned()))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("expected `Authorization: Bearer <token>`".to_owned()))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(
            "expected `Authorization: Bearer <token>`".to_owned(),
        ));
    }
    Ok(token.trim().to_owned())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The verifier is app data of its own, so auth needs nothing from start-up.
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let verifier = verifier
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no token verifier registered")))?;
            let identity = verifier.verify(&token?).await.map_err(|e| match e {
                TokenError::Invalid(why) => ApiError::Unauthorized(why),
                TokenError::KeysUnavailable => {
                    ApiError::Unavailable("the signing keys could not be fetched; try again".to_owned())
                }
            })?;
            let platform_admin = verifier.is_platform_admin(&identity.account_id);
            Ok(Caller {
                identity,
                platform_admin,
            })
        })
    }
}
