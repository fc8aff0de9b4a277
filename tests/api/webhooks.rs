//! Outbound webhooks: Standard Webhooks envelope and signatures, retries,
//! failure, manual retry and the deliveries list.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, now_secs, spawn_app, spawn_app_with, wait_for, with_query, Backend, TestApp, JIRA, WAIT,
};
use crate::receiver::{signature, Receiver};

backend_tests!(
    webhooks_follow_standard_webhooks,
    failed_attempts_are_retried_with_the_same_webhook_id,
    exhausted_deliveries_fail_and_can_be_retried,
    deliveries_list_filters_by_status_and_pages,
    unconfigured_targets_get_no_deliveries,
    timeouts_are_retried,
    unreachable_targets_are_retried_then_failed,
    redirects_are_failed_attempts_and_never_followed,
    every_failed_delivery_can_be_retried_at_once,
    attempt_logs_keep_the_last_ten,
);

/// The example from the Standard Webhooks specification.
#[test]
fn standard_webhooks_test_vector() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (msg_id, timestamp, body) = (
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        r#"{"test": 2432232314}"#,
    );
    let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    assert_eq!(
        signature(secret, msg_id, &timestamp.to_string(), body.as_bytes()),
        expected
    );

    let key = STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("base64");
    let parsed = access_requests::config::parse_whsec(secret).expect("a whsec secret");
    assert_eq!(parsed.expose(), key.as_slice());
    assert_eq!(
        access_requests::webhooks::signing::sign(&key, msg_id, timestamp, body.as_bytes()),
        expected
    );
}

/// An approved self request by the world's outsider; returns its id.
pub async fn approved_request(app: &TestApp) -> String {
    let world = app.world().await;
    let id = id_of(&app.request_self(&world.site_id, &world.outsider, JIRA).await);
    app.approve(&world.site_id, &id, &world.site_admin).await;
    id
}

/// The deliveries with `status` (all pages), as the platform admin sees them.
async fn deliveries_with_status(app: &TestApp, status: &str) -> Vec<Value> {
    let path = with_query("/v1/webhook-deliveries", &[("status", status)]);
    app.collect_pages(&path, &app.platform_admin().token, 200).await
}

/// Waits until some delivery has `status`; returns every delivery that has it.
async fn wait_for_status(app: &TestApp, status: &str) -> Vec<Value> {
    let mut found = Vec::new();
    wait_for(&format!("a {status} delivery"), WAIT, async || {
        found = deliveries_with_status(app, status).await;
        !found.is_empty()
    })
    .await;
    found
}

async fn webhooks_follow_standard_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = approved_request(&app).await;
    let deliveries = app.wait_delivered(&id, 3).await;

    for (receiver, target, kind) in [
        (&app.group, "group", "group.member.add"),
        (&app.billing, "billing", "billing.seat.start"),
        (&app.notification, "notification", "access_request.decided"),
    ] {
        let calls = receiver.calls_for(&id);
        assert_eq!(calls.len(), 1, "{target}");
        let call = &calls[0];
        let delivery = deliveries
            .iter()
            .find(|d| d["target"] == target)
            .unwrap_or_else(|| panic!("no {target} delivery"));
        assert_eq!(delivery["type"], kind);
        assert_eq!(delivery["webhook_id"], call.webhook_id());
        assert!(call.webhook_id().starts_with("msg_"), "{}", call.webhook_id());
        assert!(call.header("content-type").starts_with("application/json"));

        let sent_at: i64 = call.header("webhook-timestamp").parse().expect("unix seconds");
        assert!((sent_at - now_secs()).abs() < 60);
        // Each target has its own secret.
        for other in [&app.group, &app.billing, &app.notification] {
            assert_eq!(call.is_signed_with(&other.secret), std::ptr::eq(other, receiver));
        }

        let body = call.json();
        assert_eq!(body["type"], kind);
        let timestamp = body["timestamp"].as_str().expect("a timestamp");
        chrono::DateTime::parse_from_rfc3339(timestamp).expect("an RFC 3339 timestamp");
        assert_eq!(body["data"]["request_id"], id.as_str());
    }
}

