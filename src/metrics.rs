//! Prometheus metrics: HTTP requests by route and status, a latency histogram, outbox states.
//!
//! Every label comes from a closed set — a known method or `other`, a route pattern or
//! `unmatched`, a status code — so no caller can grow the exposition. A scrape reads only
//! memory: the outbox gauges are refreshed by [`Metrics::refresh_outbox`] in the background.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::Method;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::DeliveryStatus;
use crate::store::{outbox, Db};

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// How often the outbox gauges are recounted. The count walks the `(status, next_attempt_at)`
/// index over pending and failed rows only, so it stays cheap however long the history grows.
const OUTBOX_REFRESH: Duration = Duration::from_secs(5);

/// The outbox states the gauges follow; `delivered` only grows, so it is not counted.
const OUTBOX_STATES: [DeliveryStatus; 2] = [DeliveryStatus::Pending, DeliveryStatus::Failed];

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    status: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The process's metrics; clones share the same series.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    deliveries: Family<DeliveryLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(|| Histogram::new(BUCKETS));
        let deliveries = Family::<DeliveryLabels, Gauge>::default();
        let mut registry = Registry::default();
        // The encoder appends `_total` to counters.
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method and route",
            latency.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries in the outbox that are pending or failed, recounted every few seconds",
            deliveries.clone(),
        );
        let metrics = Self {
            registry: Arc::new(registry),
            requests,
            latency,
            deliveries,
        };
        // Zeros until the first count, so the series exist from the first scrape.
        metrics.set_outbox(&[]);
        metrics
    }
}

/// The method label: one of the standard methods, else `other`.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

impl Metrics {
    /// Counts one answered request. `route` is the matched route pattern (never the raw
    /// path, which holds ids), `None` when no route matched.
    pub fn observe(&self, method: &Method, route: Option<String>, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(elapsed.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Sets the outbox gauges from `(status, count)` rows; a state without a row counts 0.
    pub fn set_outbox(&self, counts: &[(String, i64)]) {
        for state in OUTBOX_STATES {
            let n = counts
                .iter()
                .find(|(s, _)| s == state.as_str())
                .map_or(0, |(_, n)| *n);
            self.deliveries
                .get_or_create(&DeliveryLabels {
                    status: state.as_str(),
                })
                .set(n);
        }
    }

    /// Recounts the outbox every [`OUTBOX_REFRESH`], for as long as the service runs. When the
    /// database does not answer, the gauges keep their last values.
    pub async fn refresh_outbox(self, db: Db) {
        let mut ticks = tokio::time::interval(OUTBOX_REFRESH);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match db.run(outbox::counts_by_status).await {
                Ok(counts) => self.set_outbox(&counts),
                Err(error) => tracing::warn!(%error, "cannot recount the outbox for /metrics"),
            }
        }
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_outbox() {
        let m = Metrics::default();
        let route = || Some("/v1/sites/{site_id}".to_owned());
        m.observe(&Method::GET, route(), 200, Duration::from_millis(3));
        m.observe(&Method::GET, route(), 200, Duration::from_millis(30));
        m.set_outbox(&[("pending".into(), 4)]);
        let text = m.render();
        assert!(
            text.contains(
                "http_requests_total{method=\"GET\",route=\"/v1/sites/{site_id}\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains("le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
        assert!(
            text.contains("webhook_deliveries{status=\"pending\"} 4"),
            "{text}"
        );
        assert!(text.contains("webhook_deliveries{status=\"failed\"} 0"), "{text}");
    }

    #[test]
    fn labels_come_from_closed_sets() {
        let m = Metrics::default();
        let junk = Method::from_bytes(&[b'X'; 4000]).unwrap();
        for _ in 0..100 {
            m.observe(&junk, None, 405, Duration::ZERO);
        }
        let text = m.render();
        assert!(
            text.contains("http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 100"),
            "{text}"
        );
        assert!(!text.contains("XXXX"), "{text}");
        assert!(text.len() < 4000, "{} bytes", text.len());
    }
}
