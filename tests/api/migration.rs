//! Upgrading a database of the first schema: every product a user held becomes an active
//! grant (`request` where an approved request gave it, else `directory`), and the billing
//! start already sent keeps counting as that grant's start, so its end is billed.

use std::time::Duration;

use access_requests::config::Settings;
use access_requests::Application;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use serde_json::Value;

use crate::helpers::{wait_for, with_query, Backend, TestApp, WAIT};

backend_tests!(products_held_before_grants_become_grants);

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

const ORG: &str = "00000000-0000-4000-8000-000000000001";
const SITE: &str = "00000000-0000-4000-8000-000000000002";
const APPROVED: &str = "00000000-0000-4000-8000-000000000003";

/// What a site of the first schema held: Alice got Jira by an approved request (billing
/// started), Bob got Confluence by directory sync.
fn old_data() -> String {
    let t = 1_764_000_000_000_000_i64;
    format!(
        "INSERT INTO orgs VALUES ('{ORG}', 'Acme', '[\"acme.test\"]', {t});
         INSERT INTO org_admins VALUES ('{ORG}', 'org-admin', {t});
         INSERT INTO sites VALUES ('{SITE}', '{ORG}', 'Acme', 'https://acme.test', TRUE, FALSE, {t});
         INSERT INTO products VALUES ('{SITE}', 'jira-software', 'Jira', 'jira-users', {t}, {t});
         INSERT INTO products VALUES ('{SITE}', 'confluence', 'Confluence', 'confluence-users', {t}, {t});
         INSERT INTO site_users VALUES ('{SITE}', 'alice', 'alice@acme.test', 'Alice', 'member', {t}, {t});
         INSERT INTO site_users VALUES ('{SITE}', 'bob', 'bob@acme.test', 'Bob', 'member', {t}, {t});
         INSERT INTO access_requests VALUES ('{APPROVED}', '{SITE}', 'jira-software', 'self', 'approved',
             'alice', 'alice@acme.test', 'Alice', FALSE, 'alice', 'alice@acme.test', 'Alice', FALSE, NULL,
             {t}, {t}, 'org-admin', NULL, 2);
         INSERT INTO product_grants VALUES ('{SITE}', 'alice', 'jira-software', {t});
         INSERT INTO product_grants VALUES ('{SITE}', 'bob', 'confluence', {t});
         INSERT INTO webhook_deliveries VALUES ('00000000-0000-4000-8000-000000000004', 'msg_old_start',
             '{APPROVED}', 'billing', 'billing.seat.start', '{{}}', 'delivered', 1, {t}, 0, NULL,
             '{SITE}/jira-software/alice', {t}, {t});"
    )
}

/// Builds the first schema with its data, then lets the service migrate it at start-up.
async fn products_held_before_grants_become_grants(backend: Backend) {
    let (mut app, env) = TestApp::prepare(backend);
    let url = env["DATABASE_URL"].clone();
    let sql = old_data();
    actix_web::rt::task::spawn_blocking(move || match backend {
        Backend::Sqlite => {
            let mut conn = diesel::SqliteConnection::establish(&url).expect("the SQLite file");
            conn.run_next_migration(SQLITE).expect("the first schema");
            conn.batch_execute(&sql).expect("the old data");
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&url).expect("the database");
            conn.run_next_migration(POSTGRES).expect("the first schema");
            conn.batch_execute(&sql).expect("the old data");
        }
    })
    .await
    .expect("the task runs");
    let settings = Settings::from_lookup(|name| env.get(name).cloned()).expect("the test settings");
    let application = Application::build(settings)
        .await
        .expect("the app migrates and starts");
    app.address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());

    let admin = app.actor("org-admin", "org-admin@acme.test");
    let grants_of = async |account: &str| -> Vec<Value> {
        let path = with_query(&format!("/v1/sites/{SITE}/grants"), &[("account_id", account)]);
        let page = app.get(&path, &admin.token).await.expect(200);
        page["items"].as_array().cloned().unwrap_or_default()
    };
    let alice = grants_of("alice").await;
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(
        (
            &alice[0]["status"],
            &alice[0]["source"],
            &alice[0]["request_id"],
            &alice[0]["product_key"]
        ),
        (
            &Value::from("active"),
            &Value::from("request"),
            &Value::from(APPROVED),
            &Value::from("jira-software")
        )
    );
    assert_eq!(alice[0]["granted_by"], "org-admin");
    let bob = grants_of("bob").await;
    assert_eq!(
        (&bob[0]["source"], &bob[0]["request_id"]),
        (&Value::from("directory"), &Value::Null)
    );
    let request = app
        .get(
            &format!("/v1/sites/{SITE}/access-requests/{APPROVED}"),
            &admin.token,
        )
        .await
        .expect(200);
    assert_eq!(request["grant_id"], alice[0]["id"]);
    let user = app.get_site_user(SITE, &admin, "alice").await.expect(200);
    assert_eq!(user["products"], serde_json::json!(["jira-software"]));

    // The old billing start counts: revoking Alice's grant bills its end, and only that.
    let grant_id = alice[0]["id"].as_str().unwrap().to_owned();
    app.revoke(SITE, &grant_id, &admin).await.expect(200);
    wait_for("the seat end", WAIT, async || !app.billing.calls().is_empty()).await;
    let end = app.billing.calls()[0].json();
    assert_eq!(
        (&end["type"], &end["data"]["grant_id"]),
        (&Value::from("billing.seat.end"), &Value::from(grant_id))
    );
    // A directory grant ends silently.
    app.revoke(SITE, bob[0]["id"].as_str().unwrap(), &admin)
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.billing.calls().len(), 1);
    assert!(
        app.group.calls().is_empty(),
        "no group start was on record, so no group end"
    );
}
