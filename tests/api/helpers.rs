//! `spawn_app`: the service on 127.0.0.1:0 against a fresh database, real
//! webhook receivers, typed HTTP helpers and a scenario builder.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use access_requests::auth::{mint_hs256, TokenClaims};
use access_requests::config::Settings;
use access_requests::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::receiver::Receiver;

/// The account listed in `PLATFORM_ADMINS`.
pub const PLATFORM_ADMIN: &str = "platform-admin";
/// The HS256 key the app verifies tokens with.
pub const JWT_SECRET: &str = "integration-tests-hs256-secret-0123456789";

pub const JIRA: &str = "jira-software";
pub const JIRA_GROUP: &str = "jira-users";
pub const CONFLUENCE: &str = "confluence";
pub const CONFLUENCE_GROUP: &str = "confluence-users";

/// How long a test waits for something asynchronous, e.g. a webhook delivery.
pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The PostgreSQL server the tests may create databases on.
    pub fn postgres_url() -> Option<String> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
    }
}

/// A database that lives as long as its test: a SQLite file in a temp dir, or
/// a PostgreSQL database of its own, dropped at the end.
enum TestDatabase {
    Sqlite { _dir: tempfile::TempDir },
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    /// Creates the database and returns it with the `DATABASE_URL` naming it.
    fn create(backend: Backend) -> (Self, String) {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temp dir");
                let path = dir.path().join("access-requests.db");
                let url = path.to_str().expect("a UTF-8 temp path").to_owned();
                (Self::Sqlite { _dir: dir }, url)
            }
            Backend::Postgres => {
                let server_url = Backend::postgres_url().expect("TEST_DATABASE_URL is set");
                let name = format!("ar_test_{}", Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&server_url)
                    .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("CREATE DATABASE");
                let mut url = reqwest::Url::parse(&server_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                (Self::Postgres { server_url, name }, url.to_string())
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { server_url, name } = self {
            // Best effort; the app still holds connections, hence FORCE.
            if let Ok(mut conn) = PgConnection::establish(server_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// A running app, its webhook receivers and its database.
pub struct TestApp {
    pub address: String,
    /// Every running instance's address (`address` is the first); several only on PostgreSQL.
    pub instances: Vec<String>,
    /// The `DATABASE_URL` of the test database, for tests that look at it directly.
    pub database_url: String,
    pub group: Receiver,
    pub billing: Receiver,
    pub notification: Receiver,
    client: reqwest::Client,
    _database: TestDatabase,
}

/// An account with a token for it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub email: String,
    pub token: String,
}

/// The usual cast: an org (verified domain `acme.test`) with one site in the
/// rollout, two products, an org admin, a site admin, a member and an outsider.
pub struct World {
    pub org_id: String,
    pub site_id: String,
    pub platform_admin: Actor,
    pub org_admin: Actor,
    pub site_admin: Actor,
    pub member: Actor,
    pub outsider: Actor,
}

/// What the app answered.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    what: String,
}

impl ApiResponse {
    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "{} answered {}: {}",
            self.what, self.status, self.text
        );
        self.body
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem with this status and `code`, leaking nothing.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(
            (self.status, self.body["code"].as_str()),
            (status, Some(code)),
            "{} answered {}: {}",
            self.what,
            self.status,
            self.text
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{} answered content-type {content_type:?}",
            self.what
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        for member in ["type", "title", "detail"] {
            assert!(
                self.body[member].is_string(),
                "{}: no {member}: {}",
                self.what,
                self.text
            );
        }
        let lower = self.text.to_lowercase();
        for leak in ["diesel", "sqlite", "postgres", "select ", "panicked", JWT_SECRET] {
            assert!(
                !lower.contains(leak),
                "{} leaks {leak:?}: {}",
                self.what,
                self.text
            );
        }
        &self.body
    }

    /// The `field` of each entry of a problem's `errors`.
    pub fn error_fields(&self) -> Vec<&str> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default()
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Like [`spawn_app`], letting the test change the settings first.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (mut app, env) = TestApp::prepare(backend);
    let mut settings =
        Settings::from_lookup(|name| env.get(name).cloned()).expect("the test settings are valid");
    tweak(&mut settings);
    app.address = start(settings).await;
    app.instances = vec![app.address.clone()];
    app
}

/// `count` instances of the service in this process on one database, each with the same
/// `tweak`ed settings: what a PostgreSQL deployment with several replicas looks like. Each
/// opens at most 6 connections, so that tests running side by side stay well within the
/// server's `max_connections`.
pub async fn spawn_instances(backend: Backend, count: usize, tweak: impl Fn(&mut Settings)) -> TestApp {
    let (mut app, env) = TestApp::prepare(backend);
    for _ in 0..count {
        let mut settings =
            Settings::from_lookup(|name| env.get(name).cloned()).expect("the test settings are valid");
        settings.database_pool_size = Some(6);
        tweak(&mut settings);
        app.instances.push(start(settings).await);
    }
    app.address = app.instances[0].clone();
    app
}

/// Builds and runs one instance; returns its base URL.
async fn start(settings: Settings) -> String {
    let application = Application::build(settings).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", application.port());
    actix_web::rt::spawn(application.run_until_stopped());
    address
}

impl TestApp {
    /// Receivers and a fresh database, and the environment that points the service at
    /// them; no service runs yet (`address` is empty until the test starts one).
    pub fn prepare(backend: Backend) -> (TestApp, HashMap<String, String>) {
        let group = Receiver::start();
        let billing = Receiver::start();
        let notification = Receiver::start();
        let (database, database_url) = TestDatabase::create(backend);
        let env: HashMap<String, String> = [
            ("DATABASE_URL", database_url),
            ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
            ("JWT_HS256_SECRET", JWT_SECRET.to_owned()),
            ("PLATFORM_ADMINS", PLATFORM_ADMIN.to_owned()),
            ("GROUP_SERVICE_URL", group.url.clone()),
            ("GROUP_SERVICE_SECRET", group.secret.clone()),
            ("BILLING_SERVICE_URL", billing.url.clone()),
            ("BILLING_SERVICE_SECRET", billing.secret.clone()),
            ("NOTIFICATION_SERVICE_URL", notification.url.clone()),
            ("NOTIFICATION_SERVICE_SECRET", notification.secret.clone()),
            ("WEBHOOK_RETRY_BASE_MS", "50".to_owned()),
            ("WEBHOOK_TIMEOUT_MS", "2000".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let app = TestApp {
            address: String::new(),
            instances: Vec::new(),
            database_url: env["DATABASE_URL"].clone(),
            group,
            billing,
            notification,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
            _database: database,
        };
        (app, env)
    }
}

/// Polls `condition` every 20 ms until it holds; fails the test after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `path` with `pairs` appended to its query string, percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return path.to_owned();
    }
    let mut url = reqwest::Url::parse("http://localhost")
        .and_then(|base| base.join(path))
        .expect("a path");
    url.query_pairs_mut().extend_pairs(pairs);
    format!("{}?{}", url.path(), url.query().unwrap_or_default())
}

/// The `id` member of a JSON object.
#[track_caller]
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// The ids of a list of JSON objects, in order.
pub fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_of).collect()
}

