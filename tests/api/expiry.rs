//! What ends by itself: pending requests nobody decided, and grants whose end has come — on
//! every instance, each ended once, nothing lost when an instance dies mid-sweep.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};

use crate::grants::grant_path;
use crate::helpers::{
    id_of, request_path, spawn_app_with, wait_for, Backend, TestApp, World, CONFLUENCE, JIRA, WAIT,
};
use crate::process::ServiceProcess;
use crate::receiver::Receiver;

backend_tests!(
    pending_requests_expire,
    sites_choose_how_long_requests_wait,
    three_instances_expire_each_grant_once,
    a_crash_during_an_expiry_sweep_loses_nothing,
);

async fn pending_requests_expire(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.pending_request_ttl_secs = 2).await;
    let world = app.world().await;
    let site = &world.site_id;
    let request = app.request_self(site, &world.outsider, JIRA).await;
    let id = id_of(&request);
    let created = chrono::DateTime::parse_from_rfc3339(request["created_at"].as_str().unwrap()).unwrap();
    let expires =
        chrono::DateTime::parse_from_rfc3339(request["expires_at"].as_str().expect("an expiry")).unwrap();
    assert_eq!((expires - created).num_milliseconds(), 2000);

    let mut expired = Value::Null;
    wait_for("the request to expire", Duration::from_secs(15), async || {
        expired = app
            .get(&request_path(site, &id), &world.site_admin.token)
            .await
            .expect(200);
        expired["status"] == "expired"
    })
    .await;
    assert!(expired["decided_by"].is_null());
    assert_eq!(expired["version"], 2);
    let decided = chrono::DateTime::parse_from_rfc3339(expired["decided_at"].as_str().unwrap()).unwrap();
    assert!(
        (0..=5_000).contains(&(decided - expires).num_milliseconds()),
        "{expired}"
    );
    assert_eq!(expired["expires_at"], request["expires_at"]);

    let audit = app.audit_events(site, &world.site_admin, Some(&id)).await;
    let event = audit
        .iter()
        .find(|e| e["action"] == "access_request.expired")
        .expect("an audit event");
    assert!(event["actor_account_id"].is_null());
    let notification = app.notification.wait_for_calls(&id, 1).await;
    assert_eq!(notification[0].json()["type"], "access_request.decided");
    assert_eq!(notification[0].json()["data"]["status"], "expired");
    assert!(notification[0].json()["data"]["message"].is_null());

    for action in ["approve", "deny"] {
        app.act(site, &id, action, &world.site_admin, &json!({}))
            .await
            .expect_problem(409, "not_pending");
    }
    app.cancel(site, &id, &world.outsider)
        .await
        .expect_problem(409, "not_pending");
    // No duplicate, no block: the same person may ask again.
    app.request_self(site, &world.outsider, JIRA).await;
    let blocks = app
        .get(
            &format!("/v1/sites/{site}/request-blocks"),
            &world.site_admin.token,
        )
        .await
        .expect(200);
    assert_eq!(blocks["items"], json!([]));
}

async fn sites_choose_how_long_requests_wait(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.pending_request_ttl_secs = 600).await;
    let world = app.world().await;
    let site = &world.site_id;
    let path = format!("/v1/sites/{site}/settings/access-requests");
    let request = app.request_self(site, &world.outsider, JIRA).await;
    let waits = |request: &Value| {
        let created = chrono::DateTime::parse_from_rfc3339(request["created_at"].as_str().unwrap()).unwrap();
        let expires = chrono::DateTime::parse_from_rfc3339(request["expires_at"].as_str().unwrap()).unwrap();
        (expires - created).num_seconds()
    };
    assert_eq!(waits(&request), 600);

    let settings = app
        .put_json(&path, &world.site_admin.token, &json!({"pending_ttl_hours": 2}))
        .await
        .expect(200);
    assert_eq!(settings["pending_ttl_hours"], 2);
    assert_eq!(settings["opted_out"], false, "what is left out stays");
    // The site's time applies to its pending requests at once, and to new ones.
    let reread = app
        .get(&request_path(site, &id_of(&request)), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(waits(&reread), 7200);
    assert_eq!(
        waits(&app.request_self(site, &world.outsider, CONFLUENCE).await),
        7200
    );

    let settings = app
        .put_json(
            &path,
            &world.site_admin.token,
            &json!({"pending_ttl_hours": null}),
        )
        .await
        .expect(200);
    assert!(settings["pending_ttl_hours"].is_null());
    let reread = app
        .get(&request_path(site, &id_of(&request)), &world.site_admin.token)
        .await
        .expect(200);
    assert_eq!(waits(&reread), 600);

    for bad in [
        json!({"pending_ttl_hours": 0}),
        json!({"pending_ttl_hours": 1441}),
    ] {
        app.put_json(&path, &world.site_admin.token, &bad)
            .await
            .expect_problem(422, "validation_failed");
    }
    app.put_json(
        &path,
        &world.site_admin.token,
        &json!({"pending_ttl_hours": "soon"}),
    )
    .await
    .expect_problem(400, "bad_request");
    app.put_json(&path, &world.member.token, &json!({"pending_ttl_hours": 3}))
        .await
        .expect_problem(403, "forbidden");
    assert_eq!(
        app.get(&path, &world.site_admin.token).await.expect(200)["pending_ttl_hours"],
        Value::Null
    );
}

