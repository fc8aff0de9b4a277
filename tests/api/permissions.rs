//! Who may call what: one table row per endpoint, one expected status per
//! kind of caller. Placeholders in paths and bodies are resolved per call,
//! creating fresh resources where a successful call would use them up.

use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{id_of, spawn_app_with, Actor, Backend, TestApp, World, CONFLUENCE, JIRA};

backend_tests!(
    every_endpoint_checks_its_callers,
    unknown_sites_are_not_found_for_everyone
);

/// The kinds of caller, in the order of [`Case::expect`].
const CALLERS: [&str; 10] = [
    "no token",
    "bad token",
    "platform admin",
    "org admin",
    "admin of another org",
    "site admin",
    "admin of another site",
    "site member",
    "outsider",
    "unverified email",
];

struct Case {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    /// The status per caller, in the order of [`CALLERS`].
    expect: [u16; 10],
}

fn case(method: Method, path: &'static str, body: Option<Value>, expect: [u16; 10]) -> Case {
    Case {
        method,
        path,
        body,
        expect,
    }
}

/// Placeholders: `{org}`, `{site}`, `{member}`, `{request}` (one shared pending
/// request by the member), `{pending}` (a fresh pending request by the member),
/// `{fresh}` (a new account id), `{site_user}` (a fresh site user), `{blocked}`
/// (a freshly blocked account), `{random}` (an unknown id).
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    use Method as M;
    let admins = [401, 401, 403, 200, 403, 200, 403, 403, 403, 403];
    let platform_only = [401, 401, 200, 403, 403, 403, 403, 403, 403, 403];
    let anyone = [401, 401, 200, 200, 200, 200, 200, 200, 200, 200];
    let public = [200; 10];
    let org_body = json!({"name": "New Org"});
    let site_body = json!({"name": "New Site", "url": "https://new.example.net"});
    let product_body = json!({"name": "P", "default_group": "p-users"});
    let user_body = json!({"email": "new@acme.test", "role": "member"});
    let self_request = json!({"product_key": CONFLUENCE});
    let on_behalf = json!({"product_key": JIRA, "subject": {"account_id": "{fresh}", "email": "fresh@acme.test"}});
    vec![
        // expected statuses in the order of CALLERS: no token, bad token, platform admin, org admin,
        // other org's admin, site admin, other site's admin, site member, outsider, unverified email
        case(M::POST,   "/v1/orgs",                                                 Some(org_body),      [401, 401, 201, 403, 403, 403, 403, 403, 403, 403]),
        case(M::GET,    "/v1/orgs/{org}",                                           None,                [401, 401, 200, 200, 403, 403, 403, 403, 403, 403]),
        case(M::PUT,    "/v1/orgs/{org}/admins/{fresh}",                            None,                [401, 401, 204, 204, 403, 403, 403, 403, 403, 403]),
        case(M::DELETE, "/v1/orgs/{org}/admins/{fresh}",                            None,                [401, 401, 204, 204, 403, 403, 403, 403, 403, 403]),
        case(M::POST,   "/v1/orgs/{org}/sites",                                     Some(site_body),     [401, 401, 403, 201, 403, 403, 403, 403, 403, 403]),
        case(M::GET,    "/v1/sites/{site}",                                         None,                admins),
        case(M::PUT,    "/v1/sites/{site}/products/perm-product",                   Some(product_body),  [401, 401, 403, 201, 403, 403, 403, 403, 403, 403]),
        case(M::GET,    "/v1/sites/{site}/products",                                None,                anyone),
        case(M::PUT,    "/v1/sites/{site}/users/{fresh}",                           Some(user_body),     [401, 401, 403, 201, 403, 201, 403, 403, 403, 403]),
        case(M::GET,    "/v1/sites/{site}/users/{member}",                          None,                admins),
        case(M::DELETE, "/v1/sites/{site}/users/{site_user}",                       None,                [401, 401, 403, 204, 403, 204, 403, 403, 403, 403]),
        case(M::GET,    "/v1/me/admin-sites",                                       None,                anyone),
        case(M::POST,   "/v1/sites/{site}/access-requests",                         Some(self_request),  [401, 401, 201, 201, 201, 201, 201, 201, 201, 403]),
        case(M::POST,   "/v1/sites/{site}/access-requests",                         Some(on_behalf),     [401, 401, 403, 403, 403, 201, 403, 201, 403, 403]),
        case(M::GET,    "/v1/sites/{site}/access-requests",                         None,                admins),
        case(M::GET,    "/v1/sites/{site}/access-requests/{request}",               None,                [401, 401, 404, 200, 404, 200, 404, 200, 404, 404]),
        case(M::GET,    "/v1/sites/{site}/access-requests/{request}/review",        None,                admins),
        case(M::POST,   "/v1/sites/{site}/access-requests/{pending}/approve",       Some(json!({})),     admins),
        case(M::POST,   "/v1/sites/{site}/access-requests/{pending}/deny",          Some(json!({})),     admins),
        case(M::POST,   "/v1/sites/{site}/access-requests/{pending}/cancel",        None,                [401, 401, 404, 403, 404, 403, 404, 200, 404, 404]),
        case(M::GET,    "/v1/me/access-requests",                                   None,                anyone),
        case(M::GET,    "/v1/sites/{site}/request-blocks",                          None,                admins),
        case(M::DELETE, "/v1/sites/{site}/request-blocks/{blocked}",                None,                [401, 401, 403, 204, 403, 204, 403, 403, 403, 403]),
        case(M::GET,    "/v1/sites/{site}/settings/access-requests",                None,                admins),
        case(M::PUT,    "/v1/sites/{site}/settings/access-requests",                Some(json!({"opted_out": false})), admins),
        case(M::PUT,    "/v1/sites/{site}/rollout",                                 Some(json!({"in_rollout": true})), platform_only),
        case(M::POST,   "/v1/sites/{site}/access-requests/feedback",                Some(json!({"rating": 4})), [401, 401, 403, 201, 403, 201, 403, 403, 403, 403]),
        case(M::GET,    "/v1/feedback",                                             None,                platform_only),
        case(M::GET,    "/v1/sites/{site}/audit-events",                            None,                admins),
        case(M::GET,    "/v1/webhook-deliveries",                                   None,                platform_only),
        case(M::POST,   "/v1/webhook-deliveries/{random}/retry",                    None,                [401, 401, 404, 403, 403, 403, 403, 403, 403, 403]),
        case(M::GET,    "/healthz",                                                 None,                public),
        case(M::GET,    "/readyz",                                                  None,                public),
        case(M::GET,    "/metrics",                                                 None,                public),
    ]
}

