//! Nothing acknowledged is lost: the service is SIGKILLed with deliveries pending and in
//! flight, started again on the same database, and every webhook arrives. On PostgreSQL,
//! three instances share one database and deliver every grant exactly once.

use std::collections::{HashMap, HashSet};

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{id_of, request_path, requests_path, wait_for, Backend, TestApp, JIRA};
use crate::process::ServiceProcess;
use crate::receiver::Receiver;

/// Settings that make a crashed instance's claims expire quickly (timeout 1 s + 5 s).
fn crash_env(env: &mut HashMap<String, String>) {
    env.insert("WEBHOOK_TIMEOUT_MS".into(), "1000".into());
    env.insert("WEBHOOK_RETRY_BASE_MS".into(), "100".into());
    env.insert("WEBHOOK_MAX_ATTEMPTS".into(), "1000".into());
}

/// The request ids the receiver accepted (answered 2xx), with how often each webhook-id came.
fn accepted(receiver: &Receiver) -> (HashSet<String>, HashMap<String, usize>) {
    let mut requests = HashSet::new();
    let mut per_webhook: HashMap<String, usize> = HashMap::new();
    for call in receiver.calls().into_iter().filter(|c| c.answered < 300) {
        requests.insert(
            call.json()["data"]["request_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        *per_webhook.entry(call.webhook_id().to_owned()).or_default() += 1;
    }
    (requests, per_webhook)
}

async fn every_grant_arrives(app: &TestApp, request_ids: &[String], within: std::time::Duration) {
    let wanted: HashSet<String> = request_ids.iter().cloned().collect();
    wait_for("every webhook of every grant", within, async || {
        [&app.group, &app.billing, &app.notification]
            .iter()
            .all(|r| accepted(r).0.is_superset(&wanted))
    })
    .await;
}

async fn deliveries_survive_sigkill(backend: Backend) {
    let (mut app, mut env) = TestApp::prepare(backend);
    crash_env(&mut env);
    let mut service = ServiceProcess::start(env).await;
    app.address = service.address.clone();
    let w = app.world().await;
    let receivers = [&app.group, &app.billing, &app.notification];

    // The receivers are down: deliveries pile up, pending.
    for r in receivers {
        r.answer(503);
    }
    let mut granted = Vec::new();
    for i in 0..4 {
        let request = app
            .request_for(&w.site_id, &w.member, &format!("while-down-{i}"), JIRA)
            .await;
        app.approve(&w.site_id, &id_of(&request), &w.site_admin).await;
        granted.push(id_of(&request));
    }
    wait_for("failed attempts", crate::helpers::WAIT, async || {
        app.group.hits() > 0
    })
    .await;
    service.crash_and_restart().await;
    app.address = service.address.clone();

    // The receivers are up again; more grants, and a crash while they are in flight.
    for r in receivers {
        r.answer(204);
    }
    for i in 0..4 {
        let request = app
            .request_for(&w.site_id, &w.member, &format!("in-flight-{i}"), JIRA)
            .await;
        app.approve(&w.site_id, &id_of(&request), &w.site_admin).await;
        granted.push(id_of(&request));
    }
    service.crash_and_restart().await;
    app.address = service.address.clone();

    every_grant_arrives(&app, &granted, std::time::Duration::from_secs(40)).await;
    for id in &granted {
        let deliveries = app.wait_delivered(id, 3).await;
        let webhook_ids: HashSet<&str> = deliveries
            .iter()
            .filter_map(|d| d["webhook_id"].as_str())
            .collect();
        assert_eq!(webhook_ids.len(), 3, "one delivery per target: {deliveries:?}");
    }
    // A redelivery after a crash reuses its webhook-id, so receivers can deduplicate.
    let (_, per_webhook) = accepted(&app.billing);
    assert_eq!(per_webhook.len(), granted.len(), "one billing delivery per grant");
}

async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let response = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the instance answers");
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {value}");
    value
}

/// Three instances on one PostgreSQL database, 300 grants made through all of them.
async fn three_instances_deliver_every_grant_once(backend: Backend) {
    if backend == Backend::Sqlite {
        // SQLite serves one instance; several processes on one file are not a supported setup.
        return;
    }
    let (mut app, mut env) = TestApp::prepare(backend);
    env.insert("RATE_LIMIT_CREATE_PER_MINUTE".into(), "0".into());
    env.insert("MAX_PENDING_PER_REQUESTER".into(), "0".into());
    let instances = join_all((0..3).map(|_| ServiceProcess::start(env.clone()))).await;
    app.address = instances[0].address.clone();
    let w = app.world().await;
    let client = reqwest::Client::new();
    let grants = 300;
    let mut granted = Vec::with_capacity(grants);
    for chunk in (0..grants).collect::<Vec<_>>().chunks(12) {
        let made = join_all(chunk.iter().map(|&i| {
            let (client, w) = (&client, &w);
            let creator = &instances[i % 3].address;
            let approver = &instances[(i + 1) % 3].address;
            async move {
                let body = json!({"product_key": JIRA, "subject": {"account_id": format!("grant-{i}"), "email": format!("g{i}@elsewhere.test")}});
                let request = call(client, creator, Method::POST, &requests_path(&w.site_id), &w.member.token, body).await;
                let id = id_of(&request);
                let approve = format!("{}/approve", request_path(&w.site_id, &id));
                call(client, approver, Method::POST, &approve, &w.site_admin.token, json!({})).await;
                id
            }
        }))
        .await;
        granted.extend(made);
    }
    every_grant_arrives(&app, &granted, std::time::Duration::from_secs(60)).await;
    for receiver in [&app.group, &app.billing, &app.notification] {
        // One delivery per grant and target; a receiver slower than the timeout on a loaded
        // machine may get one again, always with its webhook-id (at-least-once).
        let calls = receiver.calls();
        let distinct: HashSet<&str> = calls.iter().map(|c| c.webhook_id()).collect();
        assert_eq!(distinct.len(), grants);
        assert!(
            calls.len() < grants + grants / 10,
            "{} calls for {grants} webhooks",
            calls.len()
        );
    }
    drop(instances);
}

backend_tests!(
    deliveries_survive_sigkill,
    three_instances_deliver_every_grant_once,
    the_database_refuses_a_second_seat_start,
    a_lost_claim_records_nothing
);

/// Billing is exact in the database itself, whatever the code above it does: per grant one
/// `billing.seat.start` and one `billing.seat.end`, while another grant (a re-approval of the
/// same person) bills again.
async fn the_database_refuses_a_second_seat_start(backend: Backend) {
    use access_requests::domain::WebhookTargetKind;
    use access_requests::store::{outbox, Db};
    use access_requests::webhooks::events;

    let (_app, env) = TestApp::prepare(backend);
    let url = env["DATABASE_URL"].clone();
    let db = actix_web::rt::task::spawn_blocking(move || Db::connect(&url, None))
        .await
        .expect("the task runs")
        .expect("the database opens");
    let seat = |grant: &str, event: &str| {
        let mut row = events::delivery(WebhookTargetKind::Billing, event, "r", json!({}));
        row.grant_id = Some(grant.to_owned());
        row
    };
    for event in ["billing.seat.start", "billing.seat.end"] {
        let first = seat("grant-1", event);
        db.transaction(move |c| outbox::enqueue(c, &first))
            .await
            .unwrap_or_else(|e| panic!("the first {event}: {e}"));
        let second = seat("grant-1", event);
        let refused = db.transaction(move |c| outbox::enqueue(c, &second)).await;
        assert!(refused.is_err(), "a second {event} for the same grant was stored");
        let other = seat("grant-2", event);
        db.transaction(move |c| outbox::enqueue(c, &other))
            .await
            .unwrap_or_else(|e| panic!("another grant's {event}: {e}"));
    }
}

/// A worker whose lease ran out while it was sending (a long wait for a pooled connection,
/// a pause) must not record over the worker that took the row over, nor free its claim.
async fn a_lost_claim_records_nothing(backend: Backend) {
    use std::time::Duration;

    use access_requests::domain::WebhookTargetKind::{self, Billing};
    use access_requests::store::models::DeliveryRow;
    use access_requests::store::{attempts, now_micros, outbox, Db};
    use access_requests::webhooks::events;

    let (_app, env) = TestApp::prepare(backend);
    let url = env["DATABASE_URL"].clone();
    let db = actix_web::rt::task::spawn_blocking(move || Db::connect(&url, None))
        .await
        .expect("the task runs")
        .expect("the database opens");
    let row = events::delivery(Billing, "billing.seat.start", "r", json!({}));
    let id = row.id.clone();
    db.transaction(move |c| outbox::enqueue(c, &row))
        .await
        .expect("enqueued");

    let claim =
        |lease: Duration| db.run(move |c| outbox::claim_due(c, &[(WebhookTargetKind::Billing, 10)], lease));
    // The first claim's lease has run out by the time the second worker looks.
    let stale = claim(Duration::ZERO).await.expect("the first claim");
    assert_eq!(stale.len(), 1);
    let current = claim(Duration::from_secs(60)).await.expect("the second claim");
    assert_eq!(current.len(), 1, "an expired lease is taken over");
    assert_ne!(stale[0].claim_token, current[0].claim_token);

    let record = |row: &DeliveryRow, outcome: attempts::Outcome| {
        let row = row.clone();
        let attempt = attempts::new_attempt(&row.id, row.attempts + 1, now_micros(), Some(204), None, 1);
        db.run(move |c| attempts::record_attempt(c, &row, &attempt, &outcome))
    };
    let state = |id: String| {
        db.run(move |c| {
            let rows = outbox::list(c, None, 10, None)?.items;
            let row = rows.into_iter().find(|r| r.id == id).expect("the row");
            let log = attempts::recent_attempts(c, std::slice::from_ref(&row.id), 10)?;
            Ok((row, log.values().map(|l| l.total).sum::<i64>()))
        })
    };
    // The stale worker's outcome is dropped: the row stays the current holder's.
    let held = record(&stale[0], attempts::Outcome::Delivered)
        .await
        .expect("no error");
    assert!(!held, "the stale worker still held the claim");
    let (row, logged) = state(id.clone()).await.expect("the row");
    assert_eq!((row.status.as_str(), row.attempts, logged), ("pending", 0, 0));
    let again = claim(Duration::from_secs(60)).await.expect("a third claim");
    assert!(
        again.is_empty(),
        "the stale worker freed a claim it no longer held"
    );

    // The current holder records as usual.
    let retry = attempts::Outcome::Retry {
        after: Duration::from_secs(60),
        error: "the receiver answered 503".to_owned(),
    };
    assert!(record(&current[0], retry).await.expect("recorded"));
    let (row, logged) = state(id).await.expect("the row");
    assert_eq!((row.status.as_str(), row.attempts, logged), ("pending", 1, 1));
    // Due again in a minute by the database's clock, and nobody's to claim until then.
    let wait = row.next_attempt_at - now_micros();
    assert!((50_000_000..=61_000_000).contains(&wait), "due in {wait} µs");
    assert_eq!(row.claim_token, None);
    assert!(claim(Duration::from_secs(60)).await.expect("a claim").is_empty());
}
