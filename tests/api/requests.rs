//! Creating access requests: who may ask for whom, and every refusal.

use serde_json::json;

use crate::helpers::{
    display_name, id_of, request_path, spawn_app, spawn_app_with, Backend, CONFLUENCE, JIRA,
};

backend_tests!(
    outsider_creates_a_self_request,
    member_creates_on_behalf_requests,
    naming_oneself_as_subject_is_a_self_request,
    unverified_email_cannot_request,
    outsiders_cannot_request_on_behalf,
    external_requests_follow_rollout_and_opt_out,
    unknown_site_and_unknown_product_are_refused,
    unknown_on_behalf_subject_needs_an_email,
    pending_duplicates_are_refused,
    subject_with_the_product_is_refused,
    self_denial_blocks_until_unblocked,
    on_behalf_denial_blocks_nobody,
    invalid_bodies_are_refused,
    idempotency_key_replays_the_first_response,
    creation_rate_is_limited,
    pending_requests_per_requester_are_capped,
);

async fn outsider_creates_a_self_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;

    let response = app
        .create_request(
            &world.site_id,
            &world.outsider.token,
            &json!({"product_key": JIRA, "reason": "I run the sprint board"}),
        )
        .await;
    let location = response.header("location").expect("a Location").to_owned();
    assert_eq!(response.header("etag"), Some("\"1\""));
    let request = response.expect(201);
    let id = id_of(&request);
    assert!(
        location.ends_with(&request_path(&world.site_id, &id)),
        "{location}"
    );

    let outsider = json!({
        "account_id": "outsider",
        "email": "outsider@gmail.test",
        "display_name": display_name("outsider"),
        "on_site": false,
    });
    assert_eq!(request["site_id"], world.site_id.as_str());
    assert_eq!(request["product_key"], JIRA);
    assert_eq!(request["kind"], "self");
    assert_eq!(request["status"], "pending");
    assert_eq!(request["requester"], outsider);
    assert_eq!(request["subject"], outsider);
    assert_eq!(request["reason"], "I run the sprint board");
    assert!(request["created_at"].is_string());
    for undecided in ["decided_at", "decided_by", "decision_message"] {
        assert!(request[undecided].is_null(), "{undecided}: {request}");
    }
    assert_eq!(request["version"], 1);

    let read = app
        .get(&request_path(&world.site_id, &id), &world.outsider.token)
        .await
        .expect(200);
    assert_eq!(read, request);
}

async fn member_creates_on_behalf_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;

    // Someone the directory does not know.
    let body = json!({
        "product_key": JIRA,
        "subject": {"account_id": "newcomer", "email": "newcomer@acme.test", "display_name": "New Comer"},
    });
    let request = app
        .create_request(&world.site_id, &world.member.token, &body)
        .await
        .expect(201);
    assert_eq!(request["kind"], "on_behalf");
    assert_eq!(
        request["requester"],
        json!({"account_id": "member", "email": "member@acme.test", "display_name": display_name("member"), "on_site": true})
    );
    assert_eq!(
        request["subject"],
        json!({"account_id": "newcomer", "email": "newcomer@acme.test", "display_name": "New Comer", "on_site": false})
    );

    // A site user: the directory supplies the email.
    let body = json!({"product_key": CONFLUENCE, "subject": {"account_id": "site-admin"}});
    let request = app
        .create_request(&world.site_id, &world.member.token, &body)
        .await
        .expect(201);
    assert_eq!(request["kind"], "on_behalf");
    assert_eq!(request["subject"]["account_id"], "site-admin");
    assert_eq!(request["subject"]["email"], "site-admin@acme.test");
    assert_eq!(request["subject"]["on_site"], true);

    // Site users may ask on behalf of others even while external requests are off.
    app.set_rollout(&world.site_id, false).await;
    app.request_for(&world.site_id, &world.site_admin, "another", JIRA)
        .await;
}

async fn naming_oneself_as_subject_is_a_self_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let body = json!({"product_key": JIRA, "subject": {"account_id": "outsider"}});
    let request = app
        .create_request(&world.site_id, &world.outsider.token, &body)
        .await
        .expect(201);
    assert_eq!(request["kind"], "self");
    assert_eq!(request["subject"], request["requester"]);
}

async fn unverified_email_cannot_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    for who in [&world.outsider, &world.member] {
        let token = app.token_unverified(&who.id, &who.email);
        app.create_request(&world.site_id, &token, &json!({"product_key": JIRA}))
            .await
            .expect_problem(403, "email_not_verified");
    }
    assert!(app
        .list_requests(&world.site_id, &world.site_admin, &[])
        .await
        .is_empty());
}

async fn outsiders_cannot_request_on_behalf(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let body =
        json!({"product_key": JIRA, "subject": {"account_id": "friend", "email": "friend@gmail.test"}});
    app.create_request(&world.site_id, &world.outsider.token, &body)
        .await
        .expect_problem(403, "on_behalf_requires_site_user");
}

