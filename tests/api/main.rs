//! Integration tests: the real app over HTTP on a random port, against a fresh
//! database, once on SQLite and once on PostgreSQL (when `TEST_DATABASE_URL`
//! names a server, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

/// Turns each scenario `async fn name(backend: Backend)` into a module `name`
/// with two tests, `name::sqlite` and `name::postgres`. Without `TEST_DATABASE_URL`
/// (when the tests are built) the PostgreSQL test is ignored, and `cargo test`
/// counts it as such.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[actix_web::test]
                #[cfg_attr(
                    not(postgres_tests),
                    ignore = "TEST_DATABASE_URL is not set: the PostgreSQL scenarios need a server"
                )]
                async fn postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}

mod helpers;
mod process;
mod receiver;

mod audit;
mod auth;
mod blocks_settings;
mod bulk;
mod cli;
mod decisions;
mod directory;
mod durability;
mod edge;
mod expiry;
mod grants;
mod hardening;
mod listing;
mod logs;
mod migration;
mod operations;
mod outbox;
mod permissions;
mod plans;
mod requests;
mod seats;
mod webhooks;
