//! The service's logs, captured through a full scenario at `debug` level, never contain a
//! token, the JWT secret, a webhook secret or a webhook signature.

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

backend_tests!(logs_hold_no_secrets);
