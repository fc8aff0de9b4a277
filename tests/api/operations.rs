//! Health, readiness, metrics, and the HTTP edge: body limits, content types,
//! unknown routes and methods, all answered as problems.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{
    id_of, request_path, requests_path, spawn_app, spawn_app_with, wait_for, Backend, TestApp, JIRA, WAIT,
};

backend_tests!(
    health_and_readiness_need_no_token,
    readiness_answers_within_a_second,
    metrics_count_requests_by_route_and_status,
    metrics_labels_come_from_closed_sets,
    outbox_gauges_are_counted_in_the_background,
    bodies_over_64_kib_are_refused,
    malformed_bodies_are_bad_requests,
    unknown_routes_and_methods_are_problems,
    malformed_ids_in_paths_are_not_found,
    nul_characters_never_cause_a_server_error,
);

async fn health_and_readiness_need_no_token(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.send(Method::GET, path, None, None, &[]).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text);
    }
}

/// A probe gives up after 1 s by default: both answers must come sooner.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Sends `GET path` and returns the answer with how long it took.
async fn timed_get(app: &TestApp, path: &str) -> (crate::helpers::ApiResponse, Duration) {
    let started = Instant::now();
    let response = app.send(Method::GET, path, None, None, &[]).await;
    (response, started.elapsed())
}

/// Drops the app's PostgreSQL database under it, its open connections included.
fn drop_postgres_database(database_url: &str) {
    let server = Backend::postgres_url().expect("TEST_DATABASE_URL is set");
    let name = reqwest::Url::parse(database_url).expect("a URL").path()[1..].to_owned();
    let mut conn = PgConnection::establish(&server).expect("a connection to the server");
    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .expect("DROP DATABASE");
}

/// The app with the `DATABASE_URL` it was given.
async fn spawn_app_and_url(
    backend: Backend,
    tweak: impl FnOnce(&mut access_requests::config::Settings),
) -> (TestApp, String) {
    let mut database_url = String::new();
    let app = spawn_app_with(backend, |settings| {
        database_url = settings.database_url.clone();
        tweak(settings);
    })
    .await;
    (app, database_url)
}

/// `/readyz` says 200 at once while the database answers and 503 within a second once it is
/// gone (PostgreSQL: the database is dropped under the running app); `/healthz` stays 200.
async fn readiness_answers_within_a_second(backend: Backend) {
    let (app, database_url) = spawn_app_and_url(backend, |_| {}).await;
    for _ in 0..3 {
        let (ready, took) = timed_get(&app, "/readyz").await;
        assert_eq!(ready.status, 200, "{}", ready.text);
        assert!(took < PROBE_TIMEOUT, "/readyz took {took:?}");
    }
    if backend != Backend::Postgres {
        return;
    }
    drop_postgres_database(&database_url);
    for _ in 0..3 {
        let (ready, took) = timed_get(&app, "/readyz").await;
        ready.expect_problem(503, "unavailable");
        assert!(took < PROBE_TIMEOUT, "/readyz took {took:?} to say 503");
    }
    let (health, took) = timed_get(&app, "/healthz").await;
    assert_eq!(health.status, 200);
    assert!(took < PROBE_TIMEOUT, "/healthz took {took:?}");
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    app.request_self(&world.site_id, &world.outsider, JIRA).await;
    app.send(Method::GET, "/v1/me/access-requests", None, None, &[])
        .await;

    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(metrics.status, 200);
    let content_type = metrics.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    for needle in [
        "http_requests_total",
        "http_request_duration_seconds",
        "webhook_deliveries",
        "status=\"201\"",
        "status=\"401\"",
    ] {
        assert!(metrics.text.contains(needle), "no {needle} in\n{}", metrics.text);
    }
    // The one request made: its method, route pattern (not its path) and status.
    let created =
        "http_requests_total{method=\"POST\",route=\"/v1/sites/{site_id}/access-requests\",status=\"201\"} 1";
    assert!(
        metrics.text.contains(created),
        "no {created} in\n{}",
        metrics.text
    );
}

