//! Access that ends: grants as a resource, revocation, time-bound access, and the end of a
//! grant reaching the group, billing and notification services in order.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    id_of, request_path, spawn_app, spawn_app_with, wait_for, with_query, Actor, Backend, TestApp, World,
    CONFLUENCE, JIRA, JIRA_GROUP, WAIT,
};
use crate::receiver::{ReceivedWebhook, Receiver};

backend_tests!(
    revoke_ends_access_with_its_webhooks,
    revoke_then_reapprove_gives_a_second_grant,
    grants_are_listed_filtered_and_paged,
    grants_are_visible_to_admins_and_their_own_account,
    time_bound_access_follows_the_product_maximum,
    patch_sets_moves_and_removes_the_end,
    grants_expire_by_themselves,
    an_expiring_grant_is_announced_once,
    removing_a_user_ends_their_grants,
    a_directory_drop_ends_a_grant,
    an_end_waits_for_its_start,
);

pub fn grants_path(site_id: &str) -> String {
    format!("/v1/sites/{site_id}/grants")
}

pub fn grant_path(site_id: &str, grant_id: &str) -> String {
    format!("/v1/sites/{site_id}/grants/{grant_id}")
}

/// An RFC 3339 time `secs` from now.
pub fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

/// A product with a maximum duration and a seat limit.
async fn put_limited_product(app: &TestApp, world: &World, key: &str, max_hours: Option<i32>) {
    let body = json!({"name": "Limited", "default_group": "limited-users", "max_duration_hours": max_hours});
    app.put_json(
        &format!("/v1/sites/{}/products/{key}", world.site_id),
        &world.org_admin.token,
        &body,
    )
    .await
    .expect(201);
}

/// Approves an on-behalf request for `subject` and returns the grant it made.
async fn granted(app: &TestApp, world: &World, subject: &str, product: &str, body: Value) -> (String, Value) {
    let request = id_of(
        &app.request_for(&world.site_id, &world.member, subject, product)
            .await,
    );
    let approved = app
        .act(&world.site_id, &request, "approve", &world.site_admin, &body)
        .await
        .expect(200);
    let grant_id = approved["grant_id"].as_str().expect("a grant").to_owned();
    let grant = app
        .get(&grant_path(&world.site_id, &grant_id), &world.site_admin.token)
        .await
        .expect(200);
    (request, grant)
}

async fn revoke(app: &TestApp, world: &World, grant_id: &str, who: &Actor) -> crate::helpers::ApiResponse {
    let path = format!("{}/revoke", grant_path(&world.site_id, grant_id));
    app.post_json(&path, &who.token, &json!({"reason": "left the project"}))
        .await
}

/// The calls a receiver got about one grant, in arrival order.
fn calls_of(receiver: &Receiver, grant_id: &str) -> Vec<ReceivedWebhook> {
    receiver
        .calls()
        .into_iter()
        .filter(|call| call.json()["data"]["grant_id"] == grant_id)
        .collect()
}

async fn wait_calls_of(receiver: &Receiver, grant_id: &str, n: usize) -> Vec<ReceivedWebhook> {
    wait_for("webhooks about a grant", WAIT, async || {
        calls_of(receiver, grant_id).len() >= n
    })
    .await;
    calls_of(receiver, grant_id)
}

