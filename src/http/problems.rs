//! The problem answers the handlers document (every error is `application/problem+json`).

use utoipa::IntoResponses;

use crate::error::Problem;

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
