//! The HTTP surface: one module per resource, with thin handlers and their DTOs.

pub mod admin;
pub mod deliveries;
pub mod directory;
pub mod ops;
pub mod requests;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};
use uuid::Uuid;
use validator::Validate;

use crate::domain::{AccountId, ProductKey};
use crate::error::{ApiError, ApiResult, Problem, PROBLEM_JSON};

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Registers every route of the API.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|err, _| ApiError::BadRequest(format!("invalid query: {err}")).into()),
        )
        .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::not_found("the resource").into()))
        .configure(ops::configure)
        .configure(directory::configure)
        // Before `requests`: `…/access-requests/feedback` must not be taken for a request id.
        .configure(admin::configure)
        .configure(requests::configure)
        .configure(deliveries::configure);
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_BODY_BYTES)
        .error_handler(|err, _| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. }
        | JsonPayloadError::Overflow { .. }
        | JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::PayloadTooLarge,
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("the body must be application/json".to_owned())
        }
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest(format!("the body is not valid: {e}")),
        other => ApiError::BadRequest(format!("the body could not be read: {other}")),
    }
}

/// Parses a JSON body that may be left out (`approve`, `deny`, `cancel`).
pub fn optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest(format!("the body is not valid: {e}")))
}

/// Checks a DTO's field rules; `422 validation_failed` lists what is wrong.
pub fn validated<T: Validate>(body: T) -> ApiResult<T> {
    body.validate()?;
    Ok(body)
}

/// A UUID from the path; anything else cannot name a resource (`404`).
pub fn path_id(raw: &str, what: &str) -> ApiResult<String> {
    Uuid::parse_str(raw)
        .map(|id| id.hyphenated().to_string())
        .map_err(|_| ApiError::not_found(what))
}

/// An account id from the path of a write: `422` when malformed.
pub fn account_to_write(raw: &str) -> ApiResult<AccountId> {
    AccountId::parse(raw).map_err(|e| ApiError::invalid("account_id", e.to_string()))
}

/// An account id from the path of a read or delete: `404` when malformed.
pub fn account_to_read(raw: &str, what: &str) -> ApiResult<AccountId> {
    AccountId::parse(raw).map_err(|_| ApiError::not_found(what))
}

pub fn product_to_write(raw: &str) -> ApiResult<ProductKey> {
    ProductKey::parse(raw).map_err(|e| ApiError::invalid("product_key", e.to_string()))
}

/// `limit` and `cursor` of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many items to return, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn parse(&self) -> ApiResult<(i64, Option<crate::store::Cursor>)> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be from 1 to 200"));
        }
        let cursor = self
            .cursor
            .as_deref()
            .map(crate::store::Cursor::decode)
            .transpose()?;
        Ok((limit, cursor))
    }
}

/// Turns any error answer that is not already a problem document (a wrong method,
/// an unmatched route, an oversized raw body) into one.
pub fn problem_fallback<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let error = match status.as_u16() {
        404 => ApiError::not_found("the resource"),
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge,
        415 => ApiError::UnsupportedMediaType("the body's media type is not accepted".to_owned()),
        400..=499 => ApiError::BadRequest("the request could not be understood".to_owned()),
        _ => ApiError::Internal(anyhow::anyhow!("unhandled error response {status}")),
    };
    let (req, _) = res.into_parts();
    let mut response: HttpResponse<BoxBody> = actix_web::ResponseError::error_response(&error);
    if status.as_u16() == 405 || status.is_client_error() {
        *response.status_mut() = status;
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// `401`: no token, or a token that is not valid.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or invalid bearer token (`unauthorized`).",
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    content_type = "application/problem+json"
)]
pub struct Unauthorized(pub Problem);

/// `403`: the caller's role does not allow this.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "The caller's role does not allow this (`forbidden`).",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

/// `404`: no such resource (or not visible to the caller).
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such resource, or not visible to the caller (`not_found`).",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

/// `400`: malformed query, body or unknown body fields.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Malformed JSON, unknown fields or bad query parameters (`bad_request`).",
    content_type = "application/problem+json"
)]
pub struct BadRequest(pub Problem);

/// `422`: invalid fields.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid fields (`validation_failed`, with `errors`).",
    content_type = "application/problem+json"
)]
pub struct Unprocessable(pub Problem);

/// `413` and `415`: a body too large or not JSON.
#[derive(IntoResponses)]
pub enum BodyRejected {
    #[response(
        status = 413,
        description = "The body is larger than 64 KiB (`payload_too_large`).",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 415,
        description = "The body is not `application/json` (`unsupported_media_type`).",
        content_type = "application/problem+json"
    )]
    MediaType(Problem),
}

/// `409`: the change conflicts with the resource's state.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "Conflicts with the current state; `code` says how.",
    content_type = "application/problem+json"
)]
pub struct Conflict(pub Problem);

/// `503`: a dependency (database or signing keys) is not available.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "The database or the token signing keys are unavailable (`unavailable`); retry.",
    headers(("Retry-After" = u64, description = "Seconds to wait")),
    content_type = "application/problem+json"
)]
pub struct Unavailable(pub Problem);