fn types(calls: &[ReceivedWebhook]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.json()["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn revoke_ends_access_with_its_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (request, grant) = granted(&app, &world, "alice", JIRA, json!({})).await;
    let grant_id = id_of(&grant);
    assert_eq!(grant["status"], "active");
    assert_eq!(grant["source"], "request");
    assert_eq!(grant["request_id"], request);
    assert_eq!(grant["account_id"], "alice");
    assert_eq!(grant["granted_by"], "site-admin");
    assert!(grant["expires_at"].is_null() && grant["ended_at"].is_null() && grant["end_reason"].is_null());

    let response = revoke(&app, &world, &grant_id, &world.site_admin).await;
    assert_eq!(response.header("etag"), Some("\"2\""));
    let revoked = response.expect(200);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(revoked["end_reason"], "revoked");
    assert_eq!(revoked["ended_by"], "site-admin");
    assert!(revoked["ended_at"].is_string());
    let user = app
        .get_site_user(site, &world.site_admin, "alice")
        .await
        .expect(200);
    assert_eq!(user["products"], json!([]));

    let group = wait_calls_of(&app.group, &grant_id, 2).await;
    assert_eq!(types(&group), ["group.member.add", "group.member.remove"]);
    assert_eq!(
        group[1].json()["data"],
        json!({
            "grant_id": grant_id, "request_id": request, "org_id": world.org_id, "site_id": site,
            "product_key": JIRA, "group": JIRA_GROUP, "account_id": "alice", "reason": "revoked",
        })
    );
    let billing = wait_calls_of(&app.billing, &grant_id, 2).await;
    assert_eq!(types(&billing), ["billing.seat.start", "billing.seat.end"]);
    let end = billing[1].json()["data"].clone();
    assert_eq!(end["started_at"], billing[0].json()["data"]["started_at"]);
    assert_eq!(end["reason"], "revoked");
    assert_eq!(end["request_id"], request);
    let ended_at = chrono::DateTime::parse_from_rfc3339(end["ended_at"].as_str().expect("ended_at")).unwrap();
    let revoked_at = chrono::DateTime::parse_from_rfc3339(revoked["ended_at"].as_str().unwrap()).unwrap();
    assert!((ended_at - revoked_at).num_milliseconds().abs() <= 1, "{end}");
    let notification = wait_calls_of(&app.notification, &grant_id, 1).await;
    assert_eq!(
        notification[0].json()["data"],
        json!({"grant_id": grant_id, "site_id": site, "product_key": JIRA, "account_id": "alice", "reason": "revoked"})
    );
    assert_eq!(notification[0].json()["type"], "grant.ended");

    let audit = app.audit_events(site, &world.site_admin, Some(&request)).await;
    let revoked_event = audit
        .iter()
        .find(|e| e["action"] == "grant.revoked")
        .expect("an audit event");
    assert_eq!(revoked_event["actor_account_id"], "site-admin");
    assert_eq!(revoked_event["details"]["grant_id"], grant_id);
    assert_eq!(revoked_event["details"]["message"], "left the project");

    revoke(&app, &world, &grant_id, &world.site_admin)
        .await
        .expect_problem(409, "grant_not_active");
    revoke(&app, &world, &grant_id, &world.member)
        .await
        .expect_problem(403, "forbidden");
    let unknown = uuid::Uuid::new_v4().to_string();
    revoke(&app, &world, &unknown, &world.site_admin)
        .await
        .expect_problem(404, "not_found");
}

async fn revoke_then_reapprove_gives_a_second_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let (_, first) = granted(&app, &world, "bob", JIRA, json!({})).await;
    revoke(&app, &world, &id_of(&first), &world.org_admin)
        .await
        .expect(200);
    let (_, second) = granted(&app, &world, "bob", JIRA, json!({})).await;
    assert_ne!(id_of(&first), id_of(&second));
    assert_eq!(second["status"], "active");
    wait_calls_of(&app.billing, &id_of(&second), 1).await;
    let seats: Vec<(String, String)> = app
        .billing
        .calls()
        .iter()
        .map(|c| {
            let body = c.json();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["grant_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        seats,
        [
            ("billing.seat.start".to_owned(), id_of(&first)),
            ("billing.seat.end".to_owned(), id_of(&first)),
            ("billing.seat.start".to_owned(), id_of(&second)),
        ]
    );
}

async fn grants_are_listed_filtered_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (_, a) = granted(&app, &world, "ann", JIRA, json!({"expires_at": in_secs(3600)})).await;
    let (_, b) = granted(&app, &world, "ann", CONFLUENCE, json!({})).await;
    let (_, c) = granted(&app, &world, "cid", JIRA, json!({})).await;
    revoke(&app, &world, &id_of(&c), &world.site_admin)
        .await
        .expect(200);
    let user = app.actor("dir-user", "dir@acme.test");
    app.put_site_user(site, &world.site_admin, &user, "member", &[CONFLUENCE])
        .await
        .expect(201);

    let list = |filters: Vec<(&'static str, String)>| {
        let pairs: Vec<(&str, &str)> = filters.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = with_query(&grants_path(site), &pairs);
        let token = world.site_admin.token.clone();
        let app = &app;
        async move { app.collect_pages(&path, &token, 1).await }
    };
    let ids = |items: Vec<Value>| items.iter().map(id_of).collect::<Vec<_>>();
    let all = list(vec![]).await;
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["source"], "directory");
    assert_eq!(
        ids(all[1..].to_vec()),
        [id_of(&c), id_of(&b), id_of(&a)],
        "newest first"
    );
    assert_eq!(
        ids(list(vec![("account_id", "ann".into())]).await),
        [id_of(&b), id_of(&a)]
    );
    assert_eq!(
        ids(list(vec![("product_key", JIRA.into())]).await),
        [id_of(&c), id_of(&a)]
    );
    assert_eq!(ids(list(vec![("status", "revoked".into())]).await), [id_of(&c)]);
    assert_eq!(list(vec![("status", "active".into())]).await.len(), 3);
    assert_eq!(
        ids(list(vec![("expiring_before", in_secs(7200))]).await),
        [id_of(&a)]
    );

    for bad in [
        ("status", "gone"),
        ("limit", "0"),
        ("product_key", "NO"),
        ("account_id", "a b"),
        ("cursor", "x"),
    ] {
        let response = app
            .get(&with_query(&grants_path(site), &[bad]), &world.site_admin.token)
            .await;
        assert!(
            [400, 422].contains(&response.status),
            "{bad:?}: {}",
            response.text
        );
    }
    app.get(&grants_path(site), &world.member.token)
        .await
        .expect_problem(403, "forbidden");
}

