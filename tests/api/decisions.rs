//! Approve, deny and cancel: state changes, grants, webhooks and conflicts.

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    id_of, request_path, spawn_app, Backend, CONFLUENCE, CONFLUENCE_GROUP, JIRA, JIRA_GROUP,
};

backend_tests!(
    approval_grants_the_product_and_sends_webhooks,
    approval_keeps_an_existing_role,
    approving_a_subject_who_has_the_product_sends_no_grant_webhooks,
    billing_starts_once_per_site_product_and_account,
    denial_with_message_notifies_and_shows_in_me,
    cancel_is_for_the_requester_while_pending,
    decided_requests_are_not_pending,
    if_match_guards_against_stale_decisions,
    concurrent_decisions_have_one_winner,
    decisions_accept_an_empty_body,
    unknown_sites_and_requests_are_refused_in_order,
);

fn targets(deliveries: &[Value]) -> Vec<&str> {
    let mut targets: Vec<&str> = deliveries.iter().filter_map(|d| d["target"].as_str()).collect();
    targets.sort_unstable();
    targets
}

async fn approval_grants_the_product_and_sends_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let request = app.request_self(site, &world.outsider, JIRA).await;
    let id = id_of(&request);

    let response = app.act(site, &id, "approve", &world.site_admin, &json!({})).await;
    assert_eq!(response.header("etag"), Some("\"2\""));
    let approved = response.expect(200);
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "site-admin");
    assert!(approved["decided_at"].is_string());
    assert!(approved["decision_message"].is_null());
    assert_eq!(approved["version"], 2);
    assert_eq!(approved["created_at"], request["created_at"]);
    assert!(
        approved["expires_at"].is_null(),
        "a decided request no longer expires"
    );
    let grant_id = approved["grant_id"]
        .as_str()
        .expect("the approval's grant")
        .to_owned();

    // The subject became a member with the product.
    let user = app
        .get_site_user(site, &world.site_admin, "outsider")
        .await
        .expect(200);
    assert_eq!(user["role"], "member");
    assert_eq!(user["products"], json!([JIRA]));
    assert_eq!(user["email"], "outsider@gmail.test");

    let group = app.group.wait_for_calls(&id, 1).await;
    let body = group[0].json();
    assert_eq!(body["type"], "group.member.add");
    assert_eq!(
        body["data"],
        json!({
            "grant_id": grant_id,
            "request_id": id,
            "org_id": world.org_id,
            "site_id": site,
            "product_key": JIRA,
            "group": JIRA_GROUP,
            "account_id": "outsider",
            "email": "outsider@gmail.test",
            "email_verified": true,
            "expires_at": null,
        })
    );

    let billing = app.billing.wait_for_calls(&id, 1).await;
    let body = billing[0].json();
    assert_eq!(body["type"], "billing.seat.start");
    let data = &body["data"];
    assert_eq!(
        (&data["request_id"], &data["org_id"], &data["site_id"]),
        (&json!(id), &json!(world.org_id), &json!(site))
    );
    assert_eq!(
        (&data["grant_id"], &data["expires_at"]),
        (&json!(grant_id), &Value::Null)
    );
    assert_eq!(
        (&data["product_key"], &data["account_id"]),
        (&json!(JIRA), &json!("outsider"))
    );
    let started_at = data["started_at"].as_str().expect("started_at");
    chrono::DateTime::parse_from_rfc3339(started_at).expect("an RFC 3339 started_at");

    let notification = app.notification.wait_for_calls(&id, 1).await;
    let body = notification[0].json();
    assert_eq!(body["type"], "access_request.decided");
    assert_eq!(
        body["data"],
        json!({
            "request_id": id,
            "site_id": site,
            "product_key": JIRA,
            "status": "approved",
            "message": null,
            "requester_account_id": "outsider",
            "subject_account_id": "outsider",
        })
    );

    let deliveries = app.wait_delivered(&id, 3).await;
    assert_eq!(targets(&deliveries), ["billing", "group", "notification"]);
    for delivery in &deliveries {
        assert_eq!(delivery["attempts"], 1, "{delivery}");
    }

    // Someone not on the site, named on behalf: added with the email given.
    let carol = app.request_for(site, &world.member, "carol", CONFLUENCE).await;
    app.approve(site, &id_of(&carol), &world.org_admin).await;
    let user = app
        .get_site_user(site, &world.org_admin, "carol")
        .await
        .expect(200);
    assert_eq!(user["email"], "carol@elsewhere.test");
    assert_eq!(user["products"], json!([CONFLUENCE]));
    let group = app.group.wait_for_calls(&id_of(&carol), 1).await;
    assert_eq!(group[0].json()["data"]["group"], CONFLUENCE_GROUP);
    assert_eq!(group[0].json()["data"]["email"], "carol@elsewhere.test");
    // Carol's email came from the requester: nobody has proven it.
    assert_eq!(group[0].json()["data"]["email_verified"], false);
    let notification = app.notification.wait_for_calls(&id_of(&carol), 1).await;
    assert_eq!(notification[0].json()["data"]["requester_account_id"], "member");
    assert_eq!(notification[0].json()["data"]["subject_account_id"], "carol");
}

