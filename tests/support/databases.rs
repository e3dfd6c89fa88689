//! The job database a test runs on: a SQLite file in a temporary directory, or a database of
//! its own in the test world's PostgreSQL (created for the test, dropped after it). A test
//! that asks for PostgreSQL fails when the test world has none — it never skips.
#![allow(dead_code)]

use std::path::Path;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one test; dropped (PostgreSQL) with this value.
pub struct TestDatabase {
    pub url: String,
    /// PostgreSQL: the server's maintenance URL and this database's name.
    postgres: Option<(String, String)>,
}

/// The test world's PostgreSQL URL, from `$FLEET_TEST_WORLD_ENV` (as scripts/test-world.sh
/// writes it).
pub fn postgres_url() -> String {
    let file = std::env::var("FLEET_TEST_WORLD_ENV").unwrap_or_else(|_| "/var/lib/fleetflow-test-world/env".into());
    let env = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("the test world is not running ({file}: {e}); start it with scripts/test-world.sh"));
    env.lines()
        .find_map(|line| line.strip_prefix("FLEET_TEST_POSTGRES_URL="))
        .map(|v| v.trim_matches('\'').to_owned())
        .unwrap_or_else(|| panic!("{file} has no FLEET_TEST_POSTGRES_URL: the test world predates PostgreSQL"))
}

fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

impl TestDatabase {
    /// A new, empty database on `backend` (`dir` holds the SQLite file).
    pub async fn create(backend: Backend, dir: &Path) -> TestDatabase {
        match backend {
            Backend::Sqlite => TestDatabase {
                url: format!("sqlite://{}", dir.join("fleet.db").display()),
                postgres: None,
            },
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = with_database(&postgres_url(), "postgres");
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let name = format!("test_{}_{nanos}", std::process::id());
                let mut db = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("the test world's PostgreSQL answers (scripts/test-world.sh starts it)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut db)
                    .await
                    .expect("create the test's database");
                db.close().await.ok();
                TestDatabase {
                    url: with_database(&postgres_url(), &name),
                    postgres: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // On a thread of its own: the test's runtime may be the one dropping this.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async {
                use sqlx::Connection;
                let mut db = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut db)
                    .await?;
                db.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop a test database: {dropped:?}");
        }
    }
}

/// Runs `$test(backend)` once per backend, as `$test::sqlite` and `$test::postgres` (on a
/// two-thread runtime).
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {$(
        mod $test {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$test($crate::databases::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$test($crate::databases::Backend::Postgres).await
            }
        }
    )*};
}