async fn grants_are_visible_to_admins_and_their_own_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let request = id_of(&app.request_self(&world.site_id, &world.outsider, JIRA).await);
    let approved = app.approve(&world.site_id, &request, &world.site_admin).await;
    let path = grant_path(&world.site_id, approved["grant_id"].as_str().unwrap());
    for who in [&world.site_admin, &world.org_admin, &world.outsider] {
        app.get(&path, &who.token).await.expect(200);
    }
    app.get(&path, &world.member.token)
        .await
        .expect_problem(404, "not_found");
    let other_site = app.add_site(&world.org_id, &world.org_admin, "Other").await;
    let elsewhere = path.replace(&world.site_id, &other_site);
    app.get(&elsewhere, &world.org_admin.token)
        .await
        .expect_problem(404, "not_found");
}

async fn time_bound_access_follows_the_product_maximum(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    put_limited_product(&app, &world, "limited", Some(24)).await;
    let ask = |subject: &str, hours: Option<i64>| json!({"product_key": "limited", "duration_hours": hours, "subject": {"account_id": subject, "email": format!("{subject}@elsewhere.test")}});
    app.create_request(site, &world.member.token, &ask("too-long", Some(25)))
        .await
        .expect_problem(422, "duration_too_long");
    for hours in [0, 87_841] {
        let response = app
            .create_request(site, &world.member.token, &ask("bad", Some(hours)))
            .await;
        response.expect_problem(422, "validation_failed");
        assert_eq!(response.error_fields(), ["duration_hours"]);
    }
    let hours = |grant: &Value, approved: &Value| {
        let end =
            chrono::DateTime::parse_from_rfc3339(grant["expires_at"].as_str().expect("an end")).unwrap();
        let start = chrono::DateTime::parse_from_rfc3339(approved["decided_at"].as_str().unwrap()).unwrap();
        (end - start).num_seconds() as f64 / 3600.0
    };
    // The request's duration, else the product's maximum.
    for (subject, asked, expected) in [("two", Some(2), 2.0), ("max", None, 24.0)] {
        let request = app
            .create_request(site, &world.member.token, &ask(subject, asked))
            .await
            .expect(201);
        assert_eq!(request["duration_hours"], json!(asked));
        let approved = app.approve(site, &id_of(&request), &world.site_admin).await;
        let grant = app
            .get(
                &grant_path(site, approved["grant_id"].as_str().unwrap()),
                &world.site_admin.token,
            )
            .await
            .expect(200);
        assert!((hours(&grant, &approved) - expected).abs() < 0.01, "{grant}");
        let start = app.billing.wait_for_calls(&id_of(&request), 1).await;
        assert_eq!(
            start[0].json()["data"]["expires_at"]
                .as_str()
                .map(|s| !s.is_empty()),
            Some(true)
        );
    }
    // The approver's end wins, within the maximum and in the future.
    let request = id_of(
        &app.create_request(site, &world.member.token, &ask("picked", Some(2)))
            .await
            .expect(201),
    );
    let approve = |body: Value| {
        let request = request.clone();
        let app = &app;
        let world = &world;
        async move {
            app.act(&world.site_id, &request, "approve", &world.site_admin, &body)
                .await
        }
    };
    approve(json!({"expires_at": in_secs(25 * 3600)}))
        .await
        .expect_problem(422, "duration_too_long");
    let past = approve(json!({"expires_at": in_secs(-60)})).await;
    past.expect_problem(422, "validation_failed");
    assert_eq!(past.error_fields(), ["expires_at"]);
    approve(json!({"expires_at": "tomorrow"}))
        .await
        .expect_problem(400, "bad_request");
    let pending = app
        .get(&request_path(site, &request), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(pending["status"], "pending", "a refused approval changes nothing");
    let approved = approve(json!({"expires_at": in_secs(5 * 3600)}))
        .await
        .expect(200);
    let grant = app
        .get(
            &grant_path(site, approved["grant_id"].as_str().unwrap()),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    assert!((hours(&grant, &approved) - 5.0).abs() < 0.01, "{grant}");
    // Without a maximum and without a duration: no end.
    let (_, open) = granted(&app, &world, "open", JIRA, json!({})).await;
    assert!(open["expires_at"].is_null());
}

async fn patch_sets_moves_and_removes_the_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (_, grant) = granted(&app, &world, "pat", JIRA, json!({})).await;
    let path = grant_path(site, &id_of(&grant));
    let patch = |body: Value, if_match: Option<&str>| {
        let path = path.clone();
        let token = world.site_admin.token.clone();
        let headers: Vec<(&str, String)> = if_match.map(|v| ("if-match", v.to_owned())).into_iter().collect();
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.send(reqwest::Method::PATCH, &path, Some(&token), Some(&body), &headers)
                .await
        }
    };
    let end = in_secs(7200);
    let response = patch(json!({"expires_at": end}), Some("\"1\"")).await;
    assert_eq!(response.header("etag"), Some("\"2\""));
    let moved = response.expect(200);
    assert_eq!(moved["version"], 2);
    assert!(moved["expires_at"].is_string());
    patch(json!({"expires_at": in_secs(60)}), Some("\"1\""))
        .await
        .expect_problem(412, "precondition_failed");
    patch(json!({"expires_at": in_secs(-1)}), None)
        .await
        .expect_problem(422, "validation_failed");
    patch(json!({}), None)
        .await
        .expect_problem(422, "validation_failed");
    patch(json!({"expires_at": end, "extra": 1}), None)
        .await
        .expect_problem(400, "bad_request");
    let removed = patch(json!({"expires_at": null}), Some("2")).await.expect(200);
    assert!(removed["expires_at"].is_null());
    app.send(
        reqwest::Method::PATCH,
        &path,
        Some(&world.member.token),
        Some(&json!({"expires_at": null})),
        &[],
    )
    .await
    .expect_problem(403, "forbidden");
    let audit = app.audit_events(site, &world.site_admin, None).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e["action"] == "grant.expiry_changed")
            .count(),
        2
    );

    // A product with a maximum: no end beyond it, and never no end.
    put_limited_product(&app, &world, "limited", Some(2)).await;
    let (_, limited) = granted(&app, &world, "lim", "limited", json!({})).await;
    let path = grant_path(site, &id_of(&limited));
    for body in [
        json!({"expires_at": in_secs(3 * 3600)}),
        json!({"expires_at": null}),
    ] {
        app.send(
            reqwest::Method::PATCH,
            &path,
            Some(&world.site_admin.token),
            Some(&body),
            &[],
        )
        .await
        .expect_problem(422, "duration_too_long");
    }
    app.send(
        reqwest::Method::PATCH,
        &path,
        Some(&world.site_admin.token),
        Some(&json!({"expires_at": in_secs(3600)})),
        &[],
    )
    .await
    .expect(200);
    revoke(&app, &world, &id_of(&limited), &world.site_admin)
        .await
        .expect(200);
    app.send(
        reqwest::Method::PATCH,
        &path,
        Some(&world.site_admin.token),
        Some(&json!({"expires_at": in_secs(60)})),
        &[],
    )
    .await
    .expect_problem(409, "grant_not_active");
}

