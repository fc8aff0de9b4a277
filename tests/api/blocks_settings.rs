//! Request blocks, the access-request settings, the rollout and feedback.

use serde_json::json;

use crate::helpers::{id_of, ids, spawn_app, spawn_app_with, Backend, World, CONFLUENCE, JIRA};

backend_tests!(
    a_blocked_site_user_cannot_request_at_all,
    settings_combine_rollout_and_opt_out,
    full_rollout_puts_new_sites_in,
    no_rollout_leaves_new_sites_out,
    settings_bodies_are_validated,
    feedback_is_sent_by_site_admins_and_read_by_platform_admins,
);

fn settings_path(world: &World) -> String {
    format!("/v1/sites/{}/settings/access-requests", world.site_id)
}

async fn a_blocked_site_user_cannot_request_at_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let request = app.request_self(site, &world.member, JIRA).await;
    app.deny(site, &id_of(&request), &world.org_admin, Some("no"))
        .await;

    let user = app
        .get_site_user(site, &world.site_admin, "member")
        .await
        .expect(200);
    assert_eq!(user["blocked"], true);
    let on_behalf =
        json!({"product_key": CONFLUENCE, "subject": {"account_id": "x", "email": "x@acme.test"}});
    for body in [json!({"product_key": CONFLUENCE}), on_behalf.clone()] {
        app.create_request(site, &world.member.token, &body)
            .await
            .expect_problem(403, "requester_blocked");
    }

    let blocks = app
        .get(
            &format!("/v1/sites/{site}/request-blocks"),
            &world.org_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(blocks["items"][0]["blocked_by"], "org-admin");
    app.delete(
        &format!("/v1/sites/{site}/request-blocks/member"),
        &world.site_admin.token,
    )
    .await
    .expect(204);
    let user = app
        .get_site_user(site, &world.site_admin, "member")
        .await
        .expect(200);
    assert_eq!(user["blocked"], false);
    app.create_request(site, &world.member.token, &on_behalf)
        .await
        .expect(201);
}

async fn settings_combine_rollout_and_opt_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let path = settings_path(&world);
    let settings = |in_rollout: bool, opted_out: bool, enabled: bool| json!({"in_rollout": in_rollout, "opted_out": opted_out, "external_requests_enabled": enabled, "pending_ttl_hours": null});

    // The world puts its site in the rollout.
    assert_eq!(
        app.get(&path, &world.site_admin.token).await.expect(200),
        settings(true, false, true)
    );
    assert_eq!(
        app.set_opted_out(&world.site_id, &world.site_admin, true).await,
        settings(true, true, false)
    );
    assert_eq!(
        app.get(&path, &world.org_admin.token).await.expect(200),
        settings(true, true, false)
    );
    assert_eq!(
        app.set_rollout(&world.site_id, false).await,
        settings(false, true, false)
    );
    assert_eq!(
        app.set_opted_out(&world.site_id, &world.org_admin, false).await,
        settings(false, false, false)
    );
    assert_eq!(
        app.set_rollout(&world.site_id, true).await,
        settings(true, false, true)
    );
    assert_eq!(
        app.get(&path, &world.site_admin.token).await.expect(200),
        settings(true, false, true)
    );

    let changes: Vec<String> = app
        .audit_events(&world.site_id, &world.site_admin, None)
        .await
        .iter()
        .filter_map(|e| e["action"].as_str().map(str::to_owned))
        .filter(|action| action == "settings.updated" || action == "rollout.updated")
        .collect();
    // One rollout change by the world, then the four above.
    assert_eq!(changes.len(), 5, "{changes:?}");
    assert_eq!(changes.iter().filter(|a| *a == "settings.updated").count(), 2);
}

async fn full_rollout_puts_new_sites_in(backend: Backend) {
    new_sites_follow_rollout_percent(backend, 100, true).await;
}

async fn no_rollout_leaves_new_sites_out(backend: Backend) {
    new_sites_follow_rollout_percent(backend, 0, false).await;
}

/// Every new site starts in the rollout at 100 % and none at 0 %.
async fn new_sites_follow_rollout_percent(backend: Backend, percent: u8, in_rollout: bool) {
    let app = spawn_app_with(backend, |s| s.rollout_percent = percent).await;
    let org_id = id_of(&app.create_org("Rolled", &[]).await);
    let admin = app.actor("rolled-admin", "admin@rolled.test");
    app.add_org_admin(&org_id, &admin.id).await;
    for name in ["One", "Two", "Three"] {
        let site = id_of(&app.create_site(&org_id, &admin, name).await);
        let settings = app
            .get(
                &format!("/v1/sites/{site}/settings/access-requests"),
                &admin.token,
            )
            .await
            .expect(200);
        assert_eq!(
            settings,
            json!({"in_rollout": in_rollout, "opted_out": false, "external_requests_enabled": in_rollout, "pending_ttl_hours": null})
        );
    }
}

async fn settings_bodies_are_validated(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let token = &world.site_admin.token;
    for bad in [
        json!({"opted_out": "yes"}),
        json!({"opted_out": true, "in_rollout": true}),
    ] {
        app.put_json(&settings_path(&world), token, &bad)
            .await
            .expect_problem(400, "bad_request");
    }
    app.put_json(
        &format!("/v1/sites/{}/rollout", world.site_id),
        &world.platform_admin.token,
        &json!({"in_rollout": 1}),
    )
    .await
    .expect_problem(400, "bad_request");
}

async fn feedback_is_sent_by_site_admins_and_read_by_platform_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let path = format!("/v1/sites/{}/access-requests/feedback", world.site_id);

    let first = app
        .post_json(
            &path,
            &world.site_admin.token,
            &json!({"rating": 5, "comment": "Saves us hours"}),
        )
        .await
        .expect(201);
    assert_eq!(first["site_id"], world.site_id.as_str());
    assert_eq!(first["account_id"], "site-admin");
    assert_eq!(first["rating"], 5);
    assert_eq!(first["comment"], "Saves us hours");
    assert!(first["created_at"].is_string());
    let second = app
        .post_json(&path, &world.org_admin.token, &json!({"rating": 1}))
        .await
        .expect(201);
    assert!(second["comment"].is_null());

    for (bad, field) in [
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 3, "comment": "x".repeat(2001)}), "comment"),
    ] {
        let response = app.post_json(&path, &world.site_admin.token, &bad).await;
        response.expect_problem(422, "validation_failed");
        assert_eq!(response.error_fields(), [field]);
    }
    app.post_json(
        &path,
        &world.site_admin.token,
        &json!({"rating": 3, "comment": "x".repeat(2000)}),
    )
    .await
    .expect(201);

    let all = app
        .collect_pages("/v1/feedback", &world.platform_admin.token, 200)
        .await;
    assert_eq!(all.len(), 3);
    let walked = app
        .collect_pages("/v1/feedback", &world.platform_admin.token, 1)
        .await;
    assert_eq!(ids(&walked), ids(&all));
    assert!(ids(&all).contains(&id_of(&first)));
    assert!(ids(&all).contains(&id_of(&second)));
}
