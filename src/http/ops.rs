//! Health, readiness, metrics, and `/` leading to Swagger UI.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};

use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// How long `/readyz` waits for the database: a probe's default timeout is 1 s, and the
/// answer (either one) must arrive inside it whatever state the database is in.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(500);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(healthz)));
    cfg.service(web::resource("/readyz").route(web::get().to(readyz)));
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
    // Someone who opens the bare address in a browser lands on the API's documentation.
    cfg.service(web::resource("/").route(web::get().to(|| async {
        HttpResponse::Found()
            .insert_header((actix_web::http::header::LOCATION, "/swagger-ui/"))
            .finish()
    })));
}

/// Tell whether the process runs.
///
/// `200` while the process runs; no database, no token.
#[utoipa::path(get, path = "/healthz", operation_id = "get_health", tag = "operations", responses((status = 200, description = "The process runs", body = String, content_type = "text/plain")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Tell whether the database answers.
///
/// `200` when the database answers, else `503`, within a second either way (a probe's default
/// timeout). No token.
#[utoipa::path(
    get, path = "/readyz", operation_id = "get_readiness", tag = "operations",
    responses((status = 200, description = "The database answers", body = String, content_type = "text/plain"))
)]
pub async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if state.db.ping(READY_WITHIN).await {
        Ok(HttpResponse::Ok().content_type("text/plain").body("ready"))
    } else {
        Err(ApiError::Unavailable("the database does not answer".to_owned()))
    }
}

/// Prometheus metrics.
///
/// Text exposition: HTTP requests by route and status, a latency histogram, and pending and
/// failed webhook deliveries. Labels come from closed sets. No token.
#[utoipa::path(
    get, path = "/metrics", operation_id = "get_metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain; version=0.0.4"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    // Read from memory only: a scrape costs the same however large the tables are.
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Counts every request by its method and route pattern (never its raw path, which holds ids).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = req.method().clone();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res.request().match_pattern();
        state
            .metrics
            .observe(&method, route, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}
