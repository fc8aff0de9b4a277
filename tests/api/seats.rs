//! Seats: a product's `seat_limit` bounds its active grants, exactly, under concurrent
//! approvals on one instance and on several; a revoked or expired grant frees its seat at
//! once; directory sync is never refused but counts.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, request_path, spawn_app, spawn_instances, wait_for, Backend, TestApp, World, WAIT,
};

backend_tests!(
    product_limits_are_validated_and_shown,
    concurrent_approvals_never_exceed_the_seat_limit,
    seat_limit_holds_across_instances,
    revoking_or_expiring_a_grant_frees_its_seat,
    directory_grants_count_but_are_never_refused,
);

/// The product with a seat limit in these tests.
const SEATED: &str = "seated";

/// `(seat_limit, seats_used, max_duration_hours)` of a Product answer.
fn limits(product: &Value) -> (Value, Value, Value) {
    (
        product["seat_limit"].clone(),
        product["seats_used"].clone(),
        product["max_duration_hours"].clone(),
    )
}

async fn product_limits_are_validated_and_shown(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;

    // Left out: no limits, nothing used.
    let created = app
        .put_product_with(site, &w.org_admin, SEATED, json!({}))
        .await
        .expect(201);
    assert_eq!(limits(&created), (Value::Null, json!(0), Value::Null));
    let limited = app
        .put_product_with(
            site,
            &w.org_admin,
            SEATED,
            json!({"seat_limit": 3, "max_duration_hours": 87840}),
        )
        .await
        .expect(200);
    assert_eq!(limits(&limited), (json!(3), json!(0), json!(87840)));
    assert_eq!(app.product(site, SEATED).await, limited);

    for (bad, field) in [
        (json!({"seat_limit": -1}), "seat_limit"),
        (json!({"seat_limit": 1_000_000_001_i64}), "seat_limit"),
        (json!({"max_duration_hours": 0}), "max_duration_hours"),
        (json!({"max_duration_hours": 87841}), "max_duration_hours"),
        (json!({"max_duration_hours": -5}), "max_duration_hours"),
    ] {
        let refused = app
            .put_product_with(site, &w.org_admin, SEATED, bad.clone())
            .await;
        refused.expect_problem(422, "validation_failed");
        assert_eq!(refused.error_fields(), vec![field], "{bad}: {}", refused.text);
    }
    // A refused PUT changed nothing.
    assert_eq!(
        limits(&app.product(site, SEATED).await),
        (json!(3), json!(0), json!(87840))
    );

    // The smallest values are allowed; `null` is unlimited again.
    let tight = app
        .put_product_with(
            site,
            &w.org_admin,
            SEATED,
            json!({"seat_limit": 0, "max_duration_hours": 1}),
        )
        .await
        .expect(200);
    assert_eq!(limits(&tight), (json!(0), json!(0), json!(1)));
    // No seat at all: an approval is refused and changes nothing.
    let request = app.request_for(site, &w.member, "nobody-gets-in", SEATED).await;
    let id = id_of(&request);
    app.act(site, &id, "approve", &w.site_admin, &json!({}))
        .await
        .expect_problem(409, "seat_limit_reached");
    let still = app
        .get(&request_path(site, &id), &w.site_admin.token)
        .await
        .expect(200);
    assert_eq!(
        (&still["status"], &still["grant_id"]),
        (&json!("pending"), &Value::Null)
    );

    let open = app
        .put_product_with(
            site,
            &w.org_admin,
            SEATED,
            json!({"seat_limit": null, "max_duration_hours": null}),
        )
        .await
        .expect(200);
    assert_eq!(limits(&open), (Value::Null, json!(0), Value::Null));
    app.approve(site, &id, &w.site_admin).await;
    assert_eq!(app.product(site, SEATED).await["seats_used"], 1);
}

