//! Storage: one diesel code path over SQLite and PostgreSQL.

pub mod attempts;
pub mod context;
pub mod cursor;
pub mod directory;
pub mod grants;
pub mod models;
pub mod outbox;
pub mod records;
pub mod requests;
pub mod schema;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tokio::sync::Semaphore;

pub use cursor::{Cursor, Page};

use crate::config::is_postgres_url;
use crate::error::{ApiError, ApiResult};

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// Runs `$body` with `$c` bound to the backend's own connection: for the few statements
/// (`ON CONFLICT`, `RETURNING` of whole rows) that diesel offers per backend but not on the enum.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Pg($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The advisory lock key that serializes migrations across instances.
const MIGRATION_LOCK: i64 = 0x6163_6365_7373;
/// How long start-up waits for the first connection before it gives up.
const STARTUP_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request waits for a pooled connection before it answers 503.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(5);

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
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    /// A connection that a panic left mid-transaction, or whose server went away, never
    /// goes back to the pool (diesel's own guard).
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;

/// The database handle shared by handlers, jobs and the webhook worker.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    /// One permit per pooled connection: work waits here, as a cheap future, until a
    /// connection is free, instead of as a parked blocking thread per waiting request.
    permits: Arc<Semaphore>,
    postgres: bool,
}

impl Db {
    /// Opens the pool and brings the schema up to date; gives up within about two seconds when
    /// the database cannot be reached.
    pub fn connect(url: &str, pool_size: Option<u32>) -> anyhow::Result<Self> {
        let postgres = is_postgres_url(url);
        let size = pool_size.unwrap_or_else(|| default_pool_size(postgres));
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            // A checkout needs no extra round trip: broken connections are caught by `has_broken`.
            .test_on_check_out(false)
            // Start-up reports one line itself; the pool's own retries would log every few ms.
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build_unchecked(Manager::new(url));
        let db = Self {
            pool,
            permits: Arc::new(Semaphore::new(size as usize)),
            postgres,
        };
        db.migrate()?;
        Ok(db)
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Runs pending migrations of this backend.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get_timeout(STARTUP_CONNECT_TIMEOUT).map_err(|_| {
            anyhow::anyhow!(
                "DATABASE_URL: cannot connect to the database within {} s",
                STARTUP_CONNECT_TIMEOUT.as_secs()
            )
        })?;
        if !self.postgres {
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
            return Ok(());
        }
        // Replicas starting together take turns: the first migrates, the others find nothing to do.
        conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .context("DATABASE_URL: cannot lock the schema for migrations")?;
        let result = conn
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(drop)
            .map_err(|e| anyhow::anyhow!("migrations failed: {e}"));
        conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
        result
    }

    /// Runs blocking database work off the async workers, on a blocking thread only once a
    /// connection is free (so there are never more such threads than connections).
    pub async fn run<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let unavailable = || ApiError::Unavailable("the database is unavailable; try again".to_owned());
        let permit = tokio::time::timeout(CHECKOUT_TIMEOUT, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| {
                tracing::error!("no database connection within {} s", CHECKOUT_TIMEOUT.as_secs());
                unavailable()
            })?
            .map_err(|_| unavailable())?;
        let pool = self.pool.clone();
        actix_web::rt::task::spawn_blocking(move || {
            let _permit = permit;
            let mut conn = pool.get().map_err(|e| {
                tracing::error!(error = %e, "no database connection");
                unavailable()
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
        self.run(move |conn| transaction(conn, work)).await
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

/// PostgreSQL: twice the cores plus one (the usual sizing for a pool whose work waits on the
/// network and the disk), at least 4. On a 2-core machine 5 connections serve as many requests
/// a second as 16 (docs/performance.md), and each idle connection costs about 2 MiB. SQLite has
/// one writer, and one connection keeps every transaction serializable without lock upgrades
/// failing with SQLITE_BUSY.
fn default_pool_size(postgres: bool) -> u32 {
    if postgres {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        u32::try_from(2 * cores + 1).unwrap_or(u32::MAX).max(4)
    } else {
        1
    }
}

type TxManager = <DbConnection as Connection>::TransactionManager;

/// Runs `work` in one transaction and commits it, or rolls it back on error; inside another
/// transaction it is a savepoint. On SQLite the outermost transaction takes the write lock at
/// once (`BEGIN IMMEDIATE`): a transaction that reads and then writes can then never fail to
/// upgrade its lock while another connection writes.
pub fn transaction<T, F>(conn: &mut DbConnection, work: F) -> ApiResult<T>
where
    F: FnOnce(&mut DbConnection) -> ApiResult<T>,
{
    let nested = TxManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .ok()
        .flatten()
        .is_some();
    match conn {
        DbConnection::Sqlite(sqlite) if !nested => {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
        }
        _ => TxManager::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            TxManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            TxManager::rollback_transaction(conn)?;
            Err(error)
        }
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

/// The API's form of a time, as stored.
pub fn to_micros(at: chrono::DateTime<chrono::Utc>) -> i64 {
    at.timestamp_micros()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password() {
        assert_eq!(redact_url("postgres://u:pw@h/db"), "postgres://u:***@h/db");
    }

    #[test]
    fn a_failed_transaction_changes_nothing_and_the_connection_stays_usable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(dir.path().join("t.db").to_str().unwrap(), None).unwrap();
        let mut conn = db.pool.get().unwrap();
        let result: ApiResult<()> = transaction(&mut conn, |c| {
            c.batch_execute("INSERT INTO requester_locks VALUES ('a', 1)")?;
            Err(ApiError::BadRequest("no".into()))
        });
        assert!(result.is_err());
        let count: i64 = schema::requester_locks::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(count, 0);
        transaction(&mut conn, |c| {
            c.batch_execute("INSERT INTO requester_locks VALUES ('a', 1)")?;
            Ok(())
        })
        .unwrap();
        let count: i64 = schema::requester_locks::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn a_panic_inside_a_transaction_never_returns_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(dir.path().join("t.db").to_str().unwrap(), Some(1)).unwrap();
        let pool = db.pool.clone();
        let panicked = std::thread::spawn(move || {
            let mut conn = pool.get().unwrap();
            let _: ApiResult<()> = transaction(&mut conn, |c| {
                c.batch_execute("INSERT INTO requester_locks VALUES ('a', 1)")?;
                panic!("inside a transaction");
            });
        })
        .join();
        assert!(panicked.is_err());
        // The only connection was dropped, not reused mid-transaction: a fresh one sees no row
        // and is not inside a transaction.
        let mut conn = db.pool.get().unwrap();
        let count: i64 = schema::requester_locks::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(count, 0);
        transaction(&mut conn, |_| Ok(())).unwrap();
    }
}