async fn grants_expire_by_themselves(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (request, grant) = granted(&app, &world, "eve", JIRA, json!({"expires_at": in_secs(2)})).await;
    let grant_id = id_of(&grant);
    let mut ended = Value::Null;
    wait_for("the grant to expire", Duration::from_secs(15), async || {
        ended = app
            .get(&grant_path(site, &grant_id), &world.site_admin.token)
            .await
            .expect(200);
        ended["status"] == "expired"
    })
    .await;
    assert_eq!(ended["end_reason"], "expired");
    assert!(ended["ended_by"].is_null());
    let expires = chrono::DateTime::parse_from_rfc3339(ended["expires_at"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(ended["ended_at"].as_str().unwrap()).unwrap();
    let late = (at - expires).num_milliseconds();
    assert!((0..=5_000).contains(&late), "ended {late} ms after its end");
    let user = app
        .get_site_user(site, &world.site_admin, "eve")
        .await
        .expect(200);
    assert_eq!(user["products"], json!([]));
    let billing = wait_calls_of(&app.billing, &grant_id, 2).await;
    assert_eq!(billing[1].json()["data"]["reason"], "expired");
    let group = wait_calls_of(&app.group, &grant_id, 2).await;
    assert_eq!(group[1].json()["data"]["reason"], "expired");
    let audit = app.audit_events(site, &world.site_admin, Some(&request)).await;
    let expired = audit
        .iter()
        .find(|e| e["action"] == "grant.expired")
        .expect("an audit event");
    assert!(expired["actor_account_id"].is_null());
    // It ended once, and the seat is free: the same person may be approved again.
    assert_eq!(
        types(&calls_of(&app.billing, &grant_id)),
        ["billing.seat.start", "billing.seat.end"]
    );
    granted(&app, &world, "eve", JIRA, json!({})).await;
}

async fn an_expiring_grant_is_announced_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.grant_expiry_warning_secs = 3600).await;
    let world = app.world().await;
    let (_, soon) = granted(&app, &world, "soon", JIRA, json!({"expires_at": in_secs(1800)})).await;
    let (_, later) = granted(&app, &world, "later", JIRA, json!({"expires_at": in_secs(7200)})).await;
    let warned = wait_calls_of(&app.notification, &id_of(&soon), 1).await;
    assert_eq!(warned[0].json()["type"], "grant.expiring");
    assert_eq!(
        warned[0].json()["data"],
        json!({"grant_id": id_of(&soon), "site_id": world.site_id, "product_key": JIRA, "account_id": "soon",
               "expires_at": warned[0].json()["data"]["expires_at"]})
    );
    // Later sweeps send nothing more; the grant that ends later is not due yet.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(calls_of(&app.notification, &id_of(&soon)).len(), 1);
    assert!(calls_of(&app.notification, &id_of(&later)).is_empty());
}