/// `count` new people asked for the seated product by the member; returns the request ids.
async fn requests_for_new_people(app: &TestApp, w: &World, prefix: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let request = app
            .request_for(&w.site_id, &w.member, &format!("{prefix}-{i}"), SEATED)
            .await;
        ids.push(id_of(&request));
    }
    ids
}

/// Approves every request at once, request `i` through instance `i % instances`; returns the
/// approved and the refused ids, asserting that every refusal is `409 seat_limit_reached`.
async fn approve_all_at_once(app: &TestApp, w: &World, ids: &[String]) -> (Vec<String>, Vec<String>) {
    let answers = join_all(ids.iter().enumerate().map(|(i, id)| {
        let base = &app.instances[i % app.instances.len()];
        let path = format!("{}/approve", request_path(&w.site_id, id));
        async move {
            let body = json!({});
            app.send_to(
                base,
                Method::POST,
                &path,
                Some(&w.site_admin.token),
                Some(&body),
                &[],
            )
            .await
        }
    }))
    .await;
    let (mut approved, mut refused) = (Vec::new(), Vec::new());
    for (id, answer) in ids.iter().zip(answers) {
        if answer.status == 200 {
            assert_eq!(answer.body["status"], "approved");
            approved.push(id.clone());
        } else {
            answer.expect_problem(409, "seat_limit_reached");
            refused.push(id.clone());
        }
    }
    (approved, refused)
}

/// Exactly `limit` of the requests hold a grant; every other one is still pending without one,
/// and only the approved ones were audited and billed.
async fn exactly_the_limit_was_granted(
    app: &TestApp,
    w: &World,
    approved: &[String],
    refused: &[String],
    limit: usize,
) {
    let site = &w.site_id;
    assert_eq!(approved.len(), limit, "approved {approved:?}");
    for id in refused {
        let request = app
            .get(&request_path(site, id), &w.site_admin.token)
            .await
            .expect(200);
        assert_eq!(request["status"], "pending", "{request}");
        assert!(request["grant_id"].is_null(), "{request}");
    }
    let product = app.product(site, SEATED).await;
    assert_eq!(product["seats_used"], limit, "{product}");
    let grants = app
        .collect_pages(
            &format!("/v1/sites/{site}/grants?product_key={SEATED}&status=active"),
            &w.site_admin.token,
            200,
        )
        .await;
    assert_eq!(grants.len(), limit, "{grants:?}");
    let approvals = app
        .audit_events(site, &w.site_admin, None)
        .await
        .into_iter()
        .filter(|e| e["action"] == "access_request.approved")
        .count();
    assert_eq!(approvals, limit);
    for id in approved {
        app.wait_delivered(id, 3).await;
    }
    for id in refused {
        assert_eq!(
            app.deliveries_for(id).await,
            Vec::<Value>::new(),
            "{id} sent webhooks"
        );
    }
}

async fn concurrent_approvals_never_exceed_the_seat_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    app.put_product_with(site, &w.org_admin, SEATED, json!({"seat_limit": 3}))
        .await
        .expect(201);
    let ids = requests_for_new_people(&app, &w, "person", 10).await;

    let (approved, refused) = approve_all_at_once(&app, &w, &ids).await;
    exactly_the_limit_was_granted(&app, &w, &approved, &refused, 3).await;

    // The review shows why: every seat is taken.
    let review = app
        .get(
            &format!("{}/review", request_path(site, &refused[0])),
            &w.site_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(review["product"]["product_key"], SEATED);
    assert_eq!(
        (&review["product"]["seat_limit"], &review["product"]["seats_used"]),
        (&json!(3), &json!(3))
    );
}

