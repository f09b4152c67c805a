//! SQLite checkpoints run off the writer's path: the writer leaves its log
//! to the store's own checkpoint task, which copies committed writes into
//! the database file soon after they commit, and keeps the log from
//! growing under a steady stream of writes.
#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use orders_core::ids::CustomerId;
use orders_core::money::Currency;
use orders_core::testkit::engine;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

/// The carts in the database file alone, without its log: a copy of the
/// file opened on its own holds only what a checkpoint copied. `None`
/// while the copy cannot be read (no table yet, or caught mid-copy).
async fn carts_in_file(db: &Path, scratch: &Path) -> Option<i64> {
    std::fs::copy(db, scratch).ok()?;
    let mut conn = SqliteConnectOptions::new()
        .filename(scratch)
        .read_only(true)
        .connect()
        .await
        .ok()?;
    let count = sqlx::query_scalar("SELECT count(*) FROM orders_carts")
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_writes_reach_the_database_file_without_the_writer_checkpointing() {
    let (store, dir) = common::sqlite().await;
    let db = dir.path().join("orders.db");
    let scratch_dir = tempfile::tempdir().expect("scratch");
    let scratch = scratch_dir.path().join("copy.db");

    let limit: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(store.pool())
        .await
        .expect("writer's autocheckpoint");
    assert_eq!(limit, 4_000, "the writer checkpoints only now and then");

    let (orders, _) = engine(store.clone());
    const CARTS: i64 = 300;
    let tasks: Vec<_> = (0..CARTS)
        .map(|n| {
            let orders = orders.clone();
            tokio::spawn(async move {
                let who = CustomerId::parse(&format!("ckpt-{n}")).expect("id");
                orders
                    .create_cart(&who, Some(Currency::USD))
                    .await
                    .expect("cart");
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    // Far below the writer's own limit: only the store's task can have
    // copied these into the file.
    let started = Instant::now();
    let mut seen = None;
    while started.elapsed() < Duration::from_secs(10) {
        seen = carts_in_file(&db, &scratch).await;
        if seen == Some(CARTS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen, Some(CARTS), "the database file, without its log");
    println!("checkpointed within {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_stays_bounded_under_a_steady_stream_of_commits() {
    const WRITER_LIMIT: u64 = 4_000;
    let (store, dir) = common::sqlite().await;
    let wal = dir.path().join("orders.db-wal");
    let (orders, _) = engine(store.clone());
    // One commit per cart, each of at least two pages (the table's and its
    // index's): 20,000 pages or more in all, five times the writer's limit.
    const CARTS: u64 = 10_000;
    let mut largest = 0u64;
    for n in 0..CARTS {
        let who = CustomerId::parse(&format!("steady-{n}")).expect("id");
        orders
            .create_cart(&who, Some(Currency::USD))
            .await
            .expect("cart");
        if n % 100 == 0 {
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
    }
    largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    let page_size: u64 = sqlx::query_scalar::<_, i64>("PRAGMA page_size")
        .fetch_one(store.pool())
        .await
        .expect("page size") as u64;
    // A frame is a page and a 24-byte header. The writer's checkpoint may
    // find the store's task copying (or a reader on an old snapshot) and
    // leave the log to grow until a later commit tries again, so the bound
    // is looser than the limit; without the writer's checkpoints the log
    // would hold every page of every commit.
    let log_pages = largest / (page_size + 24);
    println!("{CARTS} commits, the log at most {log_pages} pages");
    assert!(
        log_pages <= 2 * WRITER_LIMIT,
        "the log grew to {log_pages} pages for {CARTS} commits"
    );
}