/// Junk methods and unmatched paths fold into `other` and `unmatched`: however many of them
/// arrive, the exposition does not grow.
async fn metrics_labels_come_from_closed_sets(backend: Backend) {
    let app = spawn_app(backend).await;
    let junk_burst = async || {
        for _ in 0..40 {
            let junk = format!("JUNK{}", "X".repeat(500) + &Uuid::new_v4().simple().to_string());
            let method = Method::from_bytes(junk.as_bytes()).expect("a token");
            app.send(method.clone(), "/v1/orgs", None, None, &[])
                .await
                .expect_problem(405, "method_not_allowed");
            let unmatched = format!("/nowhere-{}/{}", Uuid::new_v4(), "y".repeat(300));
            app.send(method, &unmatched, None, None, &[]).await;
            app.send(Method::GET, &unmatched, None, None, &[])
                .await
                .expect_problem(404, "not_found");
        }
    };
    // The first scrape adds the series of /metrics itself.
    app.send(Method::GET, "/metrics", None, None, &[]).await;
    junk_burst().await;
    let first = app.send(Method::GET, "/metrics", None, None, &[]).await;
    junk_burst().await;
    let second = app.send(Method::GET, "/metrics", None, None, &[]).await;

    for needle in [
        "method=\"other\",route=\"/v1/orgs\",status=\"405\"} 80",
        "method=\"GET\",route=\"unmatched\",status=\"404\"} 80",
        "method=\"other\",route=\"unmatched\"",
    ] {
        assert!(second.text.contains(needle), "no {needle} in\n{}", second.text);
    }
    for leak in ["JUNK", "nowhere-", "yyyy"] {
        assert!(
            !second.text.contains(leak),
            "{leak} became a label:\n{}",
            second.text
        );
    }
    // Only counters moved (a few digits), no new series.
    assert_eq!(first.text.lines().count(), second.text.lines().count());
    assert!(
        second.text.len() < first.text.len() + 500,
        "{} -> {} bytes",
        first.text.len(),
        second.text.len()
    );
    assert!(second.text.len() < 32 * 1024, "{} bytes", second.text.len());
}

/// The value of the `webhook_deliveries` gauge for `status` in a /metrics body.
fn outbox_gauge(metrics: &str, status: &str) -> Option<i64> {
    let prefix = format!("webhook_deliveries{{status=\"{status}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix)?.parse().ok())
}

/// Pending deliveries show in `webhook_deliveries` once the background count has run; a
/// scrape itself reads memory only (PostgreSQL: it answers at once, with the last count,
/// after the database is gone).
async fn outbox_gauges_are_counted_in_the_background(backend: Backend) {
    let (app, database_url) = spawn_app_and_url(backend, |settings| {
        // A failed attempt is retried only in an hour: the deliveries stay pending.
        settings.webhook_retry_base_ms = 3_600_000;
    })
    .await;
    let first = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(outbox_gauge(&first.text, "pending"), Some(0), "{}", first.text);
    assert_eq!(outbox_gauge(&first.text, "failed"), Some(0), "{}", first.text);

    app.group.answer(500);
    app.billing.answer(500);
    let w = app.world().await;
    let request = app.request_for(&w.site_id, &w.member, "someone", JIRA).await;
    app.approve(&w.site_id, &id_of(&request), &w.site_admin).await;
    let mut text = String::new();
    // The count runs every few seconds: allow for one period on top of the usual wait.
    wait_for(
        "two pending deliveries in /metrics",
        WAIT + Duration::from_secs(5),
        async || {
            text = app.send(Method::GET, "/metrics", None, None, &[]).await.text;
            outbox_gauge(&text, "pending") == Some(2)
        },
    )
    .await;
    assert_eq!(outbox_gauge(&text, "failed"), Some(0), "{text}");
    assert!(app.group.hits() >= 1 && app.billing.hits() >= 1);

    if backend != Backend::Postgres {
        return;
    }
    drop_postgres_database(&database_url);
    for _ in 0..3 {
        let (metrics, took) = timed_get(&app, "/metrics").await;
        assert_eq!(metrics.status, 200);
        assert!(took < PROBE_TIMEOUT, "/metrics took {took:?} without a database");
        assert_eq!(
            outbox_gauge(&metrics.text, "pending"),
            Some(2),
            "{}",
            metrics.text
        );
    }
}

async fn bodies_over_64_kib_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let huge = json!({"product_key": JIRA, "reason": "x".repeat(70 * 1024)}).to_string();
    app.send_raw(
        Method::POST,
        &requests_path(&world.site_id),
        &world.member.token,
        "application/json",
        huge,
    )
    .await
    .expect_problem(413, "payload_too_large");
    let huge_user = json!({"email": "a@acme.test", "role": "member", "display_name": "y".repeat(65 * 1024)});
    app.put_json(
        &format!("/v1/sites/{}/users/huge", world.site_id),
        &world.site_admin.token,
        &huge_user,
    )
    .await
    .expect_problem(413, "payload_too_large");
    assert!(app
        .list_requests(&world.site_id, &world.site_admin, &[])
        .await
        .is_empty());
}

