//! Bulk decisions: up to 100 requests approved or denied in one call, each exactly as by its
//! single endpoint (seats, blocks, conflicts), one result per id in the order given.

use std::time::Instant;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{id_of, request_path, spawn_app, spawn_app_with, Backend, TestApp, World, JIRA};

backend_tests!(
    bulk_approval_stops_at_the_seat_limit_in_order,
    bulk_denial_blocks_self_requesters,
    bulk_replays_by_idempotency_key,
    bulk_input_is_checked_before_anything_is_decided,
    bulk_items_answer_for_themselves,
    bulk_needs_an_admin_of_the_site,
);

const SEATED: &str = "seated";

/// The `results` of a bulk answer.
fn results(answer: &Value) -> &Vec<Value> {
    answer["results"].as_array().expect("results")
}

/// `(status, problem.code)` of each result.
fn outcomes(answer: &Value) -> Vec<(u64, Option<&str>)> {
    results(answer)
        .iter()
        .map(|r| {
            (
                r["status"].as_u64().expect("a status"),
                r["problem"]["code"].as_str(),
            )
        })
        .collect()
}

async fn status_of(app: &TestApp, w: &World, id: &str) -> Value {
    app.get(&request_path(&w.site_id, id), &w.site_admin.token)
        .await
        .expect(200)["status"]
        .clone()
}

async fn audited(app: &TestApp, w: &World, action: &str) -> usize {
    app.audit_events(&w.site_id, &w.site_admin, None)
        .await
        .iter()
        .filter(|e| e["action"] == action)
        .count()
}

async fn bulk_approval_stops_at_the_seat_limit_in_order(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.rate_limit_create_per_minute = 0;
        s.max_pending_per_requester = 0;
    })
    .await;
    let w = app.world().await;
    let site = &w.site_id;
    app.put_product_with(site, &w.org_admin, SEATED, json!({"seat_limit": 60}))
        .await
        .expect(201);
    let mut created = Vec::new();
    for i in 0..100 {
        created.push(id_of(
            &app.request_for(site, &w.member, &format!("bulk-{i}"), SEATED)
                .await,
        ));
    }
    // Neither creation order nor id order: the results must follow the order given.
    let ids: Vec<String> = (0..100).map(|i| created[(i * 37) % 100].clone()).collect();

    let started = Instant::now();
    let answer = app
        .bulk(
            site,
            &w.site_admin,
            &json!({"action": "approve", "ids": ids}),
            &[],
        )
        .await
        .expect(200);
    eprintln!(
        "bulk approve of 100 requests on {backend:?}: {:?}",
        started.elapsed()
    );

    let results = results(&answer);
    assert_eq!(results.len(), 100);
    for (i, (result, id)) in results.iter().zip(&ids).enumerate() {
        assert_eq!(result["id"], id.as_str(), "result {i} is not for ids[{i}]");
        if i < 60 {
            assert_eq!(result["status"], 200, "result {i}: {result}");
            assert_eq!(
                (&result["request"]["id"], &result["request"]["status"]),
                (&json!(id), &json!("approved"))
            );
            assert!(result.get("problem").is_none(), "{result}");
        } else {
            assert_eq!(result["status"], 409, "result {i}: {result}");
            assert_eq!(result["problem"]["code"], "seat_limit_reached", "{result}");
            assert_eq!(result["problem"]["status"], 409);
            assert!(result.get("request").is_none(), "{result}");
        }
    }
    assert_eq!(app.product(site, SEATED).await["seats_used"], 60);
    let pending = app
        .list_requests(site, &w.site_admin, &[("status", "pending")])
        .await;
    let mut still: Vec<String> = pending.iter().map(id_of).collect();
    still.sort();
    let mut refused = ids[60..].to_vec();
    refused.sort();
    assert_eq!(still, refused);
    assert_eq!(audited(&app, &w, "access_request.approved").await, 60);
    // Each approval sent its webhooks as a single one would; a refused one sent nothing.
    let targets = |deliveries: Vec<Value>| {
        let mut types: Vec<String> = deliveries
            .iter()
            .filter_map(|d| d["type"].as_str().map(str::to_owned))
            .collect();
        types.sort();
        types
    };
    assert_eq!(
        targets(app.wait_delivered(&ids[0], 3).await),
        vec!["access_request.decided", "billing.seat.start", "group.member.add"]
    );
    assert_eq!(targets(app.deliveries_for(&ids[99]).await), Vec::<String>::new());
}