/// The world plus the callers it lacks: another org's admin and the admin of
/// another site of the same org.
struct Cast {
    world: World,
    callers: [Option<Actor>; 10],
    request_id: String,
}

async fn cast(app: &TestApp) -> Cast {
    let world = app.world().await;
    let other_org = id_of(&app.create_org("Other", &["other.test"]).await);
    let other_org_admin = app.actor("other-org-admin", "admin@other.test");
    app.add_org_admin(&other_org, &other_org_admin.id).await;
    let other_site = app.add_site(&world.org_id, &world.org_admin, "Beta Cloud").await;
    let other_site_admin = app.actor("other-site-admin", "other-site-admin@acme.test");
    app.put_site_user(&other_site, &world.org_admin, &other_site_admin, "admin", &[])
        .await
        .expect(201);
    let request = app
        .request_for(&world.site_id, &world.member, "shared-subject", JIRA)
        .await;
    Cast {
        callers: [
            None,
            Some(Actor {
                token: format!("{}x", world.member.token),
                ..world.member.clone()
            }),
            Some(world.platform_admin.clone()),
            Some(world.org_admin.clone()),
            Some(other_org_admin),
            Some(world.site_admin.clone()),
            Some(other_site_admin),
            Some(world.member.clone()),
            Some(world.outsider.clone()),
            Some(Actor {
                token: app.token_unverified("unverified", "unverified@gmail.test"),
                ..app.actor("unverified", "unverified@gmail.test")
            }),
        ],
        request_id: id_of(&request),
        world,
    }
}

