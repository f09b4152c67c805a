//! A fresh, migrated PostgreSQL database for the unit tests that read a
//! statement's plan: a new database has no statistics, which is when the
//! planner is most easily misled.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection};

use super::PgStore;

/// A database created for one test; [`Scratch::drop_database`] removes it.
pub(crate) struct Scratch {
    admin: PgConnection,
    name: String,
    /// Options that connect to it.
    pub(crate) options: PgConnectOptions,
    /// The store, migrated.
    pub(crate) store: PgStore,
}

impl Scratch {
    /// `None` when `ORDERS_TEST_PG_URL` is not set (which fails the test
    /// when `ORDERS_REQUIRE_PG` is).
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
        let name = format!(
            "orders_unit_{}_{}_{}",
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
            name,
            options,
            store,
        })
    }

    /// Closes the store and drops the database.
    pub(crate) async fn drop_database(mut self) {
        self.store.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut self.admin)
        .await
        .expect("drop");
    }
}