async fn approval_keeps_an_existing_role(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let request = app.request_self(&world.site_id, &world.site_admin, JIRA).await;
    app.approve(&world.site_id, &id_of(&request), &world.org_admin)
        .await;
    let user = app
        .get_site_user(&world.site_id, &world.org_admin, "site-admin")
        .await
        .expect(200);
    assert_eq!(user["role"], "admin");
    assert_eq!(user["products"], json!([JIRA]));
}

async fn approving_a_subject_who_has_the_product_sends_no_grant_webhooks(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let request = app.request_self(&world.site_id, &world.member, JIRA).await;
    let id = id_of(&request);
    // The directory sync grants the product meanwhile (and sends nothing itself).
    app.put_site_user(
        &world.site_id,
        &world.site_admin,
        &world.member,
        "member",
        &[JIRA],
    )
    .await
    .expect(200);

    let approved = app.approve(&world.site_id, &id, &world.site_admin).await;
    assert_eq!(approved["status"], "approved");
    app.notification.wait_for_calls(&id, 1).await;
    let deliveries = app.wait_delivered(&id, 1).await;
    assert_eq!(targets(&deliveries), ["notification"]);
    assert!(app.group.calls().is_empty());
    assert!(app.billing.calls().is_empty());
}

async fn billing_starts_once_per_site_product_and_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let alice = app.actor("alice", "alice@elsewhere.test");

    let first = id_of(&app.request_for(site, &world.member, "alice", JIRA).await);
    let first_grant = app.approve(site, &first, &world.site_admin).await["grant_id"].clone();
    assert_eq!(
        targets(&app.wait_delivered(&first, 3).await),
        ["billing", "group", "notification"]
    );

    // The directory takes the product away: the grant ends, with its end webhooks.
    app.put_site_user(site, &world.site_admin, &alice, "member", &[])
        .await
        .expect(200);
    assert_eq!(
        targets(&app.wait_delivered(&first, 6).await),
        [
            "billing",
            "billing",
            "group",
            "group",
            "notification",
            "notification"
        ]
    );
    // Requested and granted again: a second grant, billed again.
    let second = id_of(&app.request_for(site, &world.member, "alice", JIRA).await);
    let second_grant = app.approve(site, &second, &world.site_admin).await["grant_id"].clone();
    assert_ne!(first_grant, second_grant);
    assert_eq!(
        targets(&app.wait_delivered(&second, 3).await),
        ["billing", "group", "notification"]
    );
    let billing: Vec<(String, Value)> = app
        .billing
        .calls()
        .iter()
        .map(|call| {
            let body = call.json();
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["data"]["grant_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        billing,
        [
            ("billing.seat.start".to_owned(), first_grant.clone()),
            ("billing.seat.end".to_owned(), first_grant),
            ("billing.seat.start".to_owned(), second_grant),
        ]
    );
}

async fn denial_with_message_notifies_and_shows_in_me(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let request = app.request_for(site, &world.member, "dave", CONFLUENCE).await;
    let id = id_of(&request);

    let too_long = app
        .act(
            site,
            &id,
            "deny",
            &world.site_admin,
            &json!({"message": "x".repeat(501)}),
        )
        .await;
    too_long.expect_problem(422, "validation_failed");
    assert_eq!(too_long.error_fields(), ["message"]);

    let denied = app
        .deny(site, &id, &world.site_admin, Some("Ask your manager first"))
        .await;
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decision_message"], "Ask your manager first");
    assert_eq!(denied["decided_by"], "site-admin");
    assert_eq!(denied["version"], 2);

    let notification = app.notification.wait_for_calls(&id, 1).await;
    assert_eq!(
        notification[0].json()["data"],
        json!({
            "request_id": id,
            "site_id": site,
            "product_key": CONFLUENCE,
            "status": "denied",
            "message": "Ask your manager first",
            "requester_account_id": "member",
            "subject_account_id": "dave",
        })
    );
    assert_eq!(targets(&app.wait_delivered(&id, 1).await), ["notification"]);
    app.get_site_user(site, &world.site_admin, "dave")
        .await
        .expect_problem(404, "not_found");

    let mine = app
        .get("/v1/me/access-requests", &world.member.token)
        .await
        .expect(200);
    assert_eq!(mine["items"][0]["id"], id.as_str());
    assert_eq!(mine["items"][0]["status"], "denied");
    assert_eq!(mine["items"][0]["decision_message"], "Ask your manager first");
}

async fn cancel_is_for_the_requester_while_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let subject = app.actor("subject", "subject@acme.test");
    let request = app.request_for(site, &world.member, "subject", JIRA).await;
    let id = id_of(&request);

    for reader in [&world.site_admin, &world.org_admin, &subject] {
        app.cancel(site, &id, reader)
            .await
            .expect_problem(403, "forbidden");
    }
    app.cancel(site, &id, &world.outsider)
        .await
        .expect_problem(404, "not_found");

    let cancelled = app.cancel(site, &id, &world.member).await.expect(200);
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["version"], 2);
    app.cancel(site, &id, &world.member)
        .await
        .expect_problem(409, "not_pending");
    app.act(site, &id, "approve", &world.site_admin, &json!({}))
        .await
        .expect_problem(409, "not_pending");

    assert!(app.deliveries_for(&id).await.is_empty());
    let read = app
        .get(&request_path(site, &id), &world.member.token)
        .await
        .expect(200);
    assert_eq!(read["status"], "cancelled");
}