async fn failed_attempts_are_retried_with_the_same_webhook_id(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.webhook_retry_base_ms = 20).await;
    app.group.fail_next(2);
    let id = approved_request(&app).await;

    let deliveries = app.wait_delivered(&id, 3).await;
    let group = deliveries
        .iter()
        .find(|d| d["target"] == "group")
        .expect("a group delivery");
    assert_eq!(group["attempts"], 3);
    // Every attempt is on record: when, what the receiver said, how long it took.
    let log = group["attempt_log"].as_array().expect("an attempt log");
    let statuses: Vec<&Value> = log.iter().map(|a| &a["status_code"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(500), &json!(204)]);
    assert!(
        log[0]["error"].is_string() && log[2]["error"].is_null(),
        "{log:?}"
    );
    assert!(log
        .iter()
        .all(|a| a["duration_ms"].is_i64() && a["at"].is_string()));

    let calls = app.group.calls_for(&id);
    let answered: Vec<u16> = calls.iter().map(|c| c.answered).collect();
    assert_eq!(answered, [500, 500, 204]);
    assert!(calls.iter().all(|c| c.webhook_id() == group["webhook_id"]));
    // Identical content each time, signed afresh.
    assert!(calls.iter().all(|c| c.body == calls[0].body));
}

async fn exhausted_deliveries_fail_and_can_be_retried(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.webhook_max_attempts = 2;
        s.webhook_retry_base_ms = 20;
    })
    .await;
    app.group.answer(500);
    let id = approved_request(&app).await;

    let failed = wait_for_status(&app, "failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    let delivery = &failed[0];
    assert_eq!(
        (&delivery["target"], &delivery["request_id"], &delivery["status"]),
        (&json!("group"), &json!(id), &json!("failed"))
    );
    assert_eq!(delivery["attempts"], 2);
    assert!(delivery["last_error"].is_string(), "{delivery}");
    assert_eq!(app.group.calls_for(&id).len(), 2);

    app.group.answer(204);
    let retry = format!("/v1/webhook-deliveries/{}/retry", id_of(delivery));
    let response = app
        .send(
            reqwest::Method::POST,
            &retry,
            Some(&app.platform_admin().token),
            None,
            &[],
        )
        .await;
    assert!((200..300).contains(&response.status), "{}", response.text);

    assert_eq!(response.body["status"], "pending", "{}", response.text);
    // A second retry of a delivery that is no longer failed is refused.
    app.wait_delivered(&id, 3).await;
    app.send(
        reqwest::Method::POST,
        &retry,
        Some(&app.platform_admin().token),
        None,
        &[],
    )
    .await
    .expect_problem(409, "not_failed");
    let calls = app.group.calls_for(&id);
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[2].answered, 204);
    assert!(calls.iter().all(|c| c.webhook_id() == delivery["webhook_id"]));

    let unknown = format!("/v1/webhook-deliveries/{}/retry", uuid::Uuid::new_v4());
    app.send(
        reqwest::Method::POST,
        &unknown,
        Some(&app.platform_admin().token),
        None,
        &[],
    )
    .await
    .expect_problem(404, "not_found");
}

async fn deliveries_list_filters_by_status_and_pages(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.webhook_max_attempts = 1).await;
    app.billing.answer(503);
    let id = approved_request(&app).await;

    let failed = wait_for_status(&app, "failed").await;
    let mut delivered = Vec::new();
    wait_for("the other deliveries", WAIT, async || {
        delivered = deliveries_with_status(&app, "delivered").await;
        delivered.len() == 2
    })
    .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["target"], "billing");
    assert_eq!(failed[0]["type"], "billing.seat.start");
    assert!(deliveries_with_status(&app, "pending").await.is_empty());

    let token = app.platform_admin().token;
    let all = app.collect_pages("/v1/webhook-deliveries", &token, 200).await;
    assert_eq!(all.len(), 3);
    for delivery in &all {
        for member in [
            "id",
            "webhook_id",
            "request_id",
            "target",
            "type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
        ] {
            assert!(delivery.get(member).is_some(), "no {member} in {delivery}");
        }
        assert_eq!(delivery["request_id"], id.as_str());
    }
    let walked = app.collect_pages("/v1/webhook-deliveries", &token, 1).await;
    assert_eq!(crate::helpers::ids(&walked), crate::helpers::ids(&all));

    app.get(
        &with_query("/v1/webhook-deliveries", &[("status", "lost")]),
        &token,
    )
    .await
    .expect_problem(400, "bad_request");
}

