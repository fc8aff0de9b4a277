//! Orgs, org admins, sites, products, site users and `/v1/me/admin-sites`.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{id_of, spawn_app, Backend, CONFLUENCE, JIRA};

backend_tests!(
    orgs_are_created_and_read,
    org_admins_are_added_and_removed,
    sites_are_created_and_read_by_their_admins,
    products_are_created_then_updated,
    site_users_are_upserted_read_and_deleted,
    malformed_directory_paths_are_rejected,
    admin_sites_lists_what_the_caller_administers,
);

async fn orgs_are_created_and_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.platform_admin();

    let org = app.create_org("Globex", &["globex.example", "globex.test"]).await;
    assert_eq!(org["name"], "Globex");
    assert_eq!(org["verified_domains"], json!(["globex.example", "globex.test"]));
    assert!(org["created_at"].is_string());

    let read = app
        .get(&format!("/v1/orgs/{}", id_of(&org)), &admin.token)
        .await
        .expect(200);
    assert_eq!(read, org);

    let without_domains = app
        .post_json("/v1/orgs", &admin.token, &json!({"name": "Initech"}))
        .await
        .expect(201);
    assert_eq!(without_domains["verified_domains"], json!([]));

    app.get(&format!("/v1/orgs/{}", uuid::Uuid::new_v4()), &admin.token)
        .await
        .expect_problem(404, "not_found");
    app.post_json("/v1/orgs", &admin.token, &json!({"name": "X", "colour": "red"}))
        .await
        .expect_problem(400, "bad_request");
}

async fn org_admins_are_added_and_removed(backend: Backend) {
    let app = spawn_app(backend).await;
    let org_id = id_of(&app.create_org("Globex", &[]).await);
    let org_path = format!("/v1/orgs/{org_id}");
    let first = app.actor("first-admin", "first@globex.test");
    let second = app.actor("second-admin", "second@globex.test");

    app.get(&org_path, &first.token)
        .await
        .expect_problem(403, "forbidden");
    app.add_org_admin(&org_id, &first.id).await;
    app.get(&org_path, &first.token).await.expect(200);

    // An org admin manages the org's admins too.
    let second_path = format!("{org_path}/admins/{}", second.id);
    app.send(Method::PUT, &second_path, Some(&first.token), None, &[])
        .await
        .expect(204);
    app.get(&org_path, &second.token).await.expect(200);
    app.create_site(&org_id, &second, "Second Site").await;

    app.delete(&second_path, &first.token).await.expect(204);
    app.get(&org_path, &second.token)
        .await
        .expect_problem(403, "forbidden");
    // Removing someone who is no admin is not an error.
    app.delete(&second_path, &first.token).await.expect(204);
}

async fn sites_are_created_and_read_by_their_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;

    let site = app.create_site(&world.org_id, &world.org_admin, "Research").await;
    assert_eq!(site["org_id"], world.org_id.as_str());
    assert_eq!(site["name"], "Research");
    assert_eq!(site["url"], "https://research.example.net");
    assert!(site["created_at"].is_string());

    let site_path = format!("/v1/sites/{}", id_of(&site));
    assert_eq!(
        app.get(&site_path, &world.org_admin.token).await.expect(200),
        site
    );

    // A site admin reads their own site only.
    app.get(&site_path, &world.site_admin.token)
        .await
        .expect_problem(403, "forbidden");
    let own = app
        .get(&format!("/v1/sites/{}", world.site_id), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(own["id"], world.site_id.as_str());

    app.get(
        &format!("/v1/sites/{}", uuid::Uuid::new_v4()),
        &world.org_admin.token,
    )
    .await
    .expect_problem(404, "not_found");
}

async fn products_are_created_then_updated(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;

    let created = app
        .put_product(&world.site_id, &world.org_admin, "bitbucket", "bb-users")
        .await
        .expect(201);
    assert_eq!(created["site_id"], world.site_id.as_str());
    assert_eq!(created["product_key"], "bitbucket");
    assert_eq!(created["name"], "Product bitbucket");
    assert_eq!(created["default_group"], "bb-users");

    let updated = app
        .put_product(&world.site_id, &world.org_admin, "bitbucket", "bb-everyone")
        .await
        .expect(200);
    assert_eq!(updated["default_group"], "bb-everyone");
    assert_eq!(updated["created_at"], created["created_at"]);

    // Anyone with a token lists the products.
    let products = app
        .get(
            &format!("/v1/sites/{}/products", world.site_id),
            &world.outsider.token,
        )
        .await
        .expect(200);
    let mut keys: Vec<&str> = products
        .as_array()
        .expect("a list of products")
        .iter()
        .filter_map(|p| p["product_key"].as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["bitbucket", CONFLUENCE, JIRA]);
    let bitbucket = products
        .as_array()
        .and_then(|list| list.iter().find(|p| p["product_key"] == "bitbucket"))
        .expect("bitbucket is listed");
    assert_eq!(bitbucket["default_group"], "bb-everyone");

    // Site admins do not manage products.
    app.put_product(&world.site_id, &world.site_admin, "bamboo", "bamboo-users")
        .await
        .expect_problem(403, "forbidden");
}

