//! One error type for the whole API, answered as `application/problem+json` (RFC 9457).

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::{EndRefusal, RequestRefusal, TransitionRefusal};

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, as a dotted path into the body (`subject.email`) or a parameter name.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: `code` names the problem.
    #[serde(rename = "type")]
    pub problem_type: &'static str,
    /// The HTTP status phrase.
    pub title: String,
    pub status: u16,
    /// What went wrong, for people.
    pub detail: String,
    /// A stable snake_case word for programs, e.g. `duplicate_request`.
    pub code: &'static str,
    /// The invalid fields, on `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// The pending request that a `duplicate_request` collides with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub existing_request_id: Option<Uuid>,
}

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Everything the API can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{detail}")]
    Conflict {
        code: &'static str,
        detail: String,
        existing_request_id: Option<Uuid>,
    },
    #[error("the request was changed since version {0} was read")]
    PreconditionFailed(String),
    #[error("the body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request has invalid fields")]
    Validation(Vec<FieldError>),
    #[error("{detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("too many requests; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64, detail: String },
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn forbidden(detail: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            detail: detail.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} was not found"))
    }

    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            detail: detail.into(),
            existing_request_id: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::PreconditionFailed(_) => "precondition_failed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    fn detail(&self) -> String {
        match self {
            ApiError::RateLimited { detail, .. } => detail.clone(),
            // The cause of an internal error is logged, never sent.
            ApiError::Internal(_) => "the service could not complete the request".to_owned(),
            other => other.to_string(),
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            errors: match self {
                ApiError::Validation(errors) => Some(errors.clone()),
                _ => None,
            },
            existing_request_id: match self {
                ApiError::Conflict {
                    existing_request_id, ..
                } => *existing_request_id,
                _ => None,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Validation(_) | ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(cause) = self {
            tracing::error!(error = ?cause, "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.content_type(PROBLEM_JSON);
        match self {
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RateLimited { retry_after_secs, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        response.json(self.problem())
    }
}

impl From<RequestRefusal> for ApiError {
    fn from(refusal: RequestRefusal) -> Self {
        let (code, detail) = match refusal {
            RequestRefusal::EmailNotVerified => (
                "email_not_verified",
                "a verified email address is required to request access",
            ),
            RequestRefusal::RequesterBlocked => (
                "requester_blocked",
                "this account may no longer request access on this site",
            ),
            RequestRefusal::OnBehalfRequiresSiteUser => (
                "on_behalf_requires_site_user",
                "only users of the site may request access for someone else",
            ),
            RequestRefusal::ExternalRequestsDisabled => (
                "external_requests_disabled",
                "this site does not accept requests from people who are not its users",
            ),
        };
        ApiError::Forbidden {
            code,
            detail: detail.to_owned(),
        }
    }
}

impl From<TransitionRefusal> for ApiError {
    fn from(refusal: TransitionRefusal) -> Self {
        match refusal {
            TransitionRefusal::NotPending => {
                ApiError::conflict("not_pending", "the request is no longer pending")
            }
            TransitionRefusal::VersionMismatch => ApiError::PreconditionFailed(
                "the version named by If-Match is not the request's current version".to_owned(),
            ),
        }
    }
}

impl From<EndRefusal> for ApiError {
    fn from(refusal: EndRefusal) -> Self {
        match refusal {
            EndRefusal::NotInFuture => ApiError::invalid("expires_at", "must be in the future"),
            EndRefusal::TooLong { max_hours } => ApiError::Unprocessable {
                code: "duration_too_long",
                detail: format!("the product allows access for at most {max_hours} hours"),
            },
        }
    }
}

impl From<validator::ValidationErrors> for ApiError {
    fn from(errors: validator::ValidationErrors) -> Self {
        let mut fields = Vec::new();
        collect_field_errors("", &errors, &mut fields);
        fields.sort_by(|a, b| a.field.cmp(&b.field));
        ApiError::Validation(fields)
    }
}

fn collect_field_errors(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<FieldError>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("is invalid ({})", error.code));
                    out.push(FieldError::new(path.clone(), message));
                }
            }
            ValidationErrorsKind::Struct(inner) => collect_field_errors(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_field_errors(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => ApiError::NotFound("the resource was not found".to_owned()),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                ApiError::conflict("conflict", "the change collides with a concurrent one; try again")
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => {
                ApiError::conflict("conflict", "the change collides with a concurrent one; try again")
            }
            // PostgreSQL refuses NUL in text; the input is bad, not the service.
            Error::DatabaseError(_, info) if info.message().contains("invalid byte sequence") => {
                ApiError::BadRequest("text must not contain NUL characters".to_owned())
            }
            other => ApiError::Internal(anyhow::Error::new(other).context("database error")),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    #[actix_web::test]
    async fn problems_carry_code_and_no_internals() {
        let error = ApiError::Internal(anyhow::anyhow!("SELECT secret FROM keys"));
        let response = error.error_response();
        assert_eq!(response.status(), 500);
        assert_eq!(response.headers().get("content-type").unwrap(), PROBLEM_JSON);
        let body = to_bytes(response.into_body()).await.unwrap();
        let text = std::str::from_utf8(&body).unwrap();
        assert!(!text.contains("SELECT"), "{text}");
        assert!(text.contains("\"code\":\"internal_error\""));
    }

    #[actix_web::test]
    async fn unauthorized_asks_for_a_bearer_token() {
        let response = ApiError::Unauthorized("no token".into()).error_response();
        assert_eq!(response.headers().get("www-authenticate").unwrap(), "Bearer");
    }

    #[test]
    fn refusals_map_to_contract_codes() {
        assert_eq!(
            ApiError::from(RequestRefusal::EmailNotVerified).code(),
            "email_not_verified"
        );
        assert_eq!(
            ApiError::from(RequestRefusal::OnBehalfRequiresSiteUser).code(),
            "on_behalf_requires_site_user"
        );
        assert_eq!(ApiError::from(TransitionRefusal::NotPending).status_code(), 409);
        assert_eq!(
            ApiError::from(TransitionRefusal::VersionMismatch).status_code(),
            412
        );
    }
}
