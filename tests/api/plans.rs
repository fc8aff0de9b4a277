//! Review findings about big tables: a page deep in a list is read from its index (the plan of
//! the store's own query says so), and `GET /v1/me/admin-sites` answers for an admin of more
//! sites than a statement may bind parameters.

use std::sync::{Arc, Mutex};

use access_requests::domain::RequestStatus;
use access_requests::store::requests::{self, RequestFilter};
use access_requests::store::{directory, Cursor, DbConnection, Manager};
use diesel::connection::{Connection, InstrumentationEvent};
use diesel::r2d2::ManageConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl};

use crate::helpers::{spawn_app, Backend, TestApp, JIRA};

backend_tests!(
    a_deep_page_walks_the_index_from_its_cursor,
    admin_sites_answers_for_an_admin_of_many_sites,
    admin_sites_are_found_by_index,
);

/// The numbers 1 to `n` as a table `n(i)`, on both backends.
fn numbers(n: u32) -> String {
    format!("(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) SELECT i FROM n) AS n")
}

/// A UUID-shaped id from a number: `<prefix>-0000-4000-8000-<1 followed by 11 digits of i>`.
fn numbered_id(prefix: &str, column: &str) -> String {
    format!("'{prefix}-0000-4000-8000-' || (100000000000 + {column})")
}

/// A connection of the test database that remembers the SQL text of every statement it sends.
struct Recorder {
    conn: DbConnection,
    sql: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    fn open(app: &TestApp) -> Self {
        let mut conn = Manager::new(&app.database_url)
            .connect()
            .expect("a connection of the test database");
        let sql = Arc::new(Mutex::new(Vec::new()));
        let seen = sql.clone();
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                seen.lock().expect("the recorder").push(query.to_string());
            }
        });
        Self { conn, sql }
    }

    fn execute(&mut self, sql: &str) {
        diesel::sql_query(sql)
            .execute(&mut self.conn)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The statement `work` sent (it must send exactly one) and the values it bound.
    fn statement_of(&mut self, work: impl FnOnce(&mut DbConnection)) -> (String, Vec<Bind>) {
        self.sql.lock().expect("the recorder").clear();
        work(&mut self.conn);
        let sent = self.sql.lock().expect("the recorder").clone();
        assert_eq!(sent.len(), 1, "one statement: {sent:#?}");
        let (sql, binds) = sent[0].split_once(" -- binds: ").expect("SQL and binds");
        (sql.to_owned(), Bind::parse_list(binds))
    }
}

/// A bind value of a statement, as diesel's debug text shows it, to bind again under `EXPLAIN`.
#[derive(Debug, Clone, PartialEq)]
enum Bind {
    Text(String),
    Int(i64),
}

impl Bind {
    /// `["text", 12, …]`: the values are ids, keys and numbers, none with `", "` inside.
    fn parse_list(list: &str) -> Vec<Bind> {
        let inner = list
            .trim()
            .strip_prefix('[')
            .and_then(|l| l.strip_suffix(']'))
            .unwrap_or_else(|| panic!("a bind list: {list}"));
        inner
            .split(", ")
            .map(
                |value| match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Some(text) => Bind::Text(text.to_owned()),
                    None => Bind::Int(
                        value
                            .parse()
                            .unwrap_or_else(|_| panic!("a bind: {value} in {list}")),
                    ),
                },
            )
            .collect()
    }
}

