//! Reading access requests: lists, filters, pages, one request, the review
//! view and `/v1/me/access-requests`.

use serde_json::{json, Value};

use crate::helpers::{
    id_of, ids, request_path, requests_path, spawn_app, with_query, Backend, CONFLUENCE, JIRA,
};

backend_tests!(
    list_filters_select_the_right_requests,
    list_pages_walk_every_request_once_newest_first,
    list_query_parameters_are_validated,
    one_request_is_visible_to_its_parties_and_admins,
    review_shows_what_helps_to_decide,
    typed_emails_are_never_trusted,
    me_lists_requests_as_requester_or_subject,
);

/// Query pairs of a list call.
type Filters<'a> = &'a [(&'a str, &'a str)];

async fn list_filters_select_the_right_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let r1 = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    let r2 = id_of(&app.request_for(site, &world.member, "alice", JIRA).await);
    app.approve(site, &r2, &world.site_admin).await;
    let r3 = id_of(&app.request_for(site, &world.member, "bob", CONFLUENCE).await);
    app.deny(site, &r3, &world.site_admin, None).await;
    let r4 = id_of(&app.request_self(site, &world.site_admin, CONFLUENCE).await);
    let r5 = id_of(&app.request_self(site, &world.outsider, CONFLUENCE).await);
    let r6 = id_of(&app.request_for(site, &world.member, "carol", CONFLUENCE).await);
    app.cancel(site, &r6, &world.member).await.expect(200);

    let cases: [(Filters, Vec<&String>); 14] = [
        (&[], vec![&r6, &r5, &r4, &r3, &r2, &r1]),
        (&[("status", "pending")], vec![&r5, &r4, &r1]),
        (&[("status", "approved")], vec![&r2]),
        (&[("status", "denied")], vec![&r3]),
        (&[("status", "cancelled")], vec![&r6]),
        (&[("product_key", JIRA)], vec![&r2, &r1]),
        (&[("product_key", "no-such-product")], vec![]),
        (&[("kind", "self")], vec![&r5, &r4, &r1]),
        (&[("kind", "on_behalf")], vec![&r6, &r3, &r2]),
        (&[("requester", "member")], vec![&r6, &r3, &r2]),
        (&[("requester", "outsider")], vec![&r5, &r1]),
        (&[("subject", "alice")], vec![&r2]),
        (&[("subject", "outsider")], vec![&r5, &r1]),
        (
            &[
                ("status", "pending"),
                ("requester", "outsider"),
                ("product_key", CONFLUENCE),
            ],
            vec![&r5],
        ),
    ];
    for (filters, expected) in cases {
        for admin in [&world.site_admin, &world.org_admin] {
            let listed = ids(&app.list_requests(site, admin, filters).await);
            assert_eq!(
                listed.iter().collect::<Vec<_>>(),
                expected,
                "{filters:?} as {}",
                admin.id
            );
        }
    }
}

async fn list_pages_walk_every_request_once_newest_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let mut created = Vec::new();
    for n in 0..7 {
        let request = app
            .request_for(site, &world.member, &format!("subject-{n}"), JIRA)
            .await;
        created.push(id_of(&request));
    }
    created.reverse();

    // The default page holds them all.
    let first_page = app
        .get(&requests_path(site), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(ids(first_page["items"].as_array().expect("items")), created);
    assert!(first_page["next_cursor"].is_null());

    for limit in [1, 2, 3, 7, 200] {
        let walked = app
            .collect_pages(&requests_path(site), &world.site_admin.token, limit)
            .await;
        assert_eq!(ids(&walked), created, "limit {limit}");
    }
    let pending = with_query(&requests_path(site), &[("status", "pending")]);
    let walked = app.collect_pages(&pending, &world.org_admin.token, 2).await;
    assert_eq!(ids(&walked), created);

    // A request made while paging shows up on no later page of the walk.
    let page = app
        .get(
            &with_query(&requests_path(site), &[("limit", "3")]),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    let cursor = page["next_cursor"].as_str().expect("more pages").to_owned();
    app.request_for(site, &world.member, "late", JIRA).await;
    let rest = app
        .collect_pages(
            &with_query(&requests_path(site), &[("cursor", &cursor)]),
            &world.site_admin.token,
            200,
        )
        .await;
    assert_eq!(ids(&rest), created[3..]);
}

async fn list_query_parameters_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let token = &world.site_admin.token;
    let path = requests_path(&world.site_id);

    for limit in ["0", "201"] {
        let response = app.get(&with_query(&path, &[("limit", limit)]), token).await;
        response.expect_problem(422, "validation_failed");
        assert_eq!(response.error_fields(), ["limit"], "limit={limit}");
    }
    for bad in [
        [("limit", "abc")],
        [("status", "bogus")],
        [("kind", "everyone")],
        [("cursor", "not-a-cursor")],
    ] {
        app.get(&with_query(&path, &bad), token)
            .await
            .expect_problem(400, "bad_request");
    }
    for good in ["1", "200"] {
        app.get(&with_query(&path, &[("limit", good)]), token)
            .await
            .expect(200);
    }
}