async fn unconfigured_targets_get_no_deliveries(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.notification_service = None).await;
    let id = approved_request(&app).await;
    let deliveries = app.wait_delivered(&id, 2).await;
    let mut targets: Vec<&str> = deliveries.iter().filter_map(|d| d["target"].as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, ["billing", "group"]);
    assert!(app.notification.calls().is_empty());
}

async fn timeouts_are_retried(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.webhook_timeout_ms = 200;
        s.webhook_retry_base_ms = 20;
    })
    .await;
    app.notification.stall_next(1);
    let id = approved_request(&app).await;

    let deliveries = app.wait_delivered(&id, 3).await;
    let notification = deliveries
        .iter()
        .find(|d| d["target"] == "notification")
        .expect("a notification delivery");
    assert_eq!(notification["attempts"], 2, "{notification}");
    wait_for("the stalled call to be recorded", WAIT, async || {
        app.notification.calls_for(&id).len() == 2
    })
    .await;
    let calls = app.notification.calls_for(&id);
    assert_eq!(calls[0].webhook_id(), calls[1].webhook_id());
}

async fn unreachable_targets_are_retried_then_failed(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let url = format!("http://{}/hooks", closed.local_addr().expect("an address"));
    drop(closed);
    let app = spawn_app_with(backend, |s| {
        s.webhook_max_attempts = 3;
        s.webhook_retry_base_ms = 20;
        if let Some(billing) = s.billing_service.as_mut() {
            billing.url = url;
        }
    })
    .await;
    let id = approved_request(&app).await;

    let failed = wait_for_status(&app, "failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(
        (
            &failed[0]["target"],
            &failed[0]["request_id"],
            &failed[0]["attempts"]
        ),
        (&json!("billing"), &json!(id), &json!(3))
    );
    assert!(failed[0]["last_error"].is_string(), "{}", failed[0]);
    assert!(app.billing.calls().is_empty());
}

/// Waits until the delivery of `request_id` to `target` has `status`; returns it.
pub async fn delivery_with_status(app: &TestApp, request_id: &str, target: &str, status: &str) -> Value {
    let mut found = Value::Null;
    wait_for(&format!("a {status} {target} delivery"), WAIT, async || {
        found = app
            .deliveries_for(request_id)
            .await
            .into_iter()
            .find(|d| d["target"] == target)
            .unwrap_or_default();
        found["status"] == status
    })
    .await;
    found
}

async fn redirects_are_failed_attempts_and_never_followed(backend: Backend) {
    let elsewhere = Receiver::start();
    let app = spawn_app_with(backend, |s| {
        s.webhook_max_attempts = 2;
        s.webhook_retry_base_ms = 20;
    })
    .await;
    // A 302 would turn the POST into a bodiless GET; a 307 would re-send the signed body.
    app.group.redirect(302, &elsewhere.url);
    app.billing.redirect(307, &elsewhere.url);
    let id = approved_request(&app).await;

    let mut failed = Vec::new();
    wait_for("both redirected deliveries to fail", WAIT, async || {
        failed = deliveries_with_status(&app, "failed").await;
        failed.len() == 2
    })
    .await;
    for (target, status) in [("group", 302), ("billing", 307)] {
        let delivery = failed
            .iter()
            .find(|d| d["target"] == target)
            .unwrap_or_else(|| panic!("no failed {target} delivery: {failed:?}"));
        assert_eq!(delivery["attempts"], 2, "{delivery}");
        let statuses: Vec<&Value> = delivery["attempt_log"]
            .as_array()
            .expect("an attempt log")
            .iter()
            .map(|a| &a["status_code"])
            .collect();
        assert_eq!(statuses, [&json!(status), &json!(status)], "{delivery}");
    }
    delivery_with_status(&app, &id, "notification", "delivered").await;
    assert_eq!(elsewhere.hits(), 0, "a redirect was followed");
}