/// What the backend plans for `sql` with `binds`: one line per plan node.
fn explain(conn: &mut DbConnection, sql: &str, binds: &[Bind]) -> Vec<String> {
    #[derive(QueryableByName)]
    struct PgLine {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    #[derive(QueryableByName)]
    struct SqliteLine {
        #[diesel(sql_type = Text)]
        detail: String,
    }
    macro_rules! bound {
        ($query:expr) => {{
            let mut query = $query.into_boxed();
            for bind in binds {
                query = match bind {
                    Bind::Text(value) => query.bind::<Text, _>(value.clone()),
                    Bind::Int(value) => query.bind::<BigInt, _>(*value),
                };
            }
            query
        }};
    }
    match conn {
        DbConnection::Pg(c) => bound!(diesel::sql_query(format!("EXPLAIN {sql}")))
            .load::<PgLine>(c)
            .expect("EXPLAIN")
            .into_iter()
            .map(|l| l.line)
            .collect(),
        DbConnection::Sqlite(c) => bound!(diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}")))
            .load::<SqliteLine>(c)
            .expect("EXPLAIN QUERY PLAN")
            .into_iter()
            .map(|l| l.detail)
            .collect(),
    }
}

/// Asserts that the plan reads the rows after the cursor from the index by the row-value range
/// itself, not by reading every row of the site and discarding those before the cursor.
#[track_caller]
fn walks_the_index(backend: Backend, plan: &[String], index: &str) {
    let text = plan.join("\n");
    match backend {
        Backend::Sqlite => assert!(
            plan.iter().any(|line| line.starts_with("SEARCH")
                && line.contains(&format!("USING INDEX {index} ("))
                && line.contains("(created_at,id)<(?,?)")),
            "no index range on (created_at,id):\n{text}"
        ),
        Backend::Postgres => {
            assert!(
                text.contains(&format!("Index Scan Backward using {index}")),
                "not the index {index}:\n{text}"
            );
            let condition = plan
                .iter()
                .find(|line| line.contains("Index Cond:"))
                .unwrap_or_else(|| panic!("no Index Cond:\n{text}"));
            assert!(condition.contains("ROW(created_at, id) < ROW("), "{text}");
            assert!(
                !plan.iter().any(|l| l.contains("Filter:") && l.contains(" OR ")),
                "an OR filter on created_at:\n{text}"
            );
            assert!(!text.contains("Seq Scan"), "{text}");
        }
    }
}

async fn a_deep_page_walks_the_index_from_its_cursor(backend: Backend) {
    const ROWS: u32 = 20_000;
    let app = spawn_app(backend).await;
    let w = app.world().await;
    let mut recorder = Recorder::open(&app);
    let site = w.site_id.clone();
    recorder.execute(&format!(
        "INSERT INTO access_requests (id, site_id, product_key, kind, status, requester_account_id, \
             requester_email, requester_on_site, subject_account_id, subject_on_site, created_at, version, \
             subject_email_verified) \
         SELECT {id}, '{site}', '{JIRA}', 'on_behalf', CASE WHEN i % 3 = 0 THEN 'pending' ELSE 'approved' END, \
             'member', 'member@acme.test', true, 'subject-' || i, false, 1700000000000000 + i * 1000, 1, false \
           FROM {numbers}",
        id = numbered_id("10000000", "i"),
        numbers = numbers(ROWS),
    ));
    recorder.execute("ANALYZE");

    // A cursor in the middle: the row made at 1700000000000000 + 10000 * 1000.
    let middle = 10_000_i64;
    let cursor = Cursor {
        at: 1_700_000_000_000_000 + middle * 1000,
        id: format!("10000000-0000-4000-8000-{}", 100_000_000_000 + middle),
    };
    for (filter, index) in [
        (RequestFilter::default(), "access_requests_site_created"),
        (
            RequestFilter {
                status: Some(RequestStatus::Pending),
                ..RequestFilter::default()
            },
            "access_requests_site_status",
        ),
    ] {
        let (sql, binds) = recorder.statement_of(|c| {
            let page = requests::list_for_site(c, &site, &filter, 50, Some(cursor.clone())).expect("a page");
            assert_eq!(page.items.len(), 50);
            assert!(
                page.items.iter().all(|r| r.created_at < cursor.at),
                "only rows after the cursor"
            );
        });
        assert!(binds.contains(&Bind::Int(cursor.at)), "{binds:?}");
        let plan = explain(&mut recorder.conn, &sql, &binds);
        walks_the_index(backend, &plan, index);
    }
}

async fn admin_sites_answers_for_an_admin_of_many_sites(backend: Backend) {
    // More than SQLite binds in one statement (32766): a query with a parameter per site fails.
    const SITES: u32 = 40_000;
    let app = spawn_app(backend).await;
    let w = app.world().await;
    app.request_self(&w.site_id, &w.outsider, JIRA).await;
    app.request_for(&w.site_id, &w.member, "pending-too", JIRA).await;
    let mut recorder = Recorder::open(&app);
    recorder.execute(&format!(
        "INSERT INTO sites (id, org_id, name, url, in_rollout, opted_out, created_at) \
         SELECT {id}, '{org}', 'Bulk site ' || (100000 + i), 'https://bulk-' || i || '.example.net', false, false, \
             1700000000000000 + i \
           FROM {numbers}",
        id = numbered_id("20000000", "i"),
        org = w.org_id,
        numbers = numbers(SITES),
    ));
    recorder.execute("ANALYZE");

    let sites = app
        .get("/v1/me/admin-sites", &w.org_admin.token)
        .await
        .expect(200);
    let sites = sites.as_array().expect("a list");
    assert_eq!(sites.len(), SITES as usize + 1);
    let names: Vec<&str> = sites.iter().filter_map(|s| s["site"]["name"].as_str()).collect();
    assert!(names.windows(2).all(|pair| pair[0] <= pair[1]), "sorted by name");
    let world_site = sites
        .iter()
        .find(|s| s["site"]["id"] == w.site_id.as_str())
        .expect("the world's site");
    assert_eq!(world_site["pending_requests"], 2);
    assert_eq!(
        sites.iter().filter(|s| s["pending_requests"] != 0).count(),
        1,
        "the bulk sites have no pending requests"
    );
}

/// Where `admin_sites` must not read every row: the sites, their users and the org admins.
const BIG_TABLES: [&str; 3] = ["sites", "site_users", "org_admins"];

/// Asserts that the plan finds rows of the big tables through an index, never by reading them
/// all (one admin's sites among many).
#[track_caller]
fn finds_by_index(backend: Backend, plan: &[String]) {
    let text = plan.join("\n");
    for line in plan {
        match backend {
            // `SCAN t` reads every row of t (`USING INDEX` only orders the scan); `SEARCH` seeks.
            Backend::Sqlite => assert!(
                !line.trim_start().starts_with("SCAN "),
                "a full scan: {line}\n{text}"
            ),
            Backend::Postgres => assert!(
                !BIG_TABLES
                    .iter()
                    .any(|t| line.contains(&format!("Seq Scan on {t} "))),
                "a full scan: {line}\n{text}"
            ),
        }
    }
}

/// Many orgs of three sites, each site with an admin and a member, each org with an org admin:
/// the lookup of one admin's sites is driven by the indexes on roles and memberships.
async fn admin_sites_are_found_by_index(backend: Backend) {
    const ORGS: u32 = 20_000;
    let app = spawn_app(backend).await;
    app.world().await;
    let mut recorder = Recorder::open(&app);
    let org = |column: &str| numbered_id("30000000", column);
    let site = |column: &str| numbered_id("40000000", column);
    recorder.execute(&format!(
        "INSERT INTO orgs (id, name, verified_domains, created_at) \
         SELECT {id}, 'Org ' || i, '[]', 1700000000000000 + i FROM {numbers}",
        id = org("i"),
        numbers = numbers(ORGS),
    ));
    recorder.execute(&format!(
        "INSERT INTO sites (id, org_id, name, url, in_rollout, opted_out, created_at) \
         SELECT {id}, {org_id}, 'Site ' || i, 'https://site-' || i || '.example.net', false, false, \
             1700000000000000 + i \
           FROM {numbers}",
        id = site("i"),
        org_id = org(&format!("(i % {ORGS}) + 1")),
        numbers = numbers(ORGS * 3),
    ));
    for (role, account) in [("admin", "'site-admin-'"), ("member", "'site-member-'")] {
        recorder.execute(&format!(
            "INSERT INTO site_users (site_id, account_id, email, role, created_at, updated_at) \
             SELECT {site_id}, {account} || i, 'u' || i || '@example.net', '{role}', 1, 1 FROM {numbers}",
            site_id = site("i"),
            numbers = numbers(ORGS * 3),
        ));
    }
    recorder.execute(&format!(
        "INSERT INTO org_admins (org_id, account_id, created_at) SELECT {org_id}, 'org-admin-' || i, 1 FROM {numbers}",
        org_id = org("i"),
        numbers = numbers(ORGS),
    ));
    recorder.execute("ANALYZE");

    for (account, sites) in [("site-admin-777", 1), ("org-admin-4321", 3), ("nobody-at-all", 0)] {
        let (sql, binds) = recorder.statement_of(|c| {
            let found = directory::admin_sites(c, account).expect("the admin's sites");
            assert_eq!(found.len(), sites, "{account}");
        });
        let plan = explain(&mut recorder.conn, &sql, &binds);
        finds_by_index(backend, &plan);
    }
}