async fn one_request_is_visible_to_its_parties_and_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let subject = app.actor("subject", "subject@acme.test");
    let stranger = app.actor("stranger", "stranger@gmail.test");
    let request = app
        .request_for(&world.site_id, &world.member, "subject", JIRA)
        .await;
    let path = request_path(&world.site_id, &id_of(&request));

    for reader in [&world.member, &subject, &world.site_admin, &world.org_admin] {
        let response = app.get(&path, &reader.token).await;
        assert_eq!(response.header("etag"), Some("\"1\""));
        assert_eq!(response.expect(200), request, "as {}", reader.id);
    }
    for outsider in [&stranger, &world.outsider, &world.platform_admin] {
        app.get(&path, &outsider.token)
            .await
            .expect_problem(404, "not_found");
    }

    // The same id under another site of the same org is not found, even for its org admin.
    let other_site = app.add_site(&world.org_id, &world.org_admin, "Beta Cloud").await;
    app.get(
        &request_path(&other_site, &id_of(&request)),
        &world.org_admin.token,
    )
    .await
    .expect_problem(404, "not_found");
    let unknown = uuid::Uuid::new_v4().to_string();
    app.get(&request_path(&world.site_id, &unknown), &world.org_admin.token)
        .await
        .expect_problem(404, "not_found");
    app.get(
        &request_path(&world.site_id, "not-a-uuid"),
        &world.org_admin.token,
    )
    .await
    .expect_problem(404, "not_found");
}