async fn external_requests_follow_rollout_and_opt_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let jira = json!({"product_key": JIRA});

    app.set_rollout(&world.site_id, false).await;
    app.create_request(&world.site_id, &world.outsider.token, &jira)
        .await
        .expect_problem(403, "external_requests_disabled");

    app.set_rollout(&world.site_id, true).await;
    app.set_opted_out(&world.site_id, &world.site_admin, true).await;
    app.create_request(&world.site_id, &world.outsider.token, &jira)
        .await
        .expect_problem(403, "external_requests_disabled");
    // Site users still ask for themselves.
    app.request_self(&world.site_id, &world.member, JIRA).await;

    app.set_opted_out(&world.site_id, &world.site_admin, false).await;
    app.request_self(&world.site_id, &world.outsider, JIRA).await;
}

async fn unknown_site_and_unknown_product_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let unknown_site = uuid::Uuid::new_v4().to_string();
    app.create_request(&unknown_site, &world.member.token, &json!({"product_key": JIRA}))
        .await
        .expect_problem(404, "not_found");
    app.create_request(
        &world.site_id,
        &world.member.token,
        &json!({"product_key": "bamboo"}),
    )
    .await
    .expect_problem(422, "unknown_product");
}

async fn unknown_on_behalf_subject_needs_an_email(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let response = app
        .create_request(
            &world.site_id,
            &world.member.token,
            &json!({"product_key": JIRA, "subject": {"account_id": "stranger"}}),
        )
        .await;
    response.expect_problem(422, "validation_failed");
    assert_eq!(response.error_fields(), ["subject.email"]);
    assert!(app
        .list_requests(&world.site_id, &world.site_admin, &[])
        .await
        .is_empty());
}

async fn pending_duplicates_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let first = app.request_self(&world.site_id, &world.outsider, JIRA).await;

    for (who, body) in [
        (&world.outsider, json!({"product_key": JIRA})),
        (
            &world.member,
            json!({"product_key": JIRA, "subject": {"account_id": "outsider", "email": "outsider@gmail.test"}}),
        ),
    ] {
        let response = app.create_request(&world.site_id, &who.token, &body).await;
        let problem = response.expect_problem(409, "duplicate_request");
        assert_eq!(problem["existing_request_id"], id_of(&first).as_str());
    }

    // Another product, or the same product once the first is decided, is fine.
    app.request_self(&world.site_id, &world.outsider, CONFLUENCE)
        .await;
    app.cancel(&world.site_id, &id_of(&first), &world.outsider)
        .await
        .expect(200);
    app.request_self(&world.site_id, &world.outsider, JIRA).await;
}

async fn subject_with_the_product_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    app.put_site_user(
        &world.site_id,
        &world.site_admin,
        &world.member,
        "member",
        &[JIRA],
    )
    .await
    .expect(200);

    app.create_request(&world.site_id, &world.member.token, &json!({"product_key": JIRA}))
        .await
        .expect_problem(409, "already_has_access");
    let on_behalf = json!({"product_key": JIRA, "subject": {"account_id": "member"}});
    app.create_request(&world.site_id, &world.site_admin.token, &on_behalf)
        .await
        .expect_problem(409, "already_has_access");
}

async fn self_denial_blocks_until_unblocked(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let request = app.request_self(&world.site_id, &world.outsider, JIRA).await;
    app.deny(&world.site_id, &id_of(&request), &world.site_admin, None)
        .await;

    for product in [JIRA, CONFLUENCE] {
        app.create_request(
            &world.site_id,
            &world.outsider.token,
            &json!({"product_key": product}),
        )
        .await
        .expect_problem(403, "requester_blocked");
    }

    let blocks_path = format!("/v1/sites/{}/request-blocks", world.site_id);
    let blocks = app.get(&blocks_path, &world.site_admin.token).await.expect(200);
    let items = blocks["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{blocks}");
    assert_eq!(items[0]["site_id"], world.site_id.as_str());
    assert_eq!(items[0]["account_id"], "outsider");
    assert_eq!(items[0]["email"], "outsider@gmail.test");
    assert_eq!(items[0]["request_id"], id_of(&request).as_str());
    assert_eq!(items[0]["blocked_by"], "site-admin");
    assert!(items[0]["created_at"].is_string());

    let block_path = format!("{blocks_path}/outsider");
    app.delete(&block_path, &world.org_admin.token).await.expect(204);
    app.delete(&block_path, &world.org_admin.token)
        .await
        .expect_problem(404, "not_found");
    let blocks = app.get(&blocks_path, &world.site_admin.token).await.expect(200);
    assert_eq!(blocks["items"], json!([]));
    app.request_self(&world.site_id, &world.outsider, JIRA).await;
}

