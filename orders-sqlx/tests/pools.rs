//! `Storage::pool_stats`: the store's pools as they are, on SQLite (a file
//! and `:memory:`) and on PostgreSQL, while a connection is held.
#![cfg(all(feature = "sqlite", feature = "postgres"))]

mod common;

use std::sync::Arc;

use orders_core::ids::CustomerId;
use orders_core::ports::IdempotencyStore;
use orders_sqlx::{PoolStats, SqliteStore, Storage, WriteBatches};

fn named<'a>(stats: &'a [PoolStats], name: &str) -> &'a PoolStats {
    stats
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no pool {name} in {stats:?}"))
}

#[tokio::test]
async fn a_sqlite_file_has_its_writer_and_its_readers() {
    let (store, _dir) = common::sqlite().await;
    let storage = Storage::sqlite(store.clone());
    let stats = storage.pool_stats();
    assert_eq!(stats.len(), 2, "{stats:?}");
    let writer = *named(&stats, "writer");
    assert_eq!((writer.size, writer.max), (1, 1), "{writer:?}");
    let readers = *named(&stats, "readers");
    assert!(readers.max > 1, "{readers:?}");
    for pool in stats {
        assert!(pool.idle <= pool.size && pool.size <= pool.max, "{pool:?}");
    }
}

#[tokio::test]
async fn sqlite_counts_its_write_batches_and_postgres_has_none() {
    let (store, _dir) = common::sqlite().await;
    let storage = Storage::sqlite(store.clone());
    let before = storage.write_batches().expect("SQLite has a single writer");
    // A write (releasing a key no checkout claimed writes nothing, but it
    // goes through the writer like any other).
    let ada = CustomerId::parse("ada").unwrap();
    store.release_idempotent(&ada, "no-such-key").await.unwrap();
    let after = storage.write_batches().expect("SQLite has a single writer");
    assert_eq!(
        after,
        WriteBatches {
            batches: before.batches + 1,
            writes: before.writes + 1,
        }
    );

    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let storage = Storage::postgres(store.clone(), store.notifier().await.unwrap());
    assert_eq!(storage.write_batches(), None);
}

#[tokio::test]
async fn sqlite_in_memory_has_one_pool() {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    let stats = Storage::sqlite(store).pool_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!(stats[0].name, "writer");
}

#[tokio::test]
async fn postgres_has_its_main_pool() {
    let Some(db) = common::PgDatabase::create().await else {
        return;
    };
    let store = db.store().await;
    let storage = Storage::postgres(store.clone(), store.notifier().await.unwrap());
    let held = store.pool().acquire().await.unwrap();
    let stats = storage.pool_stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    let main = *named(&stats, "main");
    assert!(main.size >= 1 && main.size <= main.max, "{main:?}");
    assert!(
        main.size - main.idle >= 1,
        "the held connection is in use: {main:?}"
    );
    drop(held);
}
