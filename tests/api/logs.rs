//! The service's logs, captured from the real binary: through a full scenario at `debug`
//! level they never contain a token, the JWT secret, a webhook secret or a webhook signature;
//! each request's line carries its `X-Request-Id`; `LOG_FORMAT=json` writes JSON lines.

use std::collections::HashMap;
use std::fs::File;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{id_of, Backend, TestApp, JIRA, JWT_SECRET};
use crate::process::ServiceProcess;

async fn logs_hold_no_secrets(backend: Backend) {
    let (mut app, mut env) = TestApp::prepare(backend);
    env.insert("RUST_LOG".into(), "debug".into());
    env.insert("WEBHOOK_RETRY_BASE_MS".into(), "20".into());
    let dir = tempfile::tempdir().expect("a temp dir");
    let log_path = dir.path().join("service.log");
    let log = File::create(&log_path).expect("a log file");
    let service = ServiceProcess::start_logging(env, log).await;
    app.address = service.address.clone();

    let w = app.world().await;
    app.billing.fail_next(2);
    let approved = app.request_for(&w.site_id, &w.member, "someone", JIRA).await;
    app.approve(&w.site_id, &id_of(&approved), &w.site_admin).await;
    let denied = app.request_self(&w.site_id, &w.outsider, JIRA).await;
    app.deny(&w.site_id, &id_of(&denied), &w.site_admin, Some("not now"))
        .await;
    app.wait_delivered(&id_of(&approved), 3).await;
    app.wait_delivered(&id_of(&denied), 1).await;
    // Rejected tokens are not logged either.
    let forged = format!("{}x", w.member.token);
    app.send(Method::GET, "/v1/me/access-requests", Some(&forged), None, &[])
        .await
        .expect_problem(401, "unauthorized");
    app.send(
        Method::POST,
        &format!("/v1/sites/{}/access-requests", w.site_id),
        Some(&w.member.token),
        Some(&json!({"product_key": 5})),
        &[],
    )
    .await
    .expect_problem(400, "bad_request");
    drop(service);

    let logs = std::fs::read_to_string(&log_path).expect("the log file");
    assert!(
        logs.contains("webhook"),
        "the scenario was logged at debug level:\n{logs}"
    );
    let mut secrets: Vec<(String, String)> = vec![("the JWT secret".into(), JWT_SECRET.into())];
    for actor in [
        &w.platform_admin,
        &w.org_admin,
        &w.site_admin,
        &w.member,
        &w.outsider,
    ] {
        let signature = actor.token.rsplit('.').next().unwrap_or_default().to_owned();
        secrets.push((format!("{}'s token", actor.id), actor.token.clone()));
        secrets.push((format!("{}'s token signature", actor.id), signature));
    }
    for receiver in [&app.group, &app.billing, &app.notification] {
        let key = receiver.secret.trim_start_matches("whsec_").to_owned();
        secrets.push(("a webhook secret".into(), receiver.secret.clone()));
        secrets.push(("a webhook key".into(), key));
        for call in receiver.calls() {
            let signature = call
                .header("webhook-signature")
                .trim_start_matches("v1,")
                .to_owned();
            secrets.push(("a webhook signature".into(), signature));
        }
    }
    for (what, secret) in secrets {
        assert!(!logs.contains(&secret), "the logs contain {what}");
    }
}

/// The service started from `env` plus `extra`, its logs going to a temporary file; returns
/// the app (pointed at it), the running service and the log file's path.
async fn start_logged(
    backend: Backend,
    extra: &[(&str, &str)],
) -> (TestApp, ServiceProcess, tempfile::TempDir) {
    let (mut app, mut env): (TestApp, HashMap<String, String>) = TestApp::prepare(backend);
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = File::create(dir.path().join("service.log")).expect("a log file");
    let service = ServiceProcess::start_logging(env, log).await;
    app.address = service.address.clone();
    (app, service, dir)
}

fn read_log(dir: &tempfile::TempDir) -> String {
    std::fs::read_to_string(dir.path().join("service.log")).expect("the log file")
}

/// The request id of each answer, the caller's or a generated one, is in the request's line.
async fn request_lines_carry_the_request_id(backend: Backend) {
    let (app, service, dir) = start_logged(backend, &[("RUST_LOG", "info")]).await;
    let token = app.token("log-user", "log-user@acme.test");
    let offered = format!("caller-{}", uuid::Uuid::new_v4().simple());
    app.send(
        Method::GET,
        "/v1/me/access-requests",
        Some(&token),
        None,
        &[("x-request-id", &offered)],
    )
    .await
    .expect(200);
    let missing = app.send(Method::GET, "/v1/nowhere", None, None, &[]).await;
    missing.expect_problem(404, "not_found");
    let generated = missing.header("x-request-id").expect("an id").to_owned();
    drop(service);

    let logs = read_log(&dir);
    for (id, status) in [
        (offered.as_str(), "status=200"),
        (generated.as_str(), "status=404"),
    ] {
        let line = logs
            .lines()
            .find(|line| line.contains(id) && line.contains("request finished"))
            .unwrap_or_else(|| panic!("no request line with {id}:\n{logs}"));
        assert!(line.contains(status), "{line}");
    }
}

/// `LOG_FORMAT=json`: every line is one JSON object, the request's line with its id.
async fn json_logs_are_one_object_per_line(backend: Backend) {
    let (app, service, dir) = start_logged(backend, &[("RUST_LOG", "info"), ("LOG_FORMAT", "json")]).await;
    let offered = format!("json-{}", uuid::Uuid::new_v4().simple());
    app.send(Method::GET, "/healthz", None, None, &[("x-request-id", &offered)])
        .await;
    drop(service);

    let logs = read_log(&dir);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains("Swagger UI"))),
        "no start-up line:\n{logs}"
    );
    let request = lines
        .iter()
        .find(|l| l["span"]["request_id"] == offered.as_str())
        .unwrap_or_else(|| panic!("no line with {offered}:\n{logs}"));
    assert_eq!(request["message"], "request finished", "{request}");
    assert_eq!(request["status"], 200, "{request}");
    assert_eq!(request["path"], "/healthz", "{request}");
}

backend_tests!(
    logs_hold_no_secrets,
    request_lines_carry_the_request_id,
    json_logs_are_one_object_per_line,
);