async fn decided_requests_are_not_pending(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let approved = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    app.approve(site, &approved, &world.site_admin).await;
    let denied = id_of(&app.request_for(site, &world.member, "eve", JIRA).await);
    app.deny(site, &denied, &world.site_admin, None).await;

    for id in [&approved, &denied] {
        for action in ["approve", "deny"] {
            app.act(site, id, action, &world.org_admin, &json!({}))
                .await
                .expect_problem(409, "not_pending");
        }
    }
    app.cancel(site, &approved, &world.outsider)
        .await
        .expect_problem(409, "not_pending");
    app.cancel(site, &denied, &world.member)
        .await
        .expect_problem(409, "not_pending");
}

async fn if_match_guards_against_stale_decisions(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let id = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    let path = |action: &str| format!("{}/{action}", request_path(site, &id));
    let token = Some(world.site_admin.token.as_str());
    let body = json!({});

    for stale in ["7", "\"7\"", "W/\"7\""] {
        app.send(
            Method::POST,
            &path("approve"),
            token,
            Some(&body),
            &[("If-Match", stale)],
        )
        .await
        .expect_problem(412, "precondition_failed");
    }
    let unchanged = app
        .get(&request_path(site, &id), &world.outsider.token)
        .await
        .expect(200);
    assert_eq!(
        (&unchanged["status"], &unchanged["version"]),
        (&json!("pending"), &json!(1))
    );

    let approved = app
        .send(
            Method::POST,
            &path("approve"),
            token,
            Some(&body),
            &[("If-Match", "W/\"1\"")],
        )
        .await
        .expect(200);
    assert_eq!(approved["version"], 2);

    // No longer pending: 409 wins over a stale or a current version.
    for version in ["1", "\"2\""] {
        app.send(
            Method::POST,
            &path("deny"),
            token,
            Some(&body),
            &[("If-Match", version)],
        )
        .await
        .expect_problem(409, "not_pending");
    }
}

