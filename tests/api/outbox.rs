//! The outbox under strain: a target that hangs, deliveries that must wait for an earlier
//! one (`after_id`), and retention. Rows the API cannot make go in through the store.

use std::time::Duration;

use access_requests::config::Settings;
use access_requests::domain::DeliveryStatus;
use access_requests::domain::WebhookTargetKind::Group;
use access_requests::jobs::prune::{Pruned, Pruner};
use access_requests::store::models::DeliveryRow;
use access_requests::store::{attempts, now_micros, outbox, Db};
use access_requests::webhooks::events;
use access_requests::Application;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{id_of, requests_path, wait_for, Backend, TestApp, CONFLUENCE, JIRA, WAIT};
use crate::webhooks::{approved_request, delivery_with_status};

backend_tests!(
    a_hanging_target_does_not_delay_the_others,
    a_delivery_waits_for_its_failed_predecessor,
    a_delivery_waits_for_its_pending_predecessor,
    old_records_are_pruned_in_batches,
);

/// Like `spawn_app_with`, and a store handle on the app's database.
async fn spawn_app_and_db(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> (TestApp, Db) {
    let (mut app, env) = TestApp::prepare(backend);
    let mut settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("the test settings");
    tweak(&mut settings);
    let application = Application::build(settings).await.expect("the app starts");
    app.address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());
    let url = env["DATABASE_URL"].clone();
    let db = actix_web::rt::task::spawn_blocking(move || Db::connect(&url, None))
        .await
        .expect("the task runs")
        .expect("the database opens");
    (app, db)
}

async fn enqueue(db: &Db, rows: Vec<DeliveryRow>) {
    db.transaction(move |c| rows.iter().try_for_each(|row| outbox::enqueue(c, row)))
        .await
        .expect("enqueued");
}

/// A `group.member.remove` of the request that may go out only after `after`.
fn removal(request_id: &str, after: &str) -> DeliveryRow {
    let data = json!({"request_id": request_id});
    let mut row = events::delivery(Group, "group.member.remove", request_id, data);
    row.after_id = Some(after.to_owned());
    row
}

/// The event types the group receiver accepted or refused for the request, in order.
fn group_calls(app: &TestApp, request_id: &str) -> Vec<(String, u16)> {
    app.group
        .calls_for(request_id)
        .iter()
        .map(|c| {
            (
                c.json()["type"].as_str().unwrap_or_default().to_owned(),
                c.answered,
            )
        })
        .collect()
}

fn pair(kind: &str, answered: u16) -> (String, u16) {
    (kind.to_owned(), answered)
}

async fn a_hanging_target_does_not_delay_the_others(backend: Backend) {
    let (app, db) = spawn_app_and_db(backend, |s| s.webhook_timeout_ms = 60_000).await;
    app.group.hold();
    // More hanging group deliveries than the whole instance has slots.
    let backlog = (0..40)
        .map(|i| {
            let request = uuid::Uuid::new_v4().to_string();
            events::delivery(Group, "group.member.add", &request, json!({"n": i}))
        })
        .collect();
    enqueue(&db, backlog).await;
    wait_for("the group target to hang", WAIT, async || app.group.waiting() > 0).await;

    let id = approved_request(&app).await;
    for target in ["billing", "notification"] {
        delivery_with_status(&app, &id, target, "delivered").await;
    }
    assert!(
        app.group.waiting() > 0 && app.group.hits() == 0,
        "the group target stopped hanging"
    );
    app.group.release();
}

async fn a_delivery_waits_for_its_failed_predecessor(backend: Backend) {
    let (app, db) = spawn_app_and_db(backend, |s| {
        s.webhook_max_attempts = 2;
        s.webhook_retry_base_ms = 20;
    })
    .await;
    app.group.answer(500);
    let id = approved_request(&app).await;
    let add = id_of(&delivery_with_status(&app, &id, "group", "failed").await);
    enqueue(&db, vec![removal(&id, &add)]).await;
    app.group.answer(204);

    // Blocked: not claimable, and not counted as due, so the worker does not spin on it.
    let claimed = db
        .run(|c| outbox::claim_due(c, &[(Group, 10)], Duration::ZERO))
        .await
        .expect("a claim");
    assert!(claimed.is_empty(), "a blocked delivery was claimed: {claimed:?}");
    let due = db.run(|c| outbox::next_due(c, &[Group])).await.expect("next due");
    assert_eq!(due, None, "a blocked delivery counts as due");

    // Retrying the predecessor unblocks it.
    let retry = format!("/v1/webhook-deliveries/{add}/retry");
    let admin = app.platform_admin().token;
    app.send(Method::POST, &retry, Some(&admin), None, &[])
        .await
        .expect(200);
    app.wait_delivered(&id, 4).await;
    let add_kind = "group.member.add";
    assert_eq!(
        group_calls(&app, &id),
        [
            pair(add_kind, 500),
            pair(add_kind, 500),
            pair(add_kind, 204),
            pair("group.member.remove", 204)
        ]
    );
}

