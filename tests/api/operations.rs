//! Health, readiness, metrics, and the HTTP edge: body limits, content types,
//! unknown routes and methods, all answered as problems.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{id_of, request_path, requests_path, spawn_app, Backend, JIRA};

backend_tests!(
    health_and_readiness_need_no_token,
    metrics_count_requests_by_route_and_status,
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
    let counted_line = metrics
        .text
        .lines()
        .find(|line| line.starts_with("http_requests_total") && line.contains("status=\"201\""))
        .expect("a count of 201 answers");
    assert!(counted_line.contains("method=\"POST\""), "{counted_line}");
    assert!(counted_line.contains("route="), "{counted_line}");
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
