//! A fresh PostgreSQL database per test (the `postgres` feature).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use orders_sqlx::{PgStore, Storage};
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection};

/// The server tests connect to, and the database they connect to first.
pub fn pg_base_url() -> String {
    std::env::var("ORDERS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether an unreachable server fails the test instead of skipping it.
fn pg_required() -> bool {
    std::env::var("ORDERS_REQUIRE_PG").is_ok_and(|v| v == "1")
}

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl PgDatabase {
    /// Creates `orders_test_<unix seconds>_<random>`, first dropping such
    /// databases left over (older than an hour) by runs that were killed.
    /// `None` (after saying so) when the server is unreachable, unless
    /// `ORDERS_REQUIRE_PG=1`.
    pub async fn create() -> Option<Self> {
        let admin_url = pg_base_url();
        let connect =
            tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url)).await;
        let mut admin = match connect {
            Ok(Ok(conn)) => conn,
            failure => {
                let why = match failure {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                if pg_required() {
                    panic!(
                        "PostgreSQL is required (ORDERS_REQUIRE_PG=1) but unreachable at {admin_url}: {why}"
                    );
                }
                println!(
                    "PostgreSQL tests skipped: set ORDERS_TEST_PG_URL or start PostgreSQL ({why})"
                );
                return None;
            }
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'orders\\_test\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .expect("list databases");
        for name in stale {
            let born = name
                .split('_')
                .nth(2)
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(0);
            if born + 3600 < now {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let name = format!("orders_test_{now}_{}_{nanos}", std::process::id());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        Some(Self {
            name,
            url,
            admin_url,
        })
    }

    /// A migrated store on this database.
    pub async fn store(&self) -> Arc<PgStore> {
        let store = PgStore::connect(&self.url).await.expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(store)
    }

    /// A migrated store with a pool of `connections`.
    pub async fn store_with(&self, connections: u32) -> Arc<PgStore> {
        let options = self.url.parse().expect("url");
        let store =
            PgStore::connect_with(options, PgPoolOptions::new().max_connections(connections))
                .await
                .expect("connect");
        store.migrate().await.expect("migrate");
        Arc::new(store)
    }

    /// A migrated [`Storage`] (store and notifier) on this database.
    pub async fn storage(&self) -> Storage {
        let storage = Storage::open(&self.url).await.expect("open");
        storage.migrate().await.expect("migrate");
        storage
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside a runtime (at the end of a test): do the work
        // on a thread of its own with a runtime of its own, and wait for it.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = done.join();
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
