//! Test databases: a SQLite file in a temporary folder, and a fresh
//! PostgreSQL database per test, dropped afterwards (also when the test
//! fails: the guard's `Drop` runs while the panic unwinds).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use orders_core::ports::Store;
use orders_sqlx::SqliteStore;

#[cfg(feature = "postgres")]
mod pg;
// Not every test file uses it.
#[cfg(feature = "postgres")]
#[allow(unused_imports)]
pub use pg::*;

/// A migrated SQLite store on a file in a temporary folder (removed with
/// the returned guard).
pub async fn sqlite() -> (Arc<SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("orders.db").display());
    let store = SqliteStore::connect(&url).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    (Arc::new(store), dir)
}

/// The store as the port.
pub fn dyn_store<S: Store + 'static>(store: Arc<S>) -> Arc<dyn Store> {
    store
}
