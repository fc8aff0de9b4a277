//! The HTTP surface: one module per resource, with thin handlers and their DTOs.

pub mod admin;
pub mod bulk;
pub mod cors;
pub mod deliveries;
pub mod directory;
pub mod grants;
pub mod ops;
pub mod orgs;
pub mod records;
pub mod request_id;
pub mod request_types;
pub mod requests;
pub mod review;

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;
use validator::Validate;

use crate::domain::{AccountId, ProductKey};
use crate::error::{ApiError, ApiResult, PROBLEM_JSON};

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
        // The router tries each route's pattern in this order until one matches: the busiest
        // routes (access requests, then grants) come first, so their calls test few patterns.
        .configure(ops::configure)
        // Before `requests`: `…/access-requests/feedback` and `…/bulk` are not request ids.
        .configure(bulk::configure)
        .configure(records::configure)
        .configure(requests::configure)
        .configure(grants::configure)
        .configure(orgs::configure)
        .configure(directory::configure)
        .configure(admin::configure)
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

/// A body (or nested value) that must be a JSON object. serde alone would also build a
/// struct from an array of its fields in order, past `deny_unknown_fields` and the document.
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for JsonObject<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(JsonObject)
    }
}

/// For `#[serde(default, deserialize_with = "…")]` on an optional nested object.
pub fn optional_object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<JsonObject<T>>::deserialize(deserializer).map(|o| o.map(JsonObject::into_inner))
}

/// Parses a JSON body that may be left out (`approve`, `deny`, `cancel`, …): no body is the
/// same as `{}`; when there is one it is an object, as the document says.
pub fn optional_body<T: DeserializeOwned + Default>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice::<JsonObject<T>>(bytes)
        .map(JsonObject::into_inner)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid: {e}")))
}

/// A JSON number without a fraction as an integer: `3` or `3.0` (JSON Schema's `integer` is
/// any number without a fraction, and generated clients send either).
struct Whole<T>(T);

impl<'de, T: TryFrom<i64>> Deserialize<'de> for Whole<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .and_then(|n| T::try_from(n).ok())
            .map(Whole)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("invalid value: {number}, expected an integer in range"))
            })
    }
}

/// For `#[serde(deserialize_with = "…")]` on an integer field.
pub fn whole_number<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(
    deserializer: D,
) -> Result<T, D::Error> {
    Whole::deserialize(deserializer).map(|w| w.0)
}

/// For `#[serde(default, deserialize_with = "…")]` on an optional integer field.
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    Option::<Whole<T>>::deserialize(deserializer).map(|o| o.map(|w| w.0))
}

/// For `#[serde(default, deserialize_with = "…")]` on an `Option<Option<integer>>`: `None` when
/// absent, `Some(None)` when `null`.
pub fn present_whole_number<'de, D: serde::Deserializer<'de>, T: TryFrom<i64>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    optional_whole_number(deserializer).map(Some)
}

/// Text fields refuse NUL characters: PostgreSQL cannot store them and no name or message needs one.
pub fn no_nul(text: &str) -> Result<(), validator::ValidationError> {
    if text.contains('\0') {
        Err(validator::ValidationError::new("nul").with_message("must not contain NUL characters".into()))
    } else {
        Ok(())
    }
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

/// A list filter that must be a product key, when given: `422` naming it otherwise.
pub fn product_filter(raw: Option<&str>) -> ApiResult<()> {
    raw.map_or(Ok(()), |key| product_to_write(key).map(drop))
}

/// A list filter called `name` that must be an account id, when given: `422` naming it otherwise.
pub fn account_filter(name: &str, raw: Option<&str>) -> ApiResult<()> {
    match raw {
        Some(account) => AccountId::parse(account)
            .map(drop)
            .map_err(|e| ApiError::invalid(name, e.to_string())),
        None => Ok(()),
    }
}

/// `If-Match: <version>` (`3`, `"3"` or `W/"3"`); `*` and no header match any version.
pub fn if_match(req: &HttpRequest) -> ApiResult<Option<i64>> {
    match req.headers().get(header::IF_MATCH) {
        None => Ok(None),
        Some(value) => {
            let raw = value.to_str().unwrap_or_default();
            if raw.trim() == "*" {
                return Ok(None);
            }
            crate::domain::parse_if_match(raw)
                .map(Some)
                .ok_or_else(|| ApiError::BadRequest("If-Match must name a version, e.g. \"3\"".to_owned()))
        }
    }
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters.
pub fn idempotency_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    let Some(value) = req.headers().get("Idempotency-Key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::BadRequest("Idempotency-Key must be 1-255 visible ASCII characters".to_owned())
        })?;
    Ok(Some(key.to_owned()))
}

/// For `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>`: `None` when
/// the field is absent, `Some(None)` when it is `null`.
pub fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A stored time as the API shows it.
pub fn time(micros: i64) -> chrono::DateTime<chrono::Utc> {
    crate::store::to_datetime(micros)
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
        page(self.limit, self.cursor.as_deref())
    }
}