async fn bulk_denial_blocks_self_requesters(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    let askers: Vec<_> = (0..3)
        .map(|i| app.actor(&format!("asker-{i}"), &format!("asker{i}@gmail.test")))
        .collect();
    let mut ids = Vec::new();
    for asker in &askers {
        ids.push(id_of(&app.request_self(site, asker, JIRA).await));
    }
    // An on-behalf denial blocks nobody, in bulk as alone.
    ids.push(id_of(&app.request_for(site, &w.member, "someone", JIRA).await));

    let body = json!({"action": "deny", "ids": ids, "message": "Not this quarter"});
    let answer = app.bulk(site, &w.site_admin, &body, &[]).await.expect(200);
    for (result, id) in results(&answer).iter().zip(&ids) {
        assert_eq!(result["status"], 200, "{result}");
        let request = &result["request"];
        assert_eq!(request["id"], id.as_str());
        assert_eq!(request["status"], "denied");
        assert_eq!(request["decision_message"], "Not this quarter");
        assert_eq!(request["decided_by"], w.site_admin.id.as_str());
    }

    for asker in &askers {
        app.create_request(site, &asker.token, &json!({"product_key": JIRA}))
            .await
            .expect_problem(403, "requester_blocked");
    }
    let blocks = app
        .get(&format!("/v1/sites/{site}/request-blocks"), &w.site_admin.token)
        .await
        .expect(200);
    let mut blocked: Vec<&str> = blocks["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|b| b["account_id"].as_str())
        .collect();
    blocked.sort_unstable();
    assert_eq!(blocked, vec!["asker-0", "asker-1", "asker-2"]);
    app.request_for(site, &w.member, "someone", JIRA).await;

    // Audited and notified as single denials are.
    assert_eq!(audited(&app, &w, "access_request.denied").await, 4);
    assert_eq!(audited(&app, &w, "request_block.created").await, 3);
    for id in &ids {
        let deliveries = app.wait_delivered(id, 1).await;
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        assert_eq!(deliveries[0]["type"], "access_request.decided");
    }
}

async fn bulk_replays_by_idempotency_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id_of(
            &app.request_for(site, &w.member, &format!("replayed-{i}"), JIRA)
                .await,
        ));
    }
    let body = json!({"action": "approve", "ids": ids});
    let key = [("Idempotency-Key", "bulk-approve-1")];

    let first = app.bulk(site, &w.site_admin, &body, &key).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(outcomes(&first.body), vec![(200, None); 3]);
    let again = app.bulk(site, &w.site_admin, &body, &key).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.text, first.text, "a replay answers byte for byte");
    assert_eq!(audited(&app, &w, "access_request.approved").await, 3);

    // The same key for something else is refused, and nothing is denied.
    let deny = json!({"action": "deny", "ids": ids});
    app.bulk(site, &w.site_admin, &deny, &key)
        .await
        .expect_problem(409, "idempotency_key_reused");
    for id in &ids {
        assert_eq!(status_of(&app, &w, id).await, "approved");
    }

    // Keys belong to their caller: another admin's call with it is a call of its own.
    let other = app.bulk(site, &w.org_admin, &body, &key).await.expect(200);
    assert_eq!(outcomes(&other), vec![(409, Some("not_pending")); 3]);
}