async fn malformed_bodies_are_bad_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let path = requests_path(&world.site_id);
    let token = &world.member.token;

    for body in ["{", "", "null", "{\"product_key\": \"jira-software\",}"] {
        app.send_raw(Method::POST, &path, token, "application/json", body)
            .await
            .expect_problem(400, "bad_request");
    }
    app.send_raw(
        Method::POST,
        &path,
        token,
        "text/plain",
        r#"{"product_key": "jira-software"}"#,
    )
    .await
    .expect_problem(415, "unsupported_media_type");

    let request = app.request_self(&world.site_id, &world.member, JIRA).await;
    let deny = format!("{}/deny", request_path(&world.site_id, &id_of(&request)));
    app.post_json(
        &deny,
        &world.site_admin.token,
        &json!({"message": "no", "reason": "x"}),
    )
    .await
    .expect_problem(400, "bad_request");
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.platform_admin().token;
    app.get("/v1/nothing-here", &token)
        .await
        .expect_problem(404, "not_found");
    app.send(Method::GET, "/nothing-here", None, None, &[])
        .await
        .expect_problem(404, "not_found");
    app.delete("/v1/orgs", &token)
        .await
        .expect_problem(405, "method_not_allowed");
}

async fn malformed_ids_in_paths_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let token = &world.org_admin.token;
    for path in [
        "/v1/sites/not-a-uuid/access-requests".to_owned(),
        "/v1/sites/1234/settings/access-requests".to_owned(),
        request_path(&world.site_id, "not-a-uuid"),
        format!("{}/review", request_path(&world.site_id, "zzz")),
    ] {
        app.get(&path, token).await.expect_problem(404, "not_found");
    }
    let approve = format!("{}/approve", request_path(&world.site_id, "not-a-uuid"));
    app.post_json(&approve, token, &json!({}))
        .await
        .expect_problem(404, "not_found");
    app.send(
        Method::POST,
        "/v1/webhook-deliveries/nope/retry",
        Some(&world.platform_admin.token),
        None,
        &[],
    )
    .await
    .expect_problem(404, "not_found");
}

/// NUL characters in text are refused on both backends (PostgreSQL cannot store them):
/// `422` naming the field, and nothing changes.
async fn nul_characters_never_cause_a_server_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let body = json!({"product_key": JIRA, "reason": "a\u{0}b"});
    let created = app.create_request(&w.site_id, &w.member.token, &body).await;
    created.expect_problem(422, "validation_failed");
    assert_eq!(created.error_fields(), ["reason"]);
    assert!(app.list_requests(&w.site_id, &w.site_admin, &[]).await.is_empty());
    let filtered = app
        .get(
            &format!("{}?requester=a%00b", requests_path(&w.site_id)),
            &w.site_admin.token,
        )
        .await;
    filtered.expect_problem(422, "validation_failed");
    let user = json!({"email": "n@acme.test", "display_name": "a\u{0}b", "role": "member"});
    app.put_json(
        &format!("/v1/sites/{}/users/nul-user", w.site_id),
        &w.site_admin.token,
        &user,
    )
    .await
    .expect_problem(422, "validation_failed");
}
