//! A fresh, migrated PostgreSQL database for the unit tests that read a
//! statement's plan: a new database has no statistics, which is when the
//! planner is most easily misled.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use super::PgStore;

/// The names of the databases [`Scratch`] creates start with this, then
/// the Unix second of their creation.
const PREFIX: &str = "orders_unit_";
/// A scratch database older than this was left by a run that was killed
/// (a panicking test drops its own): the next [`Scratch::create`] drops it.
const STALE_SECS: u64 = 3600;

/// A database created for one test; [`Scratch::drop_database`] removes it,
/// and so does dropping it (a test that panicked).
pub(crate) struct Scratch {
    admin: PgConnection,
    admin_url: String,
    name: String,
    /// Options that connect to it.
    pub(crate) options: PgConnectOptions,
    /// The store, migrated.
    pub(crate) store: PgStore,
    dropped: bool,
}

impl Scratch {
    /// `None` when `ORDERS_TEST_PG_URL` is not set (which fails the test
    /// when `ORDERS_REQUIRE_PG` is). Drops the scratch databases older
    /// than an hour first.
    pub(crate) async fn create() -> Option<Self> {
        let Ok(base) = std::env::var("ORDERS_TEST_PG_URL") else {
            assert!(
                std::env::var_os("ORDERS_REQUIRE_PG").is_none(),
                "ORDERS_REQUIRE_PG is set but ORDERS_TEST_PG_URL is not"
            );
            return None;
        };
        let mut admin = PgConnection::connect(&base).await.expect("admin");
        let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
        sweep(&mut admin, since.as_secs()).await;
        let name = format!(
            "{PREFIX}{}_{}_{}",
            since.as_secs(),
            std::process::id(),
            since.subsec_nanos()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create");
        let options: PgConnectOptions = base.parse().expect("url");
        let options = options.database(&name);
        let store = PgStore::connect_with(options.clone(), PgPoolOptions::new())
            .await
            .expect("store");
        store.migrate().await.expect("migrate");
        Some(Self {
            admin,
            admin_url: base,
            name,
            options,
            store,
            dropped: false,
        })
    }

    /// Closes the store and drops the database.
    pub(crate) async fn drop_database(mut self) {
        self.store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(drop_sql(&self.name)))
            .execute(&mut self.admin)
            .await
            .expect("drop");
        self.dropped = true;
    }
}

impl Drop for Scratch {
    /// A test that panicked before [`Scratch::drop_database`]: the database
    /// is dropped on a thread with a runtime of its own (this may run
    /// inside the test's runtime, which cannot be blocked on).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (url, sql) = (self.admin_url.clone(), drop_sql(&self.name));
        let done = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        });
        let _ = done.join();
    }
}

fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Drops the scratch databases created more than [`STALE_SECS`] before
/// `now`; another run's younger ones are left alone.
async fn sweep(admin: &mut PgConnection, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
            .bind(PREFIX)
            .fetch_all(&mut *admin)
            .await
            .expect("list scratch databases");
    for name in names {
        let born = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if born + STALE_SECS < now {
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop_sql(&name)))
                .execute(&mut *admin)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exists(admin: &mut PgConnection, name: &str) -> bool {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(admin)
            .await
            .expect("pg_database")
    }

    #[tokio::test]
    async fn neither_a_panicking_test_nor_a_killed_run_leaves_its_database() {
        let Some(mut first) = Scratch::create().await else {
            return;
        };
        // What a run killed two hours ago left.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let stale = format!("{PREFIX}{}_0_0", now - 7200);
        let young = format!("{PREFIX}{}_0_0", now - 60);
        for name in [&stale, &young] {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut first.admin)
                .await
                .expect("create");
        }
        let name = first.name.clone();
        let panicked = tokio::spawn(async move {
            let _db = first;
            panic!("a test that fails");
        })
        .await;
        assert!(panicked.is_err_and(|e| e.is_panic()));

        let mut second = Scratch::create().await.expect("the server is still there");
        assert!(
            !exists(&mut second.admin, &name).await,
            "the panicking test's database is gone"
        );
        assert!(
            !exists(&mut second.admin, &stale).await,
            "the killed run's database is swept"
        );
        assert!(
            exists(&mut second.admin, &young).await,
            "another run's may still be in use"
        );
        sqlx::query(sqlx::AssertSqlSafe(drop_sql(&young)))
            .execute(&mut second.admin)
            .await
            .expect("drop");
        second.drop_database().await;
    }
}
