//! Review findings: writes that used to check and then insert answer 2xx when they race, and
//! the abuse limits are exact under concurrency, on one instance and across several.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, requests_path, spawn_app_with, spawn_instances, ApiResponse, Backend, TestApp, World, JIRA,
};

backend_tests!(
    approvals_for_one_new_subject_race_cleanly,
    denials_of_one_requester_race_cleanly,
    directory_writes_race_cleanly,
    pending_cap_is_exact_under_concurrency,
    creation_rate_is_exact_under_concurrency,
    abuse_limits_are_exact_across_instances,
);

/// How many calls race at once.
const RACERS: usize = 12;

/// Asserts that every answer is a success and returns the statuses, sorted.
#[track_caller]
fn all_succeeded(what: &str, answers: &[ApiResponse]) -> Vec<u16> {
    for answer in answers {
        assert!(
            (200..300).contains(&answer.status),
            "{what}: {} {}",
            answer.status,
            answer.text
        );
    }
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    statuses
}

/// An app without abuse limits and the world, with `RACERS` more products `race-<i>`.
async fn racing_world(backend: Backend) -> (TestApp, World, Vec<String>) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit_create_per_minute = 0;
        s.max_pending_per_requester = 0;
    })
    .await;
    let w = app.world().await;
    let mut products = Vec::new();
    for i in 0..RACERS {
        let key = format!("race-{i}");
        app.put_product(&w.site_id, &w.org_admin, &key, "racers")
            .await
            .expect(201);
        products.push(key);
    }
    (app, w, products)
}

/// Approving requests for one person the site does not know yet, for different products, at
/// once: each approval adds that person as a site user unless another just did.
async fn approvals_for_one_new_subject_race_cleanly(backend: Backend) {
    let (app, w, products) = racing_world(backend).await;
    let site = &w.site_id;
    let mut ids = Vec::new();
    for product in &products {
        ids.push(id_of(
            &app.request_for(site, &w.member, "newcomer", product).await,
        ));
    }
    let empty = json!({});
    let answers = join_all(
        ids.iter()
            .map(|id| app.act(site, id, "approve", &w.site_admin, &empty)),
    )
    .await;
    all_succeeded("approve", &answers);

    let user = app
        .get_site_user(site, &w.site_admin, "newcomer")
        .await
        .expect(200);
    assert_eq!(user["role"], "member");
    let mut held: Vec<String> = serde_json::from_value(user["products"].clone()).expect("products");
    held.sort();
    let mut wanted = products.clone();
    wanted.sort();
    assert_eq!(held, wanted);
}

/// Denying one requester's self requests for different products at once: each denial blocks
/// the requester unless another just did.
async fn denials_of_one_requester_race_cleanly(backend: Backend) {
    let (app, w, products) = racing_world(backend).await;
    let site = &w.site_id;
    let mut ids = Vec::new();
    for product in &products {
        ids.push(id_of(&app.request_self(site, &w.outsider, product).await));
    }
    let empty = json!({});
    let answers = join_all(
        ids.iter()
            .map(|id| app.act(site, id, "deny", &w.site_admin, &empty)),
    )
    .await;
    all_succeeded("deny", &answers);

    let blocks = app
        .get(&format!("/v1/sites/{site}/request-blocks"), &w.site_admin.token)
        .await
        .expect(200);
    let blocked: Vec<&Value> = blocks["items"].as_array().expect("items").iter().collect();
    assert_eq!(blocked.len(), 1, "{blocks}");
    assert_eq!(blocked[0]["account_id"], "outsider");
    let block_events = app
        .audit_events(site, &w.site_admin, None)
        .await
        .into_iter()
        .filter(|e| e["action"] == "request_block.created")
        .count();
    assert_eq!(block_events, 1, "one block, audited once");
}

