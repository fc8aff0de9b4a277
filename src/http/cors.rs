//! CORS (`CORS_ALLOWED_ORIGINS`): the browser origins that may call the API.

use actix_cors::Cors;
use actix_web::http::{header, Method};
use actix_web::middleware::Condition;

use super::request_id::X_REQUEST_ID;

/// How long a browser may cache a preflight answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 3600;

/// The CORS layer for `origins` (`*` alone: any origin), switched off when the list is
/// empty, so that a service without the setting sends no CORS headers at all.
pub fn layer(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            X_REQUEST_ID,
        ])
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER, X_REQUEST_ID])
        .max_age(PREFLIGHT_MAX_AGE);
    if origins.iter().any(|o| o == "*") {
        // Tokens travel in `Authorization`, not cookies, so a literal `*` is enough.
        cors = cors.allow_any_origin().send_wildcard();
    } else {
        for origin in origins {
            cors = cors.allowed_origin(origin);
        }
    }
    Condition::new(!origins.is_empty(), cors)
}