async fn every_failed_delivery_can_be_retried_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.webhook_max_attempts = 1).await;
    app.group.answer(500);
    app.billing.answer(500);
    let world = app.world().await;
    let mut ids = Vec::new();
    for product in [JIRA, crate::helpers::CONFLUENCE] {
        let id = id_of(&app.request_self(&world.site_id, &world.outsider, product).await);
        app.approve(&world.site_id, &id, &world.site_admin).await;
        ids.push(id);
    }
    let mut failed = Vec::new();
    wait_for("four failed deliveries", WAIT, async || {
        failed = deliveries_with_status(&app, "failed").await;
        failed.len() == 4
    })
    .await;
    let path = "/v1/webhook-deliveries/retry-failed";
    let admin = app.platform_admin().token;
    let post = async |token: &str, body: Option<&Value>| {
        app.send(reqwest::Method::POST, path, Some(token), body, &[])
            .await
    };
    post(&world.site_admin.token, None)
        .await
        .expect_problem(403, "forbidden");
    post(&admin, Some(&json!({"target": "group", "extra": 1})))
        .await
        .expect_problem(400, "bad_request");
    let bad_target = post(&admin, Some(&json!({"target": "payroll"}))).await;
    assert!([400, 422].contains(&bad_target.status), "{}", bad_target.text);
    assert_eq!(deliveries_with_status(&app, "failed").await.len(), 4);

    app.group.answer(204);
    let requeued = post(&admin, Some(&json!({"target": "group"}))).await.expect(200);
    assert_eq!(requeued, json!({"requeued": 2}));
    let mut delivered = Vec::new();
    wait_for("the group deliveries", WAIT, async || {
        delivered = deliveries_with_status(&app, "delivered").await;
        delivered.iter().filter(|d| d["target"] == "group").count() == 2
    })
    .await;
    let still_failed = deliveries_with_status(&app, "failed").await;
    assert!(
        still_failed.iter().all(|d| d["target"] == "billing"),
        "{still_failed:?}"
    );
    assert_eq!(still_failed.len(), 2);
    // Each keeps its webhook-id: the receiver saw every id twice, failed then accepted.
    for delivery in failed.iter().filter(|d| d["target"] == "group") {
        let calls: Vec<u16> = app
            .group
            .calls()
            .iter()
            .filter(|c| c.webhook_id() == delivery["webhook_id"])
            .map(|c| c.answered)
            .collect();
        assert_eq!(calls, [500, 204], "{delivery}");
    }

    app.billing.answer(204);
    let requeued = post(&admin, None).await.expect(200);
    assert_eq!(requeued["requeued"], 2);
    wait_for("every delivery", WAIT, async || {
        deliveries_with_status(&app, "delivered").await.len() == 6
    })
    .await;
    assert_eq!(post(&admin, Some(&json!({}))).await.expect(200)["requeued"], 0);
    // A body, when there is one, is an object as the document says.
    post(&admin, Some(&json!(null)))
        .await
        .expect_problem(400, "bad_request");
}

async fn attempt_logs_keep_the_last_ten(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.webhook_max_attempts = 12;
        s.webhook_retry_base_ms = 1;
    })
    .await;
    // Two 500s, then 503s: the log keeps the newest ten, all of them 503s.
    app.group.answer(503);
    app.group.fail_next(2);
    let id = approved_request(&app).await;
    let failed = wait_for_status(&app, "failed").await;
    let group = &failed[0];
    assert_eq!(
        (&group["request_id"], &group["attempts"]),
        (&json!(id), &json!(12))
    );
    assert_eq!(group["attempt_log_total"], 12, "{group}");
    let log = group["attempt_log"].as_array().expect("an attempt log");
    assert_eq!(log.len(), 10, "{group}");
    assert!(log.iter().all(|a| a["status_code"] == 503), "{group}");
    let times: Vec<_> = log
        .iter()
        .map(|a| chrono::DateTime::parse_from_rfc3339(a["at"].as_str().expect("a time")).expect("RFC 3339"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first: {group}");
}
