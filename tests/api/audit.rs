//! The audit log: one event per create, decision, cancel, block, unblock and
//! settings change; filtered by request and paged.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use crate::helpers::{id_of, ids, spawn_app, with_query, Backend, CONFLUENCE, JIRA};

backend_tests!(
    every_change_writes_one_audit_event,
    audit_events_filter_by_request_and_page,
);

/// The number of events per action, for the actions the contract names.
fn counted(events: &[Value]) -> BTreeMap<String, usize> {
    const NAMED: [&str; 7] = [
        "access_request.created",
        "access_request.approved",
        "access_request.denied",
        "access_request.cancelled",
        "request_block.created",
        "request_block.deleted",
        "settings.updated",
    ];
    let mut counts = BTreeMap::new();
    for event in events {
        let action = event["action"].as_str().expect("an action");
        if NAMED.contains(&action) {
            *counts.entry(action.to_owned()).or_default() += 1;
        }
    }
    counts
}

async fn every_change_writes_one_audit_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;

    let approved = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    app.approve(site, &approved, &world.site_admin).await;
    let denied = id_of(&app.request_for(site, &world.member, "xavier", JIRA).await);
    app.deny(site, &denied, &world.org_admin, Some("no")).await;
    let cancelled = id_of(&app.request_for(site, &world.member, "yara", JIRA).await);
    app.cancel(site, &cancelled, &world.member).await.expect(200);
    let blocker = id_of(&app.request_self(site, &world.site_admin, CONFLUENCE).await);
    app.deny(site, &blocker, &world.org_admin, None).await;
    app.delete(
        &format!("/v1/sites/{site}/request-blocks/site-admin"),
        &world.org_admin.token,
    )
    .await
    .expect(204);
    app.set_opted_out(site, &world.site_admin, true).await;

    let events = app.audit_events(site, &world.site_admin, None).await;
    let expected: BTreeMap<String, usize> = [
        ("access_request.created", 4),
        ("access_request.approved", 1),
        ("access_request.denied", 2),
        ("access_request.cancelled", 1),
        ("request_block.created", 1),
        ("request_block.deleted", 1),
        ("settings.updated", 1),
    ]
    .into_iter()
    .map(|(action, n)| (action.to_owned(), n))
    .collect();
    assert_eq!(counted(&events), expected);

    for event in &events {
        assert!(event["id"].is_string(), "{event}");
        let at = event["at"].as_str().expect("at");
        chrono::DateTime::parse_from_rfc3339(at).expect("an RFC 3339 `at`");
        assert!(event.get("details").is_some(), "{event}");
        assert!(event.get("request_id").is_some(), "{event}");
    }
    let actor_of = |action: &str, request: &str| -> Value {
        events
            .iter()
            .find(|e| e["action"] == action && e["request_id"] == request)
            .map(|e| e["actor_account_id"].clone())
            .unwrap_or_else(|| panic!("no {action} for {request}"))
    };
    assert_eq!(actor_of("access_request.created", &approved), "outsider");
    assert_eq!(actor_of("access_request.approved", &approved), "site-admin");
    assert_eq!(actor_of("access_request.denied", &denied), "org-admin");
    assert_eq!(actor_of("access_request.cancelled", &cancelled), "member");
    let unblock = events
        .iter()
        .find(|e| e["action"] == "request_block.deleted")
        .expect("an unblock event");
    assert_eq!(unblock["actor_account_id"], "org-admin");
}

async fn audit_events_filter_by_request_and_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let first = id_of(&app.request_for(site, &world.member, "zoe", JIRA).await);
    app.approve(site, &first, &world.site_admin).await;
    for n in 0..4 {
        let other = id_of(&app.request_for(site, &world.member, &format!("p{n}"), JIRA).await);
        app.cancel(site, &other, &world.member).await.expect(200);
    }

    let of_first = app.audit_events(site, &world.org_admin, Some(&first)).await;
    let mut actions: Vec<&str> = of_first.iter().filter_map(|e| e["action"].as_str()).collect();
    actions.sort_unstable();
    assert_eq!(actions, ["access_request.approved", "access_request.created"]);
    assert!(of_first.iter().all(|e| e["request_id"] == first.as_str()));

    let base = format!("/v1/sites/{site}/audit-events");
    let all = app.collect_pages(&base, &world.site_admin.token, 200).await;
    assert!(all.len() >= 10, "{}", all.len());
    for limit in [1, 3] {
        let walked = app.collect_pages(&base, &world.site_admin.token, limit).await;
        assert_eq!(ids(&walked), ids(&all), "limit {limit}");
    }
    let unique: HashSet<String> = ids(&all).into_iter().collect();
    assert_eq!(unique.len(), all.len());

    app.get(&with_query(&base, &[("limit", "201")]), &world.site_admin.token)
        .await
        .expect_problem(422, "validation_failed");
    let unknown = uuid::Uuid::new_v4().to_string();
    let none = app
        .get(
            &with_query(&base, &[("request_id", &unknown)]),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(none["items"], serde_json::json!([]));
}