/// Creates `n` on-behalf requests and approves them in bulk, all ending `secs` after the
/// requests were made; returns the grant ids and their end.
async fn grants_ending_in(
    app: &TestApp,
    world: &World,
    n: usize,
    prefix: &str,
    secs: i64,
) -> (Vec<String>, chrono::DateTime<chrono::Utc>) {
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(16) {
        ids.extend(
            join_all(chunk.iter().map(|i| async move {
                id_of(
                    &app.request_for(&world.site_id, &world.member, &format!("{prefix}-{i}"), JIRA)
                        .await,
                )
            }))
            .await,
        );
    }
    let end = chrono::Utc::now() + chrono::Duration::seconds(secs);
    let expires_at = end.to_rfc3339();
    let mut grants = Vec::with_capacity(n);
    for chunk in ids.chunks(100) {
        let body = json!({"action": "approve", "ids": chunk, "expires_at": expires_at});
        let results = app
            .post_json(
                &format!("/v1/sites/{}/access-requests/bulk", world.site_id),
                &world.site_admin.token,
                &body,
            )
            .await
            .expect(200);
        for result in results["results"].as_array().expect("results") {
            assert_eq!(result["status"], 200, "{result}");
            grants.push(
                result["request"]["grant_id"]
                    .as_str()
                    .expect("a grant")
                    .to_owned(),
            );
        }
    }
    (grants, end)
}

/// How many accepted `billing.seat.end` calls each grant got, and their distinct webhook ids.
fn seat_ends(billing: &Receiver) -> (HashMap<String, usize>, HashSet<String>) {
    let mut per_grant: HashMap<String, usize> = HashMap::new();
    let mut webhooks = HashSet::new();
    for call in billing.calls().into_iter().filter(|c| c.answered < 300) {
        let body = call.json();
        if body["type"] == "billing.seat.end" {
            *per_grant
                .entry(body["data"]["grant_id"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
            webhooks.insert(call.webhook_id().to_owned());
        }
    }
    (per_grant, webhooks)
}

fn limits_off(env: &mut HashMap<String, String>) {
    env.insert("RATE_LIMIT_CREATE_PER_MINUTE".into(), "0".into());
    env.insert("MAX_PENDING_PER_REQUESTER".into(), "0".into());
}

/// Three instances on one PostgreSQL database, 200 grants ending at the same moment: each ends
/// exactly once, with exactly 200 `billing.seat.end`.
async fn three_instances_expire_each_grant_once(backend: Backend) {
    if backend == Backend::Sqlite {
        // SQLite serves one instance; several processes on one file are not a supported setup.
        return;
    }
    let (mut app, mut env) = TestApp::prepare(backend);
    limits_off(&mut env);
    let instances = join_all((0..3).map(|_| ServiceProcess::start(env.clone()))).await;
    app.address = instances[0].address.clone();
    let world = app.world().await;
    let (grants, _) = grants_ending_in(&app, &world, 200, "three", 12).await;

    wait_for("200 seat ends", Duration::from_secs(90), async || {
        seat_ends(&app.billing).0.len() == 200
    })
    .await;
    // Give a straggler every chance to send a second end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (per_grant, webhooks) = seat_ends(&app.billing);
    assert_eq!(per_grant.len(), 200);
    assert!(
        per_grant.values().all(|n| *n == 1),
        "a grant ended twice: {per_grant:?}"
    );
    assert_eq!(webhooks.len(), 200);
    let wanted: HashSet<&String> = grants.iter().collect();
    assert_eq!(per_grant.keys().collect::<HashSet<_>>(), wanted);
    for grant in grants.iter().step_by(20) {
        let ended = app
            .get(&grant_path(&world.site_id, grant), &world.site_admin.token)
            .await
            .expect(200);
        assert_eq!(ended["status"], "expired");
    }
    drop(instances);
}

/// SIGKILL while a sweep ends many grants at once: after a restart every grant has ended, once,
/// and every end reaches billing (redeliveries keep their webhook-id).
async fn a_crash_during_an_expiry_sweep_loses_nothing(backend: Backend) {
    let (mut app, mut env) = TestApp::prepare(backend);
    limits_off(&mut env);
    env.insert("WEBHOOK_TIMEOUT_MS".into(), "1000".into());
    let mut service = ServiceProcess::start(env).await;
    app.address = service.address.clone();
    let world = app.world().await;
    let n = 150;
    let (grants, end) = grants_ending_in(&app, &world, n, "crash", 12).await;
    // Into the sweep: kill as soon as the first grants have ended, while others have not.
    let until_end = (end - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_end).await;
    let expired_path = crate::helpers::with_query(
        &format!("/v1/sites/{}/grants", world.site_id),
        &[("status", "expired"), ("limit", "200")],
    );
    let mut expired = 0;
    wait_for("the sweep to begin", Duration::from_secs(10), async || {
        let page = app.get(&expired_path, &world.site_admin.token).await.expect(200);
        expired = page["items"].as_array().map_or(0, Vec::len);
        expired > 0
    })
    .await;
    service.kill();
    eprintln!("killed with {expired} of {n} grants ended");
    service.crash_and_restart().await;
    app.address = service.address.clone();

    wait_for("every seat end", Duration::from_secs(90), async || {
        seat_ends(&app.billing).0.len() == n
    })
    .await;
    let (per_grant, webhooks) = seat_ends(&app.billing);
    assert_eq!(webhooks.len(), n, "one billing.seat.end per grant");
    assert_eq!(
        per_grant.keys().collect::<HashSet<_>>(),
        grants.iter().collect::<HashSet<_>>()
    );
    let mut statuses = HashSet::new();
    wait_for("every grant to be expired", WAIT, async || {
        statuses.clear();
        for grant in &grants {
            let g = app
                .get(&grant_path(&world.site_id, grant), &world.site_admin.token)
                .await
                .expect(200);
            statuses.insert(g["status"].as_str().unwrap_or_default().to_owned());
        }
        statuses.len() == 1 && statuses.contains("expired")
    })
    .await;
}