/// The `limit` (1–200, default 50) and `cursor` of a list.
pub fn page(limit: Option<i64>, cursor: Option<&str>) -> ApiResult<(i64, Option<crate::store::Cursor>)> {
    {
        let limit = limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::invalid("limit", "must be from 1 to 200"));
        }
        // `cursor=` (an empty value, as forms send it) is the first page.
        let cursor = cursor
            .filter(|c| !c.is_empty())
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
    let allow = match status.as_u16() {
        405 => res.request().match_pattern().and_then(|p| allowed_methods(&p)),
        _ => None,
    };
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
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// The `Allow` header of a `405` on a route pattern: the methods the OpenAPI document lists
/// for it (RFC 9110 requires the header on every `405`).
fn allowed_methods(pattern: &str) -> Option<header::HeaderValue> {
    static ALLOW: OnceLock<HashMap<String, header::HeaderValue>> = OnceLock::new();
    let table = ALLOW.get_or_init(|| {
        const METHODS: [&str; 8] = [
            "get", "head", "post", "put", "patch", "delete", "options", "trace",
        ];
        let doc = serde_json::to_value(crate::openapi::document()).unwrap_or_default();
        let mut table: HashMap<String, header::HeaderValue> = doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(path, item)| {
                let methods: Vec<String> = METHODS
                    .iter()
                    .filter(|m| item.get(**m).is_some())
                    .map(|m| m.to_ascii_uppercase())
                    .collect();
                let value = header::HeaderValue::from_str(&methods.join(", ")).ok()?;
                Some((path.clone(), value))
            })
            .collect();
        table.insert(
            "/api-docs/openapi.json".to_owned(),
            header::HeaderValue::from_static("GET"),
        );
        table
    });
    table.get(pattern).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_bodies_may_be_left_out_but_are_objects() {
        let _: request_types::ApproveBody = optional_body(b"").unwrap();
        let _: request_types::ApproveBody = optional_body(b" {} ").unwrap();
        assert!(optional_body::<request_types::ApproveBody>(b" null ").is_err());
        let deny: request_types::DenyBody = optional_body(br#"{"message": "no"}"#).unwrap();
        assert_eq!(deny.message.as_deref(), Some("no"));
        assert!(optional_body::<request_types::ApproveBody>(b"[]").is_err());
        assert!(optional_body::<request_types::DenyBody>(br#"["no"]"#).is_err());
    }

    #[test]
    fn bodies_are_objects_not_arrays_of_fields() {
        // serde alone builds a struct from `[field, …]`, past `deny_unknown_fields`.
        let org = |json: &str| serde_json::from_str::<JsonObject<orgs::CreateOrg>>(json);
        assert!(org(r#"["Acme", ["acme.com"]]"#).is_err());
        assert!(org(r#"{"name": "Acme", "name": "Evil"}"#).is_err());
        assert!(org(r#"{"name": "Acme", "extra": 1}"#).is_err());
        assert_eq!(org(r#"{"name": "Acme"}"#).unwrap().into_inner().name, "Acme");
        let create =
            |json: &str| serde_json::from_str::<JsonObject<request_types::CreateAccessRequest>>(json);
        assert!(create(r#"{"product_key": "jira", "subject": ["557058:ab"]}"#).is_err());
        assert!(create(r#"{"product_key": "jira", "subject": null}"#).is_ok());
        assert!(create(r#"{"product_key": "jira"}"#).is_ok());
        let subject = create(r#"{"product_key": "jira", "subject": {"account_id": "a"}}"#);
        assert_eq!(subject.unwrap().into_inner().subject.unwrap().account_id, "a");
    }

    #[test]
    fn whole_numbers_may_have_a_zero_fraction() {
        let rating = |json: &str| serde_json::from_str::<records::CreateFeedback>(json).map(|f| f.rating);
        assert_eq!(rating(r#"{"rating": 4}"#).unwrap(), 4);
        assert_eq!(rating(r#"{"rating": 4.0}"#).unwrap(), 4);
        assert!(rating(r#"{"rating": 4.5}"#).is_err());
        assert!(rating(r#"{"rating": 1e10}"#).is_err());
        assert!(rating(r#"{"rating": "4"}"#).is_err());
        let hours = |json: &str| {
            serde_json::from_str::<request_types::CreateAccessRequest>(json).map(|r| r.duration_hours)
        };
        assert_eq!(
            hours(r#"{"product_key": "jira", "duration_hours": 336.0}"#).unwrap(),
            Some(336)
        );
        assert_eq!(
            hours(r#"{"product_key": "jira", "duration_hours": null}"#).unwrap(),
            None
        );
        assert!(hours(r#"{"product_key": "jira", "duration_hours": 1.5}"#).is_err());
    }

    #[test]
    fn an_empty_cursor_is_the_first_page() {
        let empty = PageQuery {
            limit: None,
            cursor: Some(String::new()),
        };
        assert!(empty.parse().unwrap().1.is_none());
        let forged = PageQuery {
            limit: None,
            cursor: Some("x".to_owned()),
        };
        assert!(forged.parse().is_err());
    }

    #[test]
    fn a_405_allows_the_documented_methods() {
        let allow = |pattern| allowed_methods(pattern).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            allow("/v1/sites/{site_id}/users/{account_id}").as_deref(),
            Some("GET, PUT, DELETE")
        );
        assert_eq!(allow("/v1/orgs").as_deref(), Some("POST"));
        assert_eq!(allow("/nowhere"), None);
    }
}