async fn bulk_input_is_checked_before_anything_is_decided(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    let id = id_of(&app.request_self(site, &w.outsider, JIRA).await);
    let other = id_of(&app.request_for(site, &w.member, "second", JIRA).await);
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let many: Vec<String> = std::iter::once(id.clone())
        .chain((0..100).map(|_| Uuid::new_v4().to_string()))
        .collect();

    for (body, fields) in [
        (json!({"action": "approve", "ids": many}), vec!["ids"]),
        (json!({"action": "approve", "ids": []}), vec!["ids"]),
        (
            json!({"action": "approve", "ids": [id, other, id]}),
            vec!["ids[2]"],
        ),
        (
            json!({"action": "deny", "ids": [id, "not-a-uuid"]}),
            vec!["ids[1]"],
        ),
        (
            json!({"action": "approve", "ids": [id], "message": "welcome"}),
            vec!["message"],
        ),
        (
            json!({"action": "deny", "ids": [id], "expires_at": soon}),
            vec!["expires_at"],
        ),
        (
            json!({"action": "deny", "ids": [id, id], "message": "x".repeat(501)}),
            vec!["ids[1]", "message"],
        ),
    ] {
        let refused = app.bulk(site, &w.site_admin, &body, &[]).await;
        refused.expect_problem(422, "validation_failed");
        let mut named = refused.error_fields();
        named.sort_unstable();
        assert_eq!(named, fields, "{body}: {}", refused.text);
    }
    for body in [
        json!({"action": "grant", "ids": [id]}),
        json!({"action": "approve", "ids": [id], "extra": true}),
        json!({"ids": [id]}),
    ] {
        app.bulk(site, &w.site_admin, &body, &[])
            .await
            .expect_problem(400, "bad_request");
    }

    // Nothing was decided by any of them.
    for request in [&id, &other] {
        assert_eq!(status_of(&app, &w, request).await, "pending");
    }
    let decided =
        audited(&app, &w, "access_request.approved").await + audited(&app, &w, "access_request.denied").await;
    assert_eq!(decided, 0);
}

async fn bulk_items_answer_for_themselves(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    let elsewhere = app.add_site(&w.org_id, &w.org_admin, "Acme Elsewhere").await;
    let foreign = id_of(&app.request_self(&elsewhere, &w.outsider, JIRA).await);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(id_of(
            &app.request_for(site, &w.member, &format!("mixed-{i}"), JIRA)
                .await,
        ));
    }
    app.approve(site, &ids[2], &w.site_admin).await;
    let unknown = Uuid::new_v4().to_string();

    let body = json!({"action": "approve", "ids": [ids[0], foreign, ids[2], unknown, ids[1]]});
    let answer = app.bulk(site, &w.site_admin, &body, &[]).await.expect(200);
    assert_eq!(
        outcomes(&answer),
        vec![
            (200, None),
            (404, Some("not_found")),
            (409, Some("not_pending")),
            (404, Some("not_found")),
            (200, None),
        ]
    );
    for (result, id) in results(&answer)
        .iter()
        .zip([&ids[0], &foreign, &ids[2], &unknown, &ids[1]])
    {
        assert_eq!(result["id"], id.as_str());
    }
    // The other site's request is untouched.
    let untouched = app
        .get(&request_path(&elsewhere, &foreign), &w.org_admin.token)
        .await
        .expect(200);
    assert_eq!(untouched["status"], "pending");

    // Denying what was approved: not pending either.
    let deny = json!({"action": "deny", "ids": [ids[0]]});
    let answer = app.bulk(site, &w.site_admin, &deny, &[]).await.expect(200);
    assert_eq!(outcomes(&answer), vec![(409, Some("not_pending"))]);
}

async fn bulk_needs_an_admin_of_the_site(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let site = &w.site_id;
    let id = id_of(&app.request_self(site, &w.outsider, JIRA).await);
    let body = json!({"action": "approve", "ids": [id]});

    for who in [&w.member, &w.outsider] {
        app.bulk(site, who, &body, &[])
            .await
            .expect_problem(403, "forbidden");
    }
    let nowhere = Uuid::new_v4().to_string();
    app.bulk(&nowhere, &w.site_admin, &body, &[])
        .await
        .expect_problem(404, "not_found");
    assert_eq!(status_of(&app, &w, &id).await, "pending");

    // The org admin administers every site of the org.
    let answer = app.bulk(site, &w.org_admin, &body, &[]).await.expect(200);
    assert_eq!(outcomes(&answer), vec![(200, None)]);
}
