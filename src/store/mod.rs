//! Storage: one diesel code path over SQLite and PostgreSQL.

pub mod directory;
pub mod models;
pub mod outbox;
pub mod records;
pub mod requests;
pub mod schema;

use std::time::Duration;

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::is_postgres_url;
use crate::error::{ApiError, ApiResult};

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The advisory lock key that serializes migrations across instances.
const MIGRATION_LOCK: i64 = 0x6163_6365_7373;

/// Opens connections of the backend the URL names (never guessing by trial).
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    postgres: bool,
}

impl Manager {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            postgres: is_postgres_url(url),
        }
    }
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        if self.postgres {
            let conn = diesel::PgConnection::establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
            return Ok(DbConnection::Pg(conn));
        }
        let mut conn =
            diesel::SqliteConnection::establish(&self.url).map_err(r2d2::Error::ConnectionError)?;
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
        )
        .map_err(r2d2::Error::QueryError)?;
        Ok(DbConnection::Sqlite(conn))
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConnection) -> bool {
        false
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The database handle shared by handlers and the webhook worker.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    postgres: bool,
}

impl Db {
    /// Opens the pool and brings the schema up to date.
    pub fn connect(url: &str) -> anyhow::Result<Self> {
        let postgres = is_postgres_url(url);
        // SQLite allows one writer at a time; one connection avoids lock upgrades
        // failing with SQLITE_BUSY and keeps every transaction serializable.
        let size = if postgres { 10 } else { 1 };
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(if postgres { 2 } else { 1 }))
            .connection_timeout(Duration::from_secs(10))
            .build(Manager::new(url))
            .with_context(|| format!("DATABASE_URL: cannot open the database {}", redact_url(url)))?;
        let db = Self { pool, postgres };
        db.migrate()?;
        Ok(db)
    }

    /// Runs pending migrations of this backend.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self
            .pool
            .get()
            .context("DATABASE_URL: cannot connect to the database")?;
        if !self.postgres {
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
            return Ok(());
        }
        // Replicas starting together take turns: the first migrates, the others find nothing to do.
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
        let result = conn
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        result
    }

    /// Runs blocking database work off the async workers.
    pub async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| {
                tracing::error!(error = %e, "no database connection");
                ApiError::Unavailable("the database is unavailable; try again".to_owned())
            })?;
            work(&mut conn)
        })
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("database task failed: {e}")))?
    }

    /// Runs `work` in one transaction.
    pub async fn transaction<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.run(move |conn| conn.transaction(work)).await
    }

    /// True when the database answers a trivial query within `within`. The checkout gets
    /// no longer than that either, so an unreachable database is reported in time instead
    /// of after the pool's connection timeout.
    pub async fn ping(&self, within: Duration) -> bool {
        let pool = self.pool.clone();
        let check = actix_web::rt::task::spawn_blocking(move || {
            pool.get_timeout(within)
                .is_ok_and(|mut conn| conn.batch_execute("SELECT 1").is_ok())
        });
        matches!(tokio::time::timeout(within, check).await, Ok(Ok(true)))
    }
}

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Microseconds since the Unix epoch, the stored form of every time.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The stored form of a time, as the API shows it.
pub fn to_datetime(micros: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// A position in a list ordered newest first by (time, id): opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: String,
}

impl Cursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}:{}", self.at, self.id))
    }

    pub fn decode(raw: &str) -> ApiResult<Self> {
        use base64::Engine;
        let bad = || ApiError::BadRequest("`cursor` is not a cursor this service gave out".to_owned());
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (at, id) = text.split_once(':').ok_or_else(bad)?;
        let at = at.parse().map_err(|_| bad())?;
        uuid::Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            at,
            id: id.to_owned(),
        })
    }
}

/// One page of a list and where the next one starts.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `limit + 1`: the extra one says that more follow.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Cursor) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| key(last).encode())
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Keeps the rows strictly after `cursor` in (time desc, id desc) order.
macro_rules! after_cursor {
    ($query:expr, $at:expr, $id:expr, $cursor:expr) => {
        match $cursor {
            Some(c) => $query.filter($at.lt(c.at).or($at.eq(c.at).and($id.lt(c.id)))),
            None => $query,
        }
    };
}
pub(crate) use after_cursor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let c = Cursor {
            at: 1_700_000_000_000_000,
            id: uuid::Uuid::new_v4().to_string(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in ["", "!!", "bm9wZQ", "MTox"] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let key = |n: &i64| Cursor {
            at: *n,
            id: uuid::Uuid::nil().to_string(),
        };
        let page = Page::from_rows(vec![5, 4, 3], 2, key);
        assert_eq!(page.items, vec![5, 4]);
        assert!(page.next_cursor.is_some());
        let page = Page::from_rows(vec![5, 4], 2, key);
        assert!(page.next_cursor.is_none());
    }

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }
}