/// The directory's idempotent PUTs, many at once for one key: one creates, the others
/// replace; none answers `409 conflict` or `500`.
async fn directory_writes_race_cleanly(backend: Backend) {
    let (app, w, _) = racing_world(backend).await;
    let site = &w.site_id;
    let platform = app.platform_admin();

    let admin_path = format!("/v1/orgs/{}/admins/new-org-admin", w.org_id);
    let answers =
        join_all((0..RACERS).map(|_| app.send(Method::PUT, &admin_path, Some(&platform.token), None, &[])))
            .await;
    assert_eq!(all_succeeded("PUT org admin", &answers), vec![204; RACERS]);
    let org = app
        .get(
            &format!("/v1/orgs/{}", w.org_id),
            &app.token("new-org-admin", "noa@acme.test"),
        )
        .await;
    assert_eq!(org.status, 200, "the new org admin reads the org: {}", org.text);

    let answers = join_all(
        (0..RACERS).map(|i| app.put_product_with(site, &w.org_admin, "contested", json!({"seat_limit": i}))),
    )
    .await;
    let statuses = all_succeeded("PUT product", &answers);
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert_eq!(app.product(site, "contested").await["seats_used"], 0);

    let user = app.actor("contested-user", "contested@acme.test");
    let answers = join_all(
        (0..RACERS).map(|_| app.put_site_user(site, &w.site_admin, &user, "member", &[JIRA, "contested"])),
    )
    .await;
    let statuses = all_succeeded("PUT site user", &answers);
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    let stored = app.get_site_user(site, &w.site_admin, &user.id).await.expect(200);
    assert_eq!(stored["products"], json!(["contested", JIRA]));
    assert_eq!(app.product(site, "contested").await["seats_used"], 1);
}

/// `count` on-behalf creations by the member for new people at once, creation `i` through
/// instance `i % instances`; returns how many were created, asserting that every refusal is
/// `429 rate_limited` with a `Retry-After`.
async fn create_at_once(app: &TestApp, w: &World, prefix: &str, count: usize) -> usize {
    let path = requests_path(&w.site_id);
    let answers = join_all((0..count).map(|i| {
        let base = &app.instances[i % app.instances.len()];
        let path = &path;
        async move {
            let body = json!({
                "product_key": JIRA,
                "subject": {"account_id": format!("{prefix}-{i}"), "email": format!("{prefix}{i}@elsewhere.test")},
            });
            app.send_to(base, Method::POST, path, Some(&w.member.token), Some(&body), &[])
                .await
        }
    }))
    .await;
    let mut created = 0;
    for answer in answers {
        if answer.status == 201 {
            created += 1;
        } else {
            answer.expect_problem(429, "rate_limited");
            assert!(answer.header("retry-after").is_some(), "{}", answer.text);
        }
    }
    created
}

/// Requests in the site's list, and `access_request.created` audit events: both count only
/// what was created.
async fn stored_requests(app: &TestApp, w: &World) -> (usize, usize) {
    let listed = app.list_requests(&w.site_id, &w.site_admin, &[]).await.len();
    let audited = app
        .audit_events(&w.site_id, &w.site_admin, None)
        .await
        .into_iter()
        .filter(|e| e["action"] == "access_request.created")
        .count();
    (listed, audited)
}

async fn pending_cap_is_exact_under_concurrency(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.max_pending_per_requester = 5;
        s.rate_limit_create_per_minute = 0;
    })
    .await;
    let w = app.world().await;
    assert_eq!(create_at_once(&app, &w, "capped", 20).await, 5);
    assert_eq!(stored_requests(&app, &w).await, (5, 5));
}

async fn creation_rate_is_exact_under_concurrency(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit_create_per_minute = 5;
        s.max_pending_per_requester = 0;
    })
    .await;
    let w = app.world().await;
    assert_eq!(create_at_once(&app, &w, "rated", 20).await, 5);
    assert_eq!(stored_requests(&app, &w).await, (5, 5));
}

async fn abuse_limits_are_exact_across_instances(backend: Backend) {
    if backend == Backend::Sqlite {
        // SQLite is a single-writer file served by one instance; several instances on one
        // database are a PostgreSQL deployment.
        return;
    }
    // The pending cap binds first; once those are decided, the rate limit counts them.
    let app = spawn_instances(backend, 3, |s| {
        s.max_pending_per_requester = 5;
        s.rate_limit_create_per_minute = 8;
    })
    .await;
    let w = app.world().await;
    assert_eq!(create_at_once(&app, &w, "first", 20).await, 5);
    for request in app.list_requests(&w.site_id, &w.site_admin, &[]).await {
        app.deny(&w.site_id, &id_of(&request), &w.site_admin, None).await;
    }
    assert_eq!(create_at_once(&app, &w, "second", 20).await, 3);
    assert_eq!(stored_requests(&app, &w).await, (8, 8));
}