/// The display name every test token carries in its `name` claim.
pub fn display_name(account_id: &str) -> String {
    format!("Name of {account_id}")
}

pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn requests_path(site_id: &str) -> String {
    format!("/v1/sites/{site_id}/access-requests")
}

pub fn request_path(site_id: &str, request_id: &str) -> String {
    format!("/v1/sites/{site_id}/access-requests/{request_id}")
}

impl TestApp {
    // ---- tokens ------------------------------------------------------------

    /// Claims of a verified account, valid for ten minutes.
    pub fn claims(&self, sub: &str, email: &str) -> TokenClaims {
        let now = now_secs();
        TokenClaims {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: Some(true),
            name: Some(display_name(sub)),
            exp: now + 600,
            iat: Some(now),
            nbf: None,
            iss: None,
            aud: None,
        }
    }

    pub fn mint(&self, claims: &TokenClaims) -> String {
        mint_hs256(JWT_SECRET.as_bytes(), claims)
    }

    pub fn token(&self, sub: &str, email: &str) -> String {
        self.mint(&self.claims(sub, email))
    }

    pub fn token_unverified(&self, sub: &str, email: &str) -> String {
        self.mint(&TokenClaims {
            email_verified: Some(false),
            ..self.claims(sub, email)
        })
    }

    pub fn actor(&self, id: &str, email: &str) -> Actor {
        Actor {
            id: id.to_owned(),
            email: email.to_owned(),
            token: self.token(id, email),
        }
    }