async fn concurrent_decisions_have_one_winner(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let id = id_of(&app.request_self(site, &world.outsider, JIRA).await);

    let empty = json!({});
    let attempts = (0..10).map(|n| {
        let action = if n % 2 == 0 { "approve" } else { "deny" };
        let admin = if n % 3 == 0 {
            &world.org_admin
        } else {
            &world.site_admin
        };
        app.act(site, &id, action, admin, &empty)
    });
    let responses = join_all(attempts).await;
    let winners: Vec<&Value> = responses
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| &r.body)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for loser in responses.iter().filter(|r| r.status != 200) {
        loser.expect_problem(409, "not_pending");
    }

    let status = winners[0]["status"].as_str().expect("a status").to_owned();
    let read = app
        .get(&request_path(site, &id), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(read["status"], status.as_str());
    assert_eq!(read["version"], 2);

    let decided = app
        .audit_events(site, &world.site_admin, Some(&id))
        .await
        .into_iter()
        .filter(|e| e["action"] == "access_request.approved" || e["action"] == "access_request.denied")
        .count();
    assert_eq!(decided, 1);
    let expected: &[&str] = if status == "approved" {
        &["billing", "group", "notification"]
    } else {
        &["notification"]
    };
    assert_eq!(targets(&app.wait_delivered(&id, expected.len()).await), expected);
}

async fn decisions_accept_an_empty_body(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let token = Some(world.site_admin.token.as_str());
    for (product, action, status) in [(JIRA, "approve", "approved"), (CONFLUENCE, "deny", "denied")] {
        let id = id_of(&app.request_for(site, &world.member, "frank", product).await);
        let path = format!("{}/{action}", request_path(site, &id));
        let decided = app.send(Method::POST, &path, token, None, &[]).await.expect(200);
        assert_eq!(decided["status"], status);
    }
    let id = id_of(&app.request_for(site, &world.member, "grace", JIRA).await);
    let path = format!("{}/cancel", request_path(site, &id));
    let cancelled = app
        .send(Method::POST, &path, Some(&world.member.token), None, &[])
        .await
        .expect(200);
    assert_eq!(cancelled["status"], "cancelled");
}

/// A decision reads the request and the caller's standing in one query; when there is no such
/// request, an unknown site is `404`, a caller who is no admin `403`, and an admin's unknown
/// request `404`, and nothing changes.
async fn unknown_sites_and_requests_are_refused_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let pending = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    let unknown = uuid::Uuid::new_v4().to_string();
    for action in ["approve", "deny"] {
        let cases = [
            (&unknown, &pending, &world.site_admin, 404, "the site"),
            (site, &unknown, &world.site_admin, 404, "the access request"),
            (site, &unknown, &world.org_admin, 404, "the access request"),
            (site, &unknown, &world.member, 403, ""),
            (site, &pending, &world.member, 403, ""),
            (site, &pending, &world.outsider, 403, ""),
        ];
        for (site_id, request_id, who, status, what) in cases {
            let response = app.act(site_id, request_id, action, who, &json!({})).await;
            let code = if status == 404 { "not_found" } else { "forbidden" };
            let problem = response.expect_problem(status, code);
            let detail = problem["detail"].as_str().unwrap_or_default();
            assert!(detail.contains(what), "{action} by {}: {detail}", who.id);
        }
    }
    let request = app
        .get(&request_path(site, &pending), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(request["status"], "pending");
    assert_eq!(request["version"], 1);
}