fn fresh_account() -> String {
    format!("acct-{}", Uuid::new_v4().simple())
}

/// Replaces the placeholders of `template`, creating what they stand for.
async fn resolve(app: &TestApp, cast: &Cast, site_id: &str, template: &str) -> String {
    let world = &cast.world;
    let mut text = template
        .replace("{org}", &world.org_id)
        .replace("{site}", site_id)
        .replace("{member}", &world.member.id)
        .replace("{request}", &cast.request_id)
        .replace("{random}", &Uuid::new_v4().to_string());
    while text.contains("{fresh}") {
        text = text.replacen("{fresh}", &fresh_account(), 1);
    }
    if text.contains("{pending}") {
        let pending = app
            .request_for(&world.site_id, &world.member, &fresh_account(), JIRA)
            .await;
        text = text.replace("{pending}", &id_of(&pending));
    }
    if text.contains("{site_user}") {
        let user = app.actor(&fresh_account(), "temp@acme.test");
        app.put_site_user(&world.site_id, &world.org_admin, &user, "member", &[])
            .await
            .expect(201);
        text = text.replace("{site_user}", &user.id);
    }
    if text.contains("{blocked}") {
        let blocked = app.actor(&fresh_account(), "blocked@gmail.test");
        let request = app.request_self(&world.site_id, &blocked, JIRA).await;
        app.deny(&world.site_id, &id_of(&request), &world.site_admin, None)
            .await;
        text = text.replace("{blocked}", &blocked.id);
    }
    text
}

/// Calls every case as every caller on `site_id`; `expected` picks the status
/// from the case and the caller's index in [`CALLERS`].
async fn check_table(
    app: &TestApp,
    cast: &Cast,
    site_id: &str,
    cases: Vec<Case>,
    expected: impl Fn(&Case, usize) -> u16,
) {
    let mut failures = Vec::new();
    for case in cases {
        for (index, caller) in cast.callers.iter().enumerate() {
            let path = resolve(app, cast, site_id, case.path).await;
            let body = match &case.body {
                Some(body) => {
                    let text = resolve(app, cast, site_id, &body.to_string()).await;
                    Some(serde_json::from_str::<Value>(&text).expect("a JSON body"))
                }
                None => None,
            };
            let token = caller.as_ref().map(|actor| actor.token.as_str());
            let response = app
                .send(case.method.clone(), &path, token, body.as_ref(), &[])
                .await;
            let want = expected(&case, index);
            if response.status != want {
                failures.push(format!(
                    "{} {} as {}: expected {want}, got {} {}",
                    case.method, case.path, CALLERS[index], response.status, response.text
                ));
            } else if want >= 400 {
                response.expect_problem(want, response.body["code"].as_str().unwrap_or("?"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn every_endpoint_checks_its_callers(backend: Backend) {
    let app = spawn_app_with(backend, no_limits).await;
    let cast = cast(&app).await;
    check_table(&app, &cast, &cast.world.site_id, cases(), |case, index| {
        case.expect[index]
    })
    .await;
}

/// Site-scoped endpoints answer 404 for an unknown site, whatever the caller's roles.
async fn unknown_sites_are_not_found_for_everyone(backend: Backend) {
    let app = spawn_app_with(backend, no_limits).await;
    let cast = cast(&app).await;
    let unknown = Uuid::new_v4().to_string();
    let site_scoped = cases()
        .into_iter()
        .filter(|case| case.path.contains("{site}"))
        .collect();
    let no_token_first = |_: &Case, index: usize| if index <= 1 { 401 } else { 404 };
    check_table(&app, &cast, &unknown, site_scoped, no_token_first).await;
}

/// The table creates many requests from one account in well under a minute.
fn no_limits(settings: &mut access_requests::config::Settings) {
    settings.rate_limit_create_per_minute = 0;
    settings.max_pending_per_requester = 0;
}