async fn site_users_are_upserted_read_and_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let user = app.actor("557058:3f1c-aa_b", "newcomer@acme.test");
    let user_path = format!("/v1/sites/{}/users/{}", world.site_id, user.id);

    let created = app
        .put_site_user(&world.site_id, &world.site_admin, &user, "member", &[JIRA])
        .await
        .expect(201);
    assert_eq!(created["account_id"], user.id.as_str());
    assert_eq!(created["email"], "newcomer@acme.test");
    assert_eq!(created["display_name"], "Name of 557058:3f1c-aa_b");
    assert_eq!(created["role"], "member");
    assert_eq!(created["products"], json!([JIRA]));
    assert_eq!(created["blocked"], false);

    // `products` replaces the set; keys come back sorted.
    let updated = app
        .put_site_user(
            &world.site_id,
            &world.org_admin,
            &user,
            "admin",
            &[JIRA, CONFLUENCE],
        )
        .await
        .expect(200);
    assert_eq!(updated["role"], "admin");
    assert_eq!(updated["products"], json!([CONFLUENCE, JIRA]));

    let read = app.get(&user_path, &world.site_admin.token).await.expect(200);
    assert_eq!(read["products"], json!([CONFLUENCE, JIRA]));
    assert_eq!(read["role"], "admin");

    let emptied = app
        .put_site_user(&world.site_id, &world.site_admin, &user, "member", &[])
        .await
        .expect(200);
    assert_eq!(emptied["products"], json!([]));

    // Leaving `products` out keeps them.
    app.put_site_user(&world.site_id, &world.site_admin, &user, "member", &[JIRA])
        .await
        .expect(200);
    let kept = app
        .put_json(
            &user_path,
            &world.site_admin.token,
            &json!({"email": user.email, "role": "member"}),
        )
        .await
        .expect(200);
    assert_eq!(kept["products"], json!([JIRA]));

    app.put_site_user(
        &world.site_id,
        &world.site_admin,
        &user,
        "member",
        &["no-such-product"],
    )
    .await
    .expect_problem(422, "unknown_product");

    app.delete(&user_path, &world.site_admin.token).await.expect(204);
    app.get(&user_path, &world.site_admin.token)
        .await
        .expect_problem(404, "not_found");
    app.delete(&user_path, &world.site_admin.token)
        .await
        .expect_problem(404, "not_found");
}

async fn malformed_directory_paths_are_rejected(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    let site = &world.site_id;
    let body = json!({"email": "x@acme.test", "role": "member"});

    let bad_account = app
        .put_json(
            &format!("/v1/sites/{site}/users/not%20valid"),
            &world.org_admin.token,
            &body,
        )
        .await;
    bad_account.expect_problem(422, "validation_failed");
    assert_eq!(bad_account.error_fields(), ["account_id"]);

    let bad_key = app
        .put_json(
            &format!("/v1/sites/{site}/products/Bad_Key"),
            &world.org_admin.token,
            &json!({"name": "Bad", "default_group": "g"}),
        )
        .await;
    bad_key.expect_problem(422, "validation_failed");
    assert_eq!(bad_key.error_fields(), ["product_key"]);

    app.get(
        &format!("/v1/sites/{site}/users/not%20valid"),
        &world.org_admin.token,
    )
    .await
    .expect_problem(404, "not_found");
    app.get("/v1/sites/not-a-uuid", &world.org_admin.token)
        .await
        .expect_problem(404, "not_found");
    app.get("/v1/orgs/not-a-uuid", &world.platform_admin.token)
        .await
        .expect_problem(404, "not_found");
}

async fn admin_sites_lists_what_the_caller_administers(backend: Backend) {
    let app = spawn_app(backend).await;
    let world = app.world().await;
    // "Acme Cloud" (the world's site) sorts before "Beta Cloud".
    let second = app.add_site(&world.org_id, &world.org_admin, "Beta Cloud").await;

    app.request_self(&world.site_id, &world.outsider, JIRA).await;
    app.request_for(&world.site_id, &world.member, "someone", JIRA)
        .await;
    let decided = app
        .request_for(&world.site_id, &world.member, "decided", JIRA)
        .await;
    app.approve(&world.site_id, &id_of(&decided), &world.site_admin)
        .await;
    app.request_self(&second, &world.outsider, CONFLUENCE).await;

    let summary = |list: serde_json::Value| -> Vec<(String, u64)> {
        list.as_array()
            .expect("a list")
            .iter()
            .map(|entry| {
                let id = entry["site"]["id"].as_str().expect("a site id").to_owned();
                (id, entry["pending_requests"].as_u64().expect("a count"))
            })
            .collect()
    };

    let as_org_admin = app
        .get("/v1/me/admin-sites", &world.org_admin.token)
        .await
        .expect(200);
    assert_eq!(as_org_admin[0]["site"]["name"], "Acme Cloud");
    assert_eq!(
        summary(as_org_admin),
        [(world.site_id.clone(), 2), (second.clone(), 1)]
    );

    let as_site_admin = app
        .get("/v1/me/admin-sites", &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(summary(as_site_admin), [(world.site_id.clone(), 2)]);

    for nobody in [&world.member, &world.outsider, &world.platform_admin] {
        let sites = app.get("/v1/me/admin-sites", &nobody.token).await.expect(200);
        assert_eq!(sites, json!([]), "{}", nobody.id);
    }
}
