//! Integration tests: the real app over HTTP on a random port, against a fresh
//! database, once on SQLite and once on PostgreSQL (when `TEST_DATABASE_URL`
//! names a server, e.g. `postgres://postgres@127.0.0.1:5432/postgres`).

/// Turns each scenario `async fn name(backend: Backend)` into a module `name`
/// with two tests, `name::sqlite` and `name::postgres`. The PostgreSQL test
/// passes without running when `TEST_DATABASE_URL` is unset.
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[actix_web::test]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    if crate::helpers::Backend::postgres_url().is_none() {
                        eprintln!(concat!(
                            "skipping ",
                            stringify!($name),
                            " on PostgreSQL: TEST_DATABASE_URL is not set"
                        ));
                        return;
                    }
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
mod cli;
mod decisions;
mod directory;
mod durability;
mod listing;
mod logs;
mod operations;
mod outbox;
mod permissions;
mod requests;
mod webhooks;
