//! Builds the app: database, verifier, HTTP server, webhook worker and pruner.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, ErrorHandlers};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use tokio::sync::Notify;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::Verifier;
use crate::config::Settings;
use crate::jobs::prune::Pruner;
use crate::metrics::Metrics;
use crate::store::Db;
use crate::webhooks::Worker;
use crate::{http, jobs, openapi};

/// What every handler shares.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// Wakes the webhook worker after a transaction added deliveries.
    pub outbox_notify: Arc<Notify>,
    pub metrics: Metrics,
}

/// A bound, ready-to-run service.
pub struct Application {
    addr: SocketAddr,
    server: Server,
    worker: Arc<Worker>,
    /// For the background loops (outbox gauges, expiry, retention) that run while the server runs.
    metrics: Metrics,
    db: Db,
    settings: Arc<Settings>,
    notify: Arc<Notify>,
    pruner: Pruner,
}

/// The HTTP client for webhooks and the JWKS. It never follows a redirect: a 302 would turn a
/// webhook into a bodiless GET that "succeeds", a 307 would re-send the signed body anywhere.
fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("access-requests/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")
}

impl Application {
    /// Opens the database (running migrations), binds `settings.listen_addr` and prepares the worker.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let (url, pool_size) = (settings.database_url.clone(), settings.database_pool_size);
        let db = actix_web::rt::task::spawn_blocking(move || Db::connect(&url, pool_size))
            .await
            .context("database start-up task failed")??;
        let client = http_client()?;
        let notify = Arc::new(Notify::new());
        let verifier = web::Data::new(Verifier::new(&settings, client.clone()));
        let metrics = Metrics::default();
        let state = web::Data::new(AppState {
            db: db.clone(),
            settings: settings.clone(),
            outbox_notify: notify.clone(),
            metrics: metrics.clone(),
        });
        let listener = TcpListener::bind(settings.listen_addr)
            .with_context(|| format!("cannot listen on {} (LISTEN_ADDR)", settings.listen_addr))?;
        let addr = listener.local_addr()?;
        let document = Arc::new(openapi::document_json());
        let server = HttpServer::new(move || {
            let document = document.clone();
            App::new()
                .app_data(state.clone())
                .app_data(verifier.clone())
                .wrap(ErrorHandlers::new().default_handler(http::problem_fallback))
                .wrap(http::cors::layer(&state.settings.cors_allowed_origins))
                // Outside CORS too: its refused preflights become problems.
                .wrap(ErrorHandlers::new().default_handler(http::problem_fallback))
                .wrap(from_fn(http::ops::track))
                .wrap(from_fn(http::request_id::middleware))
                .configure(http::configure)
                .route(
                    "/api-docs/openapi.json",
                    web::get().to(move || {
                        let document = document.clone();
                        async move {
                            HttpResponse::Ok()
                                .content_type("application/json")
                                .body(document.as_str().to_owned())
                        }
                    }),
                )
                .route(
                    "/swagger-ui",
                    web::get().to(|| async {
                        HttpResponse::PermanentRedirect()
                            .insert_header(("location", "/swagger-ui/"))
                            .finish()
                    }),
                )
                .service(
                    SwaggerUi::new("/swagger-ui/{_:.*}")
                        .config(Config::from("/api-docs/openapi.json").persist_authorization(true)),
                )
                .default_service(web::to(|| async {
                    actix_web::ResponseError::error_response(&crate::error::ApiError::not_found(
                        "the resource",
                    ))
                }))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        let pruner = Pruner::new(db.clone(), settings.webhook_retention_days);
        let worker = Arc::new(Worker::new(db.clone(), settings.clone(), client, notify.clone()));
        Ok(Self {
            addr,
            server,
            worker,
            metrics,
            db,
            settings,
            notify,
            pruner,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the server listens on (the real port when `LISTEN_ADDR` asked for 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the process is told to stop; the webhook worker and the background loops
    /// (expiry, outbox gauges, retention) run alongside.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let worker = tokio::spawn(self.worker.run());
        let expiry = tokio::spawn(jobs::expiry::run(self.db.clone(), self.settings, self.notify));
        let gauges = tokio::spawn(self.metrics.refresh_outbox(self.db));
        let pruner = tokio::spawn(self.pruner.run());
        let result = self.server.await;
        worker.abort();
        gauges.abort();
        expiry.abort();
        pruner.abort();
        result
    }
}