async fn seat_limit_holds_across_instances(backend: Backend) {
    if backend == Backend::Sqlite {
        // SQLite is a single-writer file served by one instance; several instances on one
        // database are a PostgreSQL deployment.
        return;
    }
    let app = spawn_instances(backend, 3, |_| {}).await;
    let w = app.world().await;
    app.put_product_with(&w.site_id, &w.org_admin, SEATED, json!({"seat_limit": 3}))
        .await
        .expect(201);
    let ids = requests_for_new_people(&app, &w, "replica", 12).await;

    let (approved, refused) = approve_all_at_once(&app, &w, &ids).await;
    exactly_the_limit_was_granted(&app, &w, &approved, &refused, 3).await;
}

async fn revoking_or_expiring_a_grant_frees_its_seat(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    app.put_product_with(site, &w.org_admin, SEATED, json!({"seat_limit": 1}))
        .await
        .expect(201);
    let ids = requests_for_new_people(&app, &w, "turn", 3).await;

    let first = app.approve(site, &ids[0], &w.site_admin).await;
    app.act(site, &ids[1], "approve", &w.site_admin, &json!({}))
        .await
        .expect_problem(409, "seat_limit_reached");

    // A revoke frees the seat at once.
    let grant_id = first["grant_id"].as_str().expect("a grant").to_owned();
    let revoked = app.revoke(site, &grant_id, &w.site_admin).await.expect(200);
    assert_eq!(
        (&revoked["status"], &revoked["end_reason"]),
        (&json!("revoked"), &json!("revoked"))
    );
    assert_eq!(app.product(site, SEATED).await["seats_used"], 0);
    app.revoke(site, &grant_id, &w.site_admin)
        .await
        .expect_problem(409, "grant_not_active");

    // So does an expiry.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339();
    let second = app
        .act(
            site,
            &ids[1],
            "approve",
            &w.site_admin,
            &json!({"expires_at": soon}),
        )
        .await
        .expect(200);
    app.act(site, &ids[2], "approve", &w.site_admin, &json!({}))
        .await
        .expect_problem(409, "seat_limit_reached");
    let grant_path = format!(
        "/v1/sites/{site}/grants/{}",
        second["grant_id"].as_str().expect("a grant")
    );
    wait_for("the grant to expire", WAIT * 2, async || {
        app.get(&grant_path, &w.site_admin.token).await.expect(200)["status"] == "expired"
    })
    .await;
    assert_eq!(app.product(site, SEATED).await["seats_used"], 0);
    app.approve(site, &ids[2], &w.site_admin).await;
    assert_eq!(app.product(site, SEATED).await["seats_used"], 1);
}

async fn directory_grants_count_but_are_never_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    app.put_product_with(site, &w.org_admin, SEATED, json!({"seat_limit": 1}))
        .await
        .expect(201);
    let synced: Vec<_> = ["synced-a", "synced-b"]
        .iter()
        .map(|id| app.actor(id, &format!("{id}@acme.test")))
        .collect();

    // The directory is the source of truth: two users, one seat, both hold the product.
    for user in &synced {
        let written = app
            .put_site_user(site, &w.site_admin, user, "member", &[SEATED])
            .await
            .expect(201);
        assert_eq!(written["products"], json!([SEATED]));
    }
    assert_eq!(app.product(site, SEATED).await["seats_used"], 2);

    // Requests are refused while the directory's grants fill the seats.
    let ids = requests_for_new_people(&app, &w, "asker", 1).await;
    app.act(site, &ids[0], "approve", &w.site_admin, &json!({}))
        .await
        .expect_problem(409, "seat_limit_reached");
    app.put_site_user(site, &w.site_admin, &synced[0], "member", &[])
        .await
        .expect(200);
    assert_eq!(app.product(site, SEATED).await["seats_used"], 1);
    app.act(site, &ids[0], "approve", &w.site_admin, &json!({}))
        .await
        .expect_problem(409, "seat_limit_reached");

    app.put_site_user(site, &w.site_admin, &synced[1], "member", &[])
        .await
        .expect(200);
    app.approve(site, &ids[0], &w.site_admin).await;
    assert_eq!(app.product(site, SEATED).await["seats_used"], 1);
}
