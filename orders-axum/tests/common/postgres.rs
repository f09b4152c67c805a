//! A fresh PostgreSQL database per test, dropped at the end. Included with
//! `#[path]` by the tests that need it (the `common` helpers build without
//! a database).
//!
//! Skipped (`None`) unless `ORDERS_TEST_PG_URL` or `ORDERS_REQUIRE_PG=1` is
//! set; with them, an unreachable server fails the test.

use sqlx::{Connection, PgConnection};

/// A database of its own on the test server.
pub(crate) struct Database {
    admin: String,
    name: String,
    /// Its URL.
    pub(crate) url: String,
}

impl Database {
    /// A new database named after `purpose`, or `None` when PostgreSQL
    /// tests are not asked for.
    pub(crate) async fn create(purpose: &str) -> Option<Self> {
        let configured = std::env::var("ORDERS_TEST_PG_URL").ok();
        let required = std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1");
        if configured.is_none() && !required {
            println!("skipped: set ORDERS_TEST_PG_URL (or ORDERS_REQUIRE_PG=1) to run it");
            return None;
        }
        let admin =
            configured.unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        let name = format!(
            "orders_test_{purpose}_{}",
            orders_core::ids::WebhookId::generate()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        let (server, _) = admin.rsplit_once('/').expect("a URL with a database");
        let url = format!("{server}/{name}");
        Some(Self { admin, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // On a thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    if let Ok(mut conn) = PgConnection::connect(&admin).await {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
        })
        .join();
    }
}
