//! The mail section of the conformance kit on SQLite (a file and
//! `:memory:`) and on PostgreSQL (a fresh database).
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::ports::MailboxStore;
use orders_sqlx::SqliteStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_keeps_mails_as_the_port_says() {
    let (store, _dir) = common::sqlite().await;
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_in_memory_keeps_mails_as_the_port_says() {
    let store = SqliteStore::connect("sqlite::memory:").await.expect("open");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_mails_as_the_port_says() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    orders_core::testkit::run_mails(|| {
        let store = store.clone();
        async move { store as Arc<dyn MailboxStore> }
    })
    .await;
}