async fn on_behalf_denial_blocks_nobody(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let body =
        json!({"product_key": JIRA, "subject": {"account_id": "outsider", "email": "outsider@gmail.test"}});
    let request = app
        .create_request(&world.site_id, &world.member.token, &body)
        .await
        .expect(201);
    app.deny(
        &world.site_id,
        &id_of(&request),
        &world.site_admin,
        Some("not now"),
    )
    .await;

    let blocks = app
        .get(
            &format!("/v1/sites/{}/request-blocks", world.site_id),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(blocks["items"], json!([]));
    app.request_self(&world.site_id, &world.outsider, JIRA).await;
    app.request_for(&world.site_id, &world.member, "someone-else", JIRA)
        .await;
}

async fn invalid_bodies_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let token = &world.member.token;

    let long_reason = json!({"product_key": JIRA, "reason": "x".repeat(501)});
    let response = app.create_request(&world.site_id, token, &long_reason).await;
    response.expect_problem(422, "validation_failed");
    assert_eq!(response.error_fields(), ["reason"]);
    let longest = json!({"product_key": JIRA, "reason": "x".repeat(500)});
    app.create_request(&world.site_id, token, &longest)
        .await
        .expect(201);

    for bad in [
        json!({"product_key": CONFLUENCE, "priority": "high"}),
        json!({"product_key": CONFLUENCE, "subject": {"account_id": "x", "email": "x@acme.test", "age": 3}}),
        json!({"product_key": 7}),
        json!(["product_key"]),
    ] {
        app.create_request(&world.site_id, token, &bad)
            .await
            .expect_problem(400, "bad_request");
    }
    assert_eq!(
        app.list_requests(&world.site_id, &world.site_admin, &[])
            .await
            .len(),
        1
    );
}

async fn idempotency_key_replays_the_first_response(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let path = crate::helpers::requests_path(&world.site_id);
    let body = json!({"product_key": JIRA, "reason": "first"});
    let key = [("Idempotency-Key", "create-jira-7f3a")];
    let post = async |token: &str, body: &serde_json::Value| {
        app.send(reqwest::Method::POST, &path, Some(token), Some(body), &key)
            .await
    };

    let first = post(&world.outsider.token, &body).await;
    let first_location = first.header("location").map(str::to_owned);
    let first_body = first.expect(201);
    let again = post(&world.outsider.token, &body).await;
    assert_eq!(again.header("location").map(str::to_owned), first_location);
    assert_eq!(again.expect(201), first_body);

    post(
        &world.outsider.token,
        &json!({"product_key": JIRA, "reason": "second"}),
    )
    .await
    .expect_problem(409, "idempotency_key_reused");

    let too_long = "k".repeat(256);
    for bad_key in [too_long.as_str(), "with space", "caf\u{e9}"] {
        let response = app
            .send(
                reqwest::Method::POST,
                &path,
                Some(&world.outsider.token),
                Some(&body),
                &[("Idempotency-Key", bad_key)],
            )
            .await;
        response.expect_problem(400, "bad_request");
    }

    // The key belongs to its caller.
    let other = post(&world.member.token, &body).await.expect(201);
    assert_ne!(id_of(&other), id_of(&first_body));

    let listed = app.list_requests(&world.site_id, &world.site_admin, &[]).await;
    assert_eq!(listed.len(), 2);
}

async fn creation_rate_is_limited(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.rate_limit_create_per_minute = 2).await;
    let world = app.world().await;
    app.request_for(&world.site_id, &world.member, "first", JIRA)
        .await;
    app.request_for(&world.site_id, &world.member, "second", JIRA)
        .await;

    let body = json!({"product_key": JIRA, "subject": {"account_id": "third", "email": "third@acme.test"}});
    let refused = app
        .create_request(&world.site_id, &world.member.token, &body)
        .await;
    refused.expect_problem(429, "rate_limited");
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("a Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");

    // Nothing was created by the refusal, and the limit is per requester.
    let listed = app.list_requests(&world.site_id, &world.site_admin, &[]).await;
    assert_eq!(listed.len(), 2);
    let created = app
        .audit_events(&world.site_id, &world.site_admin, None)
        .await
        .into_iter()
        .filter(|e| e["action"] == "access_request.created")
        .count();
    assert_eq!(created, 2);
    app.create_request(&world.site_id, &world.site_admin.token, &body)
        .await
        .expect(201);
}

async fn pending_requests_per_requester_are_capped(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.max_pending_per_requester = 2;
        s.rate_limit_create_per_minute = 0;
    })
    .await;
    let world = app.world().await;
    let first = app
        .request_for(&world.site_id, &world.member, "first", JIRA)
        .await;
    app.request_for(&world.site_id, &world.member, "second", JIRA)
        .await;

    let third = json!({"product_key": JIRA, "subject": {"account_id": "third", "email": "third@acme.test"}});
    app.create_request(&world.site_id, &world.member.token, &third)
        .await
        .expect_problem(429, "rate_limited");
    assert_eq!(
        app.list_requests(&world.site_id, &world.site_admin, &[])
            .await
            .len(),
        2
    );

    // Another requester has their own allowance; a decided request frees a slot.
    app.request_for(&world.site_id, &world.site_admin, "fourth", JIRA)
        .await;
    app.cancel(&world.site_id, &id_of(&first), &world.member)
        .await
        .expect(200);
    app.create_request(&world.site_id, &world.member.token, &third)
        .await
        .expect(201);
}