    pub fn platform_admin(&self) -> Actor {
        self.actor(PLATFORM_ADMIN, "root@platform.test")
    }

    // ---- HTTP --------------------------------------------------------------

    /// Sends a request; `body` goes as JSON.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> ApiResponse {
        self.send_to(&self.address, method, path, token, body, headers)
            .await
    }

    /// Like [`TestApp::send`], to the instance at `base` (one of `instances`).
    pub async fn send_to(
        &self,
        base: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> ApiResponse {
        let what = format!("{method} {base}{path}");
        let mut request = self.client.request(method, format!("{base}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read(what, request).await
    }

    /// Sends raw bytes with the given content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> ApiResponse {
        let request = self
            .client
            .request(method.clone(), format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        read(format!("{method} {path}"), request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> ApiResponse {
        self.send(Method::GET, path, Some(token), None, &[]).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> ApiResponse {
        self.send(Method::POST, path, Some(token), Some(body), &[]).await
    }

    pub async fn put_json(&self, path: &str, token: &str, body: &Value) -> ApiResponse {
        self.send(Method::PUT, path, Some(token), Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> ApiResponse {
        self.send(Method::DELETE, path, Some(token), None, &[]).await
    }

    /// Follows `next_cursor` from the first page to the last, `limit` items at a time.
    pub async fn collect_pages(&self, path: &str, token: &str, limit: u32) -> Vec<Value> {
        let limit_text = limit.to_string();
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..500 {
            let mut pairs = vec![("limit", limit_text.as_str())];
            if let Some(cursor) = &cursor {
                pairs.push(("cursor", cursor));
            }
            let page = self.get(&with_query(path, &pairs), token).await.expect(200);
            let page_items = page["items"].as_array().expect("a page has items");
            assert!(
                page_items.len() <= limit as usize,
                "{path}: page over limit {limit}"
            );
            items.extend(page_items.iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("the pages of {path} never end");
    }

    // ---- directory ----------------------------------------------------------

    /// Creates an org as the platform admin and returns it.
    pub async fn create_org(&self, name: &str, verified_domains: &[&str]) -> Value {
        let body = json!({"name": name, "verified_domains": verified_domains});
        self.post_json("/v1/orgs", &self.platform_admin().token, &body)
            .await
            .expect(201)
    }

    pub async fn add_org_admin(&self, org_id: &str, account_id: &str) {
        let path = format!("/v1/orgs/{org_id}/admins/{account_id}");
        self.send(Method::PUT, &path, Some(&self.platform_admin().token), None, &[])
            .await
            .expect(204);
    }

    /// Creates a site as an org admin and returns it.
    pub async fn create_site(&self, org_id: &str, org_admin: &Actor, name: &str) -> Value {
        let body = json!({"name": name, "url": format!("https://{}.example.net", name.to_lowercase().replace(' ', "-"))});
        self.post_json(&format!("/v1/orgs/{org_id}/sites"), &org_admin.token, &body)
            .await
            .expect(201)
    }

    pub async fn put_product(&self, site_id: &str, org_admin: &Actor, key: &str, group: &str) -> ApiResponse {
        let body = json!({"name": format!("Product {key}"), "default_group": group});
        self.put_json(
            &format!("/v1/sites/{site_id}/products/{key}"),
            &org_admin.token,
            &body,
        )
        .await
    }

    /// PUTs a product whose body is the usual name and group plus `limits`
    /// (`seat_limit`, `max_duration_hours`).
    pub async fn put_product_with(
        &self,
        site_id: &str,
        org_admin: &Actor,
        key: &str,
        limits: Value,
    ) -> ApiResponse {
        let mut body = json!({"name": format!("Product {key}"), "default_group": format!("{key}-users")});
        if let (Some(body), Value::Object(limits)) = (body.as_object_mut(), limits) {
            body.extend(limits);
        }
        self.put_json(
            &format!("/v1/sites/{site_id}/products/{key}"),
            &org_admin.token,
            &body,
        )
        .await
    }

    /// The product `key` as `GET /v1/sites/{site}/products` lists it.
    pub async fn product(&self, site_id: &str, key: &str) -> Value {
        let products = self
            .get(
                &format!("/v1/sites/{site_id}/products"),
                &self.token("anyone", "anyone@elsewhere.test"),
            )
            .await
            .expect(200);
        products
            .as_array()
            .and_then(|all| all.iter().find(|p| p["product_key"] == key))
            .unwrap_or_else(|| panic!("no product {key} in {products}"))
            .clone()
    }

    /// Adds or updates `user` on the site as `admin`, with exactly `products`.
    pub async fn put_site_user(
        &self,
        site_id: &str,
        admin: &Actor,
        user: &Actor,
        role: &str,
        products: &[&str],
    ) -> ApiResponse {
        let body = json!({
            "email": user.email,
            "display_name": display_name(&user.id),
            "role": role,
            "products": products,
        });
        self.put_json(
            &format!("/v1/sites/{site_id}/users/{}", user.id),
            &admin.token,
            &body,
        )
        .await
    }

    pub async fn get_site_user(&self, site_id: &str, admin: &Actor, account_id: &str) -> ApiResponse {
        self.get(&format!("/v1/sites/{site_id}/users/{account_id}"), &admin.token)
            .await
    }

    /// Sets the site's rollout flag as the platform admin; returns the settings.
    pub async fn set_rollout(&self, site_id: &str, in_rollout: bool) -> Value {
        self.put_json(
            &format!("/v1/sites/{site_id}/rollout"),
            &self.platform_admin().token,
            &json!({"in_rollout": in_rollout}),
        )
        .await
        .expect(200)
    }

    pub async fn set_opted_out(&self, site_id: &str, admin: &Actor, opted_out: bool) -> Value {
        self.put_json(
            &format!("/v1/sites/{site_id}/settings/access-requests"),
            &admin.token,
            &json!({"opted_out": opted_out}),
        )
        .await
        .expect(200)
    }

    /// Builds the [`World`].
    pub async fn world(&self) -> World {
        let org = self.create_org("Acme", &["acme.test"]).await;
        let org_id = id_of(&org);
        let org_admin = self.actor("org-admin", "org-admin@acme.test");
        self.add_org_admin(&org_id, &org_admin.id).await;
        let site_id = self.add_site(&org_id, &org_admin, "Acme Cloud").await;
        let site_admin = self.actor("site-admin", "site-admin@acme.test");
        let member = self.actor("member", "member@acme.test");
        self.put_site_user(&site_id, &org_admin, &site_admin, "admin", &[])
            .await
            .expect(201);
        self.put_site_user(&site_id, &site_admin, &member, "member", &[])
            .await
            .expect(201);
        World {
            org_id,
            site_id,
            platform_admin: self.platform_admin(),
            org_admin,
            site_admin,
            member,
            outsider: self.actor("outsider", "outsider@gmail.test"),
        }
    }

    /// A site in the rollout with the Jira and Confluence products; returns its id.
    pub async fn add_site(&self, org_id: &str, org_admin: &Actor, name: &str) -> String {
        let site_id = id_of(&self.create_site(org_id, org_admin, name).await);
        self.set_rollout(&site_id, true).await;
        for (key, group) in [(JIRA, JIRA_GROUP), (CONFLUENCE, CONFLUENCE_GROUP)] {
            self.put_product(&site_id, org_admin, key, group)
                .await
                .expect(201);
        }
        site_id
    }

    // ---- access requests --------------------------------------------------

    pub async fn create_request(&self, site_id: &str, token: &str, body: &Value) -> ApiResponse {
        self.post_json(&requests_path(site_id), token, body).await
    }

    /// A self request that must succeed.
    pub async fn request_self(&self, site_id: &str, who: &Actor, product: &str) -> Value {
        self.create_request(site_id, &who.token, &json!({"product_key": product}))
            .await
            .expect(201)
    }

    /// An on-behalf request for `subject` (email `<subject>@elsewhere.test`) that must succeed.
    pub async fn request_for(&self, site_id: &str, who: &Actor, subject: &str, product: &str) -> Value {
        let body = json!({
            "product_key": product,
            "subject": {"account_id": subject, "email": format!("{subject}@elsewhere.test")},
        });
        self.create_request(site_id, &who.token, &body).await.expect(201)
    }

    /// POST …/{id}/{action} with a JSON body (approve, deny, cancel).
    pub async fn act(
        &self,
        site_id: &str,
        request_id: &str,
        action: &str,
        who: &Actor,
        body: &Value,
    ) -> ApiResponse {
        let path = format!("{}/{action}", request_path(site_id, request_id));
        self.post_json(&path, &who.token, body).await
    }

    pub async fn approve(&self, site_id: &str, request_id: &str, who: &Actor) -> Value {
        self.act(site_id, request_id, "approve", who, &json!({}))
            .await
            .expect(200)
    }

    pub async fn deny(&self, site_id: &str, request_id: &str, who: &Actor, message: Option<&str>) -> Value {
        let body = match message {
            Some(message) => json!({"message": message}),
            None => json!({}),
        };
        self.act(site_id, request_id, "deny", who, &body)
            .await
            .expect(200)
    }

    /// POST /v1/sites/{site}/grants/{grant}/revoke as `who`.
    pub async fn revoke(&self, site_id: &str, grant_id: &str, who: &Actor) -> ApiResponse {
        let path = format!("/v1/sites/{site_id}/grants/{grant_id}/revoke");
        self.post_json(&path, &who.token, &json!({})).await
    }

    /// POST /v1/sites/{site}/access-requests/bulk as `who`, with extra headers.
    pub async fn bulk(
        &self,
        site_id: &str,
        who: &Actor,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> ApiResponse {
        let path = format!("{}/bulk", requests_path(site_id));
        self.send(Method::POST, &path, Some(&who.token), Some(body), headers)
            .await
    }

    pub async fn cancel(&self, site_id: &str, request_id: &str, who: &Actor) -> ApiResponse {
        self.act(site_id, request_id, "cancel", who, &json!({})).await
    }

    /// Lists a site's requests (all pages) as `admin`, with extra query pairs.
    pub async fn list_requests(&self, site_id: &str, admin: &Actor, filters: &[(&str, &str)]) -> Vec<Value> {
        let path = with_query(&requests_path(site_id), filters);
        self.collect_pages(&path, &admin.token, 200).await
    }

    /// Audit events of a site (all pages), optionally of one request.
    pub async fn audit_events(&self, site_id: &str, admin: &Actor, request_id: Option<&str>) -> Vec<Value> {
        let base = format!("/v1/sites/{site_id}/audit-events");
        let path = match request_id {
            Some(id) => with_query(&base, &[("request_id", id)]),
            None => base,
        };
        self.collect_pages(&path, &admin.token, 200).await
    }

    /// Every webhook delivery of one request, as the platform admin sees them.
    pub async fn deliveries_for(&self, request_id: &str) -> Vec<Value> {
        self.collect_pages("/v1/webhook-deliveries", &self.platform_admin().token, 200)
            .await
            .into_iter()
            .filter(|d| d["request_id"] == request_id)
            .collect()
    }

    /// Waits until the request has at least `at_least` deliveries, all of
    /// them `delivered`; returns them.
    pub async fn wait_delivered(&self, request_id: &str, at_least: usize) -> Vec<Value> {
        let mut deliveries = Vec::new();
        wait_for("webhook deliveries", WAIT, async || {
            deliveries = self.deliveries_for(request_id).await;
            deliveries.len() >= at_least && deliveries.iter().all(|d| d["status"] == "delivered")
        })
        .await;
        deliveries
    }
}

async fn read(what: String, request: reqwest::RequestBuilder) -> ApiResponse {
    let response = request.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    ApiResponse {
        status,
        headers,
        body,
        text,
        what,
    }
}