async fn a_delivery_waits_for_its_pending_predecessor(backend: Backend) {
    let (app, db) = spawn_app_and_db(backend, |s| s.webhook_retry_base_ms = 200).await;
    app.group.fail_next(3);
    let id = approved_request(&app).await;
    let add = id_of(&delivery_with_status(&app, &id, "group", "pending").await);
    enqueue(&db, vec![removal(&id, &add)]).await;

    app.wait_delivered(&id, 4).await;
    let add_kind = "group.member.add";
    assert_eq!(
        group_calls(&app, &id),
        [
            pair(add_kind, 500),
            pair(add_kind, 500),
            pair(add_kind, 500),
            pair(add_kind, 204),
            pair("group.member.remove", 204)
        ]
    );
}

const DAY: i64 = 24 * 3600 * 1_000_000;

async fn old_records_are_pruned_in_batches(backend: Backend) {
    let (app, db) = spawn_app_and_db(backend, |s| {
        s.webhook_max_attempts = 1;
        s.webhook_retention_days = 30;
    })
    .await;
    app.notification.answer(500);
    let w = app.world().await;
    let key = [("Idempotency-Key", "prune-me")];
    let create = async |product: &str| {
        let body = json!({"product_key": product});
        let path = requests_path(&w.site_id);
        app.send(Method::POST, &path, Some(&w.outsider.token), Some(&body), &key)
            .await
    };
    let id = id_of(&create(JIRA).await.expect(201));
    let grant = app.approve(&w.site_id, &id, &w.site_admin).await["grant_id"].clone();
    delivery_with_status(&app, &id, "group", "delivered").await;
    delivery_with_status(&app, &id, "billing", "delivered").await;
    delivery_with_status(&app, &id, "notification", "failed").await;
    // The grant ends: its remove is prunable history, its seat end is not.
    app.revoke(&w.site_id, grant.as_str().unwrap(), &w.site_admin)
        .await
        .expect(200);
    let mut remove = Value::Null;
    wait_for("the group remove", WAIT, async || {
        remove = app
            .deliveries_for(&id)
            .await
            .into_iter()
            .find(|d| d["type"] == "group.member.remove" && d["status"] == "delivered")
            .unwrap_or_default();
        !remove.is_null()
    })
    .await;
    let group = id_of(&remove);
    wait_for("the seat end", WAIT, async || {
        app.deliveries_for(&id)
            .await
            .iter()
            .any(|d| d["type"] == "billing.seat.end" && d["status"] == "delivered")
            && app
                .deliveries_for(&id)
                .await
                .iter()
                .filter(|d| d["status"] == "failed")
                .count()
                == 2
    })
    .await;

    // Deliveries delivered 40 days ago, more than one batch of them.
    let old: Vec<DeliveryRow> = (0..2500)
        .map(|i| {
            let mut row = events::delivery(Group, "group.member.add", &id, json!({"n": i}));
            row.status = DeliveryStatus::Delivered.as_str().to_owned();
            row.updated_at -= 40 * DAY;
            row
        })
        .collect();
    enqueue(&db, old).await;
    let pruner = Pruner::new(db.clone(), 30);
    let now = now_micros();
    let expected = Pruned {
        idempotency_keys: 0,
        deliveries: 2500,
    };
    assert_eq!(pruner.sweep(now).await.expect("a sweep"), expected);
    assert_eq!(app.deliveries_for(&id).await.len(), 6);

    // A day on, the idempotency key is free again; every delivery stays.
    create(CONFLUENCE)
        .await
        .expect_problem(409, "idempotency_key_reused");
    let expected = Pruned {
        idempotency_keys: 1,
        deliveries: 0,
    };
    assert_eq!(pruner.sweep(now + DAY + 1).await.expect("a sweep"), expected);
    create(CONFLUENCE).await.expect(201);
    let audit = app.audit_events(&w.site_id, &w.site_admin, None).await;

    // Past the retention, the delivered group remove and its attempts go. The failed ones stay,
    // so do the grant's start and end rows (they keep billing exact), and the audit trail.
    let pruned = pruner.sweep(now + 31 * DAY).await.expect("a sweep");
    assert_eq!(pruned.deliveries, 1, "{pruned:?}");
    let mut left: Vec<String> = app
        .deliveries_for(&id)
        .await
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["target"].as_str().unwrap_or_default(),
                d["status"].as_str().unwrap_or_default()
            )
        })
        .collect();
    left.sort_unstable();
    assert_eq!(
        left,
        [
            "billing delivered",
            "billing delivered",
            "group delivered",
            "notification failed",
            "notification failed"
        ]
    );
    let attempts = db
        .run(move |c| attempts::recent_attempts(c, &[group], 10))
        .await
        .expect("attempts");
    assert!(attempts.is_empty(), "{attempts:?}");
    assert_eq!(app.audit_events(&w.site_id, &w.site_admin, None).await, audit);
}
