//! Webhook delivery benchmark: prints deliveries per second to a local receiver and the
//! commit-to-delivery latency (p50/p99), on SQLite and, when `TEST_DATABASE_URL` names a
//! PostgreSQL server, on PostgreSQL too.
//!
//! `cargo bench --bench outbox` (optionally `BENCH_DELIVERIES=5000 BENCH_APPROVALS=300`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use access_requests::auth::{mint_hs256, TokenClaims};
use access_requests::config::Settings;
use access_requests::domain::WebhookTargetKind;
use access_requests::store::{outbox, Db};
use access_requests::webhooks::events;
use access_requests::Application;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use diesel::{sql_query, Connection, PgConnection, RunQueryDsl};
use serde_json::{json, Value};

const SECRET: &str = "bench-hs256-secret-0123456789abcdef";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// What the receiver saw: arrival wall-clock (µs) by webhook id.
#[derive(Default)]
struct Seen {
    arrivals: HashMap<String, (i64, Value)>,
}

async fn receive(req: HttpRequest, body: web::Bytes, seen: web::Data<Mutex<Seen>>) -> HttpResponse {
    let now = chrono::Utc::now().timestamp_micros();
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    seen.lock().unwrap().arrivals.entry(id).or_insert((now, body));
    HttpResponse::NoContent().finish()
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn token(sub: &str) -> String {
    mint_hs256(
        SECRET.as_bytes(),
        &TokenClaims {
            sub: sub.to_owned(),
            email: Some(format!("{sub}@bench.example")),
            email_verified: Some(true),
            name: None,
            exp: chrono::Utc::now().timestamp() + 3600,
            iat: None,
            nbf: None,
            iss: None,
            aud: None,
        },
    )
}

fn fresh_postgres(base: &str) -> String {
    let name = format!("ar_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::establish(base).expect("connect to TEST_DATABASE_URL");
    sql_query(format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .expect("create database");
    let (head, _) = base.rsplit_once('/').expect("a database URL ends with /dbname");
    format!("{head}/{name}")
}

struct Bench {
    base: String,
    client: reqwest::Client,
    seen: Arc<Mutex<Seen>>,
    db: Db,
}

impl Bench {
    async fn wait_for(&self, count: usize, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.seen.lock().unwrap().arrivals.len() >= count {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        false
    }

    async fn call(&self, method: reqwest::Method, path: &str, who: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token(who))
            .json(&body)
            .send()
            .await
            .expect("the service answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }
}

async fn run(label: &str, database_url: String, deliveries: usize, approvals: usize) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let data = web::Data::from(seen.clone());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(receive))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind the receiver");
    let receiver_port = receiver.addrs()[0].port();
    tokio::spawn(receiver.run());

    let url = format!("http://127.0.0.1:{receiver_port}/hook");
    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.clone()),
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("JWT_HS256_SECRET", SECRET.to_owned()),
        ("PLATFORM_ADMINS", "admin".to_owned()),
        ("GROUP_SERVICE_URL", url),
        ("GROUP_SERVICE_SECRET", WHSEC.to_owned()),
        ("RATE_LIMIT_CREATE_PER_MINUTE", "0".to_owned()),
        ("MAX_PENDING_PER_REQUESTER", "0".to_owned()),
    ]);
    let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings");
    let app = Application::build(settings).await.expect("start the service");
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let db = tokio::task::spawn_blocking(move || Db::connect(&database_url, None))
        .await
        .unwrap()
        .expect("open the database");
    let bench = Bench {
        base,
        client: reqwest::Client::new(),
        seen,
        db,
    };

    // Throughput: a backlog of deliveries committed at once, drained by the worker.
    let rows: Vec<_> = (0..deliveries)
        .map(|i| {
            events::delivery(
                WebhookTargetKind::Group,
                "group.member.add",
                &uuid::Uuid::new_v4().to_string(),
                json!({ "n": i }),
            )
        })
        .collect();
    let committed = Instant::now();
    bench
        .db
        .transaction(move |c| {
            for row in &rows {
                outbox::enqueue(c, row)?;
            }
            Ok(())
        })
        .await
        .expect("enqueue the backlog");
    let enqueue_time = committed.elapsed();
    let started = Instant::now();
    assert!(
        bench.wait_for(deliveries, Duration::from_secs(300)).await,
        "backlog not delivered"
    );
    let drained = started.elapsed();
    let (first, last) = {
        let seen = bench.seen.lock().unwrap();
        let times: Vec<i64> = seen.arrivals.values().map(|(t, _)| *t).collect();
        (*times.iter().min().unwrap(), *times.iter().max().unwrap())
    };
    let steady = Duration::from_micros((last - first).max(1) as u64);

    // Latency: approvals one after another through the API; each commits a group webhook.
    let org = bench
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            "admin",
            json!({"name": "Bench"}),
        )
        .await;
    let org_id = org["id"].as_str().unwrap().to_owned();
    bench
        .call(
            reqwest::Method::PUT,
            &format!("/v1/orgs/{org_id}/admins/admin"),
            "admin",
            Value::Null,
        )
        .await;
    let site = bench
        .call(
            reqwest::Method::POST,
            &format!("/v1/orgs/{org_id}/sites"),
            "admin",
            json!({"name": "Bench", "url": "https://bench.example"}),
        )
        .await;
    let site_id = site["id"].as_str().unwrap().to_owned();
    bench
        .call(
            reqwest::Method::PUT,
            &format!("/v1/sites/{site_id}/products/jira"),
            "admin",
            json!({"name": "Jira", "default_group": "jira-users"}),
        )
        .await;
    bench
        .call(
            reqwest::Method::PUT,
            &format!("/v1/sites/{site_id}/users/member"),
            "admin",
            json!({"email": "member@bench.example", "role": "member"}),
        )
        .await;
    let mut latencies = Vec::with_capacity(approvals);
    for i in 0..approvals {
        let request = bench
            .call(
                reqwest::Method::POST,
                &format!("/v1/sites/{site_id}/access-requests"),
                "member",
                json!({"product_key": "jira", "subject": {"account_id": format!("subject-{i}"), "email": "s@bench.example"}}),
            )
            .await;
        let request_id = request["id"].as_str().unwrap().to_owned();
        let before = bench.seen.lock().unwrap().arrivals.len();
        bench
            .call(
                reqwest::Method::POST,
                &format!("/v1/sites/{site_id}/access-requests/{request_id}/approve"),
                "admin",
                json!({}),
            )
            .await;
        assert!(
            bench.wait_for(before + 1, Duration::from_secs(10)).await,
            "approval {i} not delivered"
        );
        let seen = bench.seen.lock().unwrap();
        let (arrived, body) = seen
            .arrivals
            .values()
            .find(|(_, body)| body["data"]["request_id"] == request_id.as_str())
            .expect("the approval's webhook");
        let committed_at = chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap())
            .unwrap()
            .timestamp_micros();
        latencies.push(Duration::from_micros((arrived - committed_at).max(0) as u64));
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];

    println!("== {label}");
    println!(
        "backlog of {deliveries}: committed in {:.0} ms; drained in {:.2} s = {:.0} deliveries/s (first to last arrival: {:.0}/s)",
        enqueue_time.as_secs_f64() * 1e3,
        drained.as_secs_f64(),
        deliveries as f64 / drained.as_secs_f64(),
        deliveries as f64 / steady.as_secs_f64(),
    );
    println!(
        "commit-to-delivery over {approvals} approvals: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

#[actix_web::main]
async fn main() {
    let deliveries = env_number("BENCH_DELIVERIES", 5000);
    let approvals = env_number("BENCH_APPROVALS", 300).max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = dir.path().join("bench.db").display().to_string();
    run("SQLite", sqlite, deliveries, approvals).await;
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            run("PostgreSQL", fresh_postgres(&base), deliveries, approvals).await
        }
        _ => println!("== PostgreSQL: skipped (set TEST_DATABASE_URL=postgres://…/postgres)"),
    }
}