async fn review_shows_what_helps_to_decide(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let dana = app.actor("dana", "dana@acme.test");
    let on_behalf_of_dana = |product: &str| json!({"product_key": product, "subject": {"account_id": "dana", "email": dana.email}});

    // Dana's history: one approval, one denial (on-behalf denials block nobody).
    let approved = app
        .create_request(site, &world.member.token, &on_behalf_of_dana(CONFLUENCE))
        .await
        .expect(201);
    app.approve(site, &id_of(&approved), &world.site_admin).await;
    let denied = app
        .create_request(site, &world.member.token, &on_behalf_of_dana(JIRA))
        .await
        .expect(201);
    app.deny(site, &id_of(&denied), &world.site_admin, None).await;
    let pending = app
        .create_request(site, &world.member.token, &on_behalf_of_dana(JIRA))
        .await
        .expect(201);

    let review_path = |id: &str| format!("{}/review", request_path(site, id));
    let review = app
        .get(&review_path(&id_of(&pending)), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(review["request"], pending);
    assert_eq!(
        review["requester"],
        json!({
            "account_id": "member",
            "email": "member@acme.test",
            "email_verified": true,
            "display_name": "Name of member",
            "on_site": true,
            "role": "member",
            "products": [],
            "blocked": false,
            "email_domain_verified_by_org": true,
            "previous_requests": {"total": 0, "approved": 0, "denied": 0},
        })
    );
    let subject = &review["subject"];
    assert_eq!(subject["account_id"], "dana");
    assert_eq!(subject["email"], "dana@acme.test");
    // Dana joined the site by an approval, with the email the member typed: still unproven.
    assert_eq!(subject["email_verified"], false, "{subject}");
    assert_eq!(subject["on_site"], true);
    assert_eq!(subject["role"], "member");
    assert_eq!(subject["products"], json!([CONFLUENCE]));
    assert_eq!(subject["blocked"], false);
    assert_eq!(subject["email_domain_verified_by_org"], false);
    assert_eq!(
        review["product"],
        json!({"product_key": JIRA, "name": "Product jira-software", "seat_limit": null, "seats_used": 0, "max_duration_hours": null})
    );
    assert_eq!(
        subject["previous_requests"],
        json!({"total": 2, "approved": 1, "denied": 1})
    );

    // A stranger from an unverified domain, blocked after a self denial.
    let first = app.request_self(site, &world.outsider, JIRA).await;
    app.deny(site, &id_of(&first), &world.site_admin, None).await;
    let for_outsider = app
        .create_request(
            site,
            &world.member.token,
            &json!({"product_key": CONFLUENCE, "subject": {"account_id": "outsider", "email": "outsider@gmail.test"}}),
        )
        .await
        .expect(201);
    let review = app
        .get(&review_path(&id_of(&for_outsider)), &world.org_admin.token)
        .await
        .expect(200);
    let subject: &Value = &review["subject"];
    assert_eq!(subject["email"], "outsider@gmail.test");
    assert_eq!(subject["on_site"], false);
    assert!(subject["role"].is_null(), "{subject}");
    assert_eq!(subject["products"], json!([]));
    assert_eq!(subject["blocked"], true);
    assert_eq!(subject["email_domain_verified_by_org"], false);
    assert_eq!(
        subject["previous_requests"],
        json!({"total": 1, "approved": 0, "denied": 1})
    );

    // A self request: the requester's verified email is known for the subject too.
    let own = app.request_self(site, &world.site_admin, JIRA).await;
    let review = app
        .get(&review_path(&id_of(&own)), &world.org_admin.token)
        .await
        .expect(200);
    assert_eq!(review["subject"]["email_verified"], true);
    assert_eq!(review["subject"]["role"], "admin");
    assert_eq!(review["requester"], review["subject"]);

    app.get(&review_path(&id_of(&own)), &world.member.token)
        .await
        .expect_problem(403, "forbidden");
}

async fn me_lists_requests_as_requester_or_subject(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let other_site = app.add_site(&world.org_id, &world.org_admin, "Beta Cloud").await;

    let own = id_of(&app.request_self(site, &world.outsider, JIRA).await);
    let for_outsider = app
        .create_request(
            site,
            &world.member.token,
            &json!({"product_key": CONFLUENCE, "subject": {"account_id": "outsider", "email": "outsider@gmail.test"}}),
        )
        .await
        .expect(201);
    let elsewhere = id_of(&app.request_self(&other_site, &world.outsider, JIRA).await);
    let not_theirs = id_of(&app.request_for(site, &world.member, "someone", JIRA).await);
    app.deny(
        site,
        &id_of(&for_outsider),
        &world.site_admin,
        Some("Ask your lead"),
    )
    .await;

    let mine = app
        .collect_pages("/v1/me/access-requests", &world.outsider.token, 1)
        .await;
    assert_eq!(ids(&mine), [elsewhere.clone(), id_of(&for_outsider), own.clone()]);
    let denied = &mine[1];
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decision_message"], "Ask your lead");

    let members = app
        .collect_pages("/v1/me/access-requests", &world.member.token, 200)
        .await;
    assert_eq!(ids(&members), [not_theirs, id_of(&for_outsider)]);

    let nobody = app
        .get("/v1/me/access-requests", &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(nobody["items"], json!([]));
    assert!(nobody["next_cursor"].is_null());
}

/// An on-behalf request names someone by an email the requester typed: the review and the
/// webhooks never present it as verified, nor its domain as the org's (issue: an attacker's
/// account shown as `ceo@` of the org's verified domain, and bound to it downstream).
async fn typed_emails_are_never_trusted(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let body =
        json!({"product_key": JIRA, "subject": {"account_id": "attacker-acct", "email": "ceo@acme.test"}});
    let request = app
        .create_request(site, &world.member.token, &body)
        .await
        .expect(201);
    let review_path = format!("{}/review", request_path(site, &id_of(&request)));
    let review = app.get(&review_path, &world.site_admin.token).await.expect(200);
    assert_eq!(review["subject"]["email"], "ceo@acme.test");
    assert_eq!(review["subject"]["email_verified"], false);
    assert_eq!(review["subject"]["email_domain_verified_by_org"], false);

    app.approve(site, &id_of(&request), &world.site_admin).await;
    let group = app.group.wait_for_calls(&id_of(&request), 1).await;
    assert_eq!(group[0].json()["data"]["email"], "ceo@acme.test");
    assert_eq!(group[0].json()["data"]["email_verified"], false);

    // Now a site user by that approval, the account's email is still the typed one.
    let again = json!({"product_key": CONFLUENCE, "subject": {"account_id": "attacker-acct"}});
    let second = app
        .create_request(site, &world.member.token, &again)
        .await
        .expect(201);
    let review_path = format!("{}/review", request_path(site, &id_of(&second)));
    let review = app.get(&review_path, &world.site_admin.token).await.expect(200);
    assert_eq!(review["subject"]["on_site"], true);
    assert_eq!(review["subject"]["email_verified"], false);
    assert_eq!(review["subject"]["email_domain_verified_by_org"], false);
}
