//! `X-Request-Id` on every response, and the request's span and log line carrying the same id.
//!
//! The caller's own id is kept when it is sane (1–128 visible ASCII characters), so an id a
//! gateway or frontend made follows the request through our logs; anything else is replaced
//! by a fresh UUID rather than written into a header or a log line.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;
use uuid::Uuid;

/// The header that carries the id both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller id kept.
const MAX_LEN: usize = 128;

/// The caller's id when it is 1–128 visible ASCII characters, else a new UUID.
pub fn choose(offered: Option<&HeaderValue>) -> HeaderValue {
    match offered {
        Some(value) if is_sane(value.as_bytes()) => value.clone(),
        _ => HeaderValue::from_str(&Uuid::new_v4().to_string()).expect("a UUID is a header value"),
    }
}

fn is_sane(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.iter().all(|b| b.is_ascii_graphic())
}

/// Runs the request inside a `request` span with its id, answers with the id in
/// `X-Request-Id`, and logs one `request finished` line (method, path, status, elapsed).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = choose(req.headers().get(&X_REQUEST_ID));
    // Sane ids and UUIDs are visible ASCII, hence valid `str`.
    let span = tracing::info_span!("request", request_id = %id.to_str().unwrap_or_default());
    let method = req.method().clone();
    let path = req.path().to_owned();
    let started = Instant::now();
    let outcome = span.in_scope(|| next.call(req)).instrument(span.clone()).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let finished = |status: u16| {
        span.in_scope(|| tracing::info!(%method, %path, status, elapsed_ms, "request finished"));
    };
    match outcome {
        Ok(mut res) => {
            finished(res.status().as_u16());
            res.headers_mut().insert(X_REQUEST_ID, id);
            Ok(res)
        }
        // Errors that no inner layer turned into a response become one later, in the server.
        Err(mut error) => {
            finished(error.as_response_error().status_code().as_u16());
            error.add_response_mapper(move |mut res| {
                res.headers_mut().insert(X_REQUEST_ID, id.clone());
                res
            });
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        let offered = |raw: &[u8]| choose(Some(&HeaderValue::from_bytes(raw).unwrap()));
        for sane in [&b"abc-123"[..], b"x", &[b'a'; 128], b"trace=1;span=2/3"] {
            assert_eq!(offered(sane).as_bytes(), sane);
        }
        for insane in [&[b'a'; 129][..], b"two words", b"tab\there", b"caf\xc3\xa9"] {
            let chosen = offered(insane);
            assert!(Uuid::parse_str(chosen.to_str().unwrap()).is_ok(), "{insane:?}");
        }
        assert!(Uuid::parse_str(choose(None).to_str().unwrap()).is_ok());
        assert_ne!(choose(None), choose(None));
    }
}