async fn removing_a_user_ends_their_grants(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (_, jira) = granted(&app, &world, "rita", JIRA, json!({})).await;
    let (_, confluence) = granted(&app, &world, "rita", CONFLUENCE, json!({})).await;
    app.delete(&format!("/v1/sites/{site}/users/rita"), &world.site_admin.token)
        .await
        .expect(204);
    for grant in [&jira, &confluence] {
        let ended = app
            .get(&grant_path(site, &id_of(grant)), &world.site_admin.token)
            .await
            .expect(200);
        assert_eq!(
            (&ended["status"], &ended["end_reason"]),
            (&json!("revoked"), &json!("user_removed"))
        );
        let billing = wait_calls_of(&app.billing, &id_of(grant), 2).await;
        assert_eq!(billing[1].json()["data"]["reason"], "user_removed");
    }
    app.get_site_user(site, &world.site_admin, "rita")
        .await
        .expect_problem(404, "not_found");
    app.delete(&format!("/v1/sites/{site}/users/rita"), &world.site_admin.token)
        .await
        .expect_problem(404, "not_found");
}

async fn a_directory_drop_ends_a_grant(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let (_, from_request) = granted(&app, &world, "dora", JIRA, json!({})).await;
    let dora = app.actor("dora", "dora@elsewhere.test");
    // Directory sync adds Confluence silently and drops Jira with its end webhooks.
    app.put_site_user(site, &world.site_admin, &dora, "member", &[CONFLUENCE])
        .await
        .expect(200);
    let ended = app
        .get(&grant_path(site, &id_of(&from_request)), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(
        (&ended["status"], &ended["end_reason"]),
        (&json!("revoked"), &json!("revoked"))
    );
    assert_eq!(
        types(&wait_calls_of(&app.billing, &id_of(&from_request), 2).await)[1],
        "billing.seat.end"
    );
    let grants = app
        .get(
            &with_query(
                &grants_path(site),
                &[("account_id", "dora"), ("status", "active")],
            ),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    let directory_grant = grants["items"][0].clone();
    assert_eq!(
        (&directory_grant["source"], &directory_grant["product_key"]),
        (&json!("directory"), &json!(CONFLUENCE))
    );
    // Dropping a directory grant is silent: no webhook about it, ever.
    app.put_site_user(site, &world.site_admin, &dora, "member", &[])
        .await
        .expect(200);
    let dropped = app
        .get(
            &grant_path(site, &id_of(&directory_grant)),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(dropped["status"], "revoked");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for receiver in [&app.group, &app.billing, &app.notification] {
        assert!(calls_of(receiver, &id_of(&directory_grant)).is_empty());
    }
}

async fn an_end_waits_for_its_start(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.webhook_max_attempts = 2;
        s.webhook_retry_base_ms = 50;
    })
    .await;
    let world = app.world().await;
    // The billing service is down: the start fails for good, and the grant expires meanwhile.
    app.billing.answer(503);
    let (request, grant) = granted(&app, &world, "olga", JIRA, json!({"expires_at": in_secs(2)})).await;
    let grant_id = id_of(&grant);
    wait_for("the grant to expire", Duration::from_secs(15), async || {
        app.get(&grant_path(&world.site_id, &grant_id), &world.site_admin.token)
            .await
            .expect(200)["status"]
            == "expired"
    })
    .await;
    let failed = |d: &Value| d["type"] == "billing.seat.start" && d["status"] == "failed";
    let mut deliveries = Vec::new();
    wait_for("the start to fail", WAIT, async || {
        deliveries = app.deliveries_for(&request).await;
        deliveries.iter().any(failed)
    })
    .await;
    let start = deliveries.iter().find(|d| failed(d)).unwrap().clone();
    // The end is not sent while its start is undelivered, however long that takes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = app
        .deliveries_for(&request)
        .await
        .into_iter()
        .find(|d| d["type"] == "billing.seat.end")
        .expect("an end");
    assert_eq!(
        (&end["status"], &end["attempts"]),
        (&json!("pending"), &json!(0)),
        "{end}"
    );
    assert_eq!(app.billing.hits(), 2, "only the two attempts of the start");

    // The receiver is back and the start is retried: the end follows it.
    app.billing.answer(204);
    app.post_json(
        &format!("/v1/webhook-deliveries/{}/retry", id_of(&start)),
        &world.platform_admin.token,
        &json!({}),
    )
    .await
    .expect(200);
    let delivered = || -> Vec<String> {
        calls_of(&app.billing, &grant_id)
            .iter()
            .filter(|c| c.answered == 204)
            .map(|c| c.json()["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    wait_for("the start, then the end", WAIT, async || delivered().len() >= 2).await;
    assert_eq!(delivered(), ["billing.seat.start", "billing.seat.end"]);
}
