//! The writer task on its own: callers that give up, panics, full
//! batches, a runtime that went, a database it cannot reach, another
//! connection's write lock.

use super::*;
use crate::sqlite::inline;
use futures_util::FutureExt;
use sqlx::sqlite::SqlitePoolOptions;

/// An in-memory database of one table `t (v)`, on a pool of one
/// connection kept open.
async fn memory() -> SqlitePool {
    database("sqlite::memory:").await
}

/// The database at `url` with one table `t (v)`, on a pool of one
/// connection.
async fn database(url: &str) -> SqlitePool {
    use std::str::FromStr;
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).expect("options");
    database_with(options).await
}

/// As [`database`], opened with `options`.
async fn database_with(options: sqlx::sqlite::SqliteConnectOptions) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await
        .expect("the database");
    sqlx::query("CREATE TABLE t (v INTEGER NOT NULL)")
        .execute(&pool)
        .await
        .expect("the table");
    pool
}

async fn insert(batcher: &Batcher, v: i64) -> Result<(), StoreError> {
    batcher
        .one("v", v, |conn, v| {
            inline::Stmt::new("INSERT INTO t (v) VALUES (?)")
                .bind(*v)
                .execute(conn)?;
            Ok(())
        })
        .await
}

/// Inserts `v`, then panics.
async fn insert_then_panic(batcher: &Batcher, v: i64) -> Result<(), StoreError> {
    batcher
        .several("v", v, |conn, v| {
            inline::Stmt::new("INSERT INTO t (v) VALUES (?)")
                .bind(*v)
                .execute(conn)?;
            if *v > 0 {
                panic!("a bug in a write");
            }
            Ok(())
        })
        .await
}

async fn values(pool: &SqlitePool) -> Vec<i64> {
    sqlx::query_scalar("SELECT v FROM t ORDER BY v")
        .fetch_all(pool)
        .await
        .expect("the values")
}

#[tokio::test]
async fn a_write_whose_caller_gave_up_still_runs_and_commits() {
    let pool = memory().await;
    let batcher = Batcher::new(pool.clone(), true, None);
    // Polled once, which hands it to the writer task, then dropped.
    assert!(insert(&batcher, 1).now_or_never().is_none());
    // Writes run in the order they came: by the time the next one is
    // answered, the one before it has committed.
    insert(&batcher, 2).await.expect("the second write");
    assert_eq!(values(&pool).await, [1, 2]);
    assert_eq!(batcher.committed().writes, 2);
}

#[tokio::test]
async fn a_panicking_write_panics_its_caller_and_is_rolled_back_alone() {
    let pool = memory().await;
    let batcher = Batcher::new(pool.clone(), true, None);
    // All three are handed over in one poll, before the writer task
    // runs (one thread): one batch.
    let (before, panicked, after) = tokio::join!(
        insert(&batcher, 1),
        AssertUnwindSafe(insert_then_panic(&batcher, 2)).catch_unwind(),
        insert(&batcher, 3),
    );
    let panic = panicked.expect_err("the caller of the write that panicked panics");
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"a bug in a write"));
    before.expect("the write before it");
    after.expect("the write after it");
    assert_eq!(values(&pool).await, [1, 3]);
    // The write before it was in its batch when it was rolled back (the
    // batch may have closed after it: capturing a backtrace can take
    // longer than a batch stays open).
    assert_eq!(batcher.committed().writes, 2);
}

#[tokio::test]
async fn a_full_batch_commits_and_the_writes_waiting_go_in_the_next() {
    let pool = memory().await;
    let batcher = Batcher::new(pool.clone(), false, None);
    // One more than a batch holds, all handed over before the writer
    // task runs (one thread).
    let writes = (0..=MAX_WRITES as i64).map(|v| insert(&batcher, v));
    let answers = futures_util::future::join_all(writes).await;
    assert!(answers.iter().all(Result::is_ok), "{answers:?}");
    assert_eq!(
        batcher.committed(),
        WriteBatches {
            batches: 2,
            writes: MAX_WRITES as u64 + 1
        }
    );
    // The writer is free again.
    insert(&batcher, 1000).await.expect("a write after them");
    assert_eq!(values(&pool).await.len(), MAX_WRITES + 2);
}

#[test]
fn a_writer_whose_runtime_has_gone_is_started_again() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    // A file: a connection to `:memory:` given back to the pool by a
    // task of the runtime that goes would take its database with it.
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let first = runtime();
    let pool = first.block_on(database(&url));
    let batcher = Batcher::new(pool.clone(), true, None);
    first
        .block_on(insert(&batcher, 1))
        .expect("the first write");
    // The writer task goes with the runtime it started on.
    drop(first);
    let second = runtime();
    second
        .block_on(insert(&batcher, 2))
        .expect("a write on another runtime");
    assert_eq!(second.block_on(values(&pool)), [1, 2]);
}

#[tokio::test]
async fn a_write_after_the_store_closed_fails_at_once() {
    let pool = memory().await;
    let batcher = Batcher::new(pool.clone(), true, None);
    insert(&batcher, 1).await.expect("a write");
    batcher.release();
    pool.close().await;
    let refused = tokio::time::timeout(std::time::Duration::from_secs(5), insert(&batcher, 2))
        .await
        .expect("answered at once, not left waiting");
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
}

/// Inserts `v` and `v + 1` as one write of several statements,
/// then refuses (with `Conflict`) when `v` is odd, or panics when it is
/// negative.
async fn insert_two(batcher: &Batcher, v: i64) -> Result<(), StoreError> {
    batcher
        .several("v", v, |conn, v| {
            inline::Stmt::new("INSERT INTO t (v) VALUES (?); INSERT INTO t (v) VALUES (? + 1)")
                .bind(*v)
                .bind(*v)
                .execute(conn)?;
            if *v < 0 {
                panic!("a bug in a write of two");
            }
            if v % 2 == 1 {
                return Err(StoreError::Conflict.into());
            }
            Ok(())
        })
        .await
}

#[tokio::test]
async fn a_refused_or_panicking_write_of_several_statements_is_rolled_back_alone() {
    let pool = memory().await;
    let batcher = Batcher::new(pool.clone(), true, None);
    let (before, refused, panicked, failed, after) = tokio::join!(
        insert_two(&batcher, 10),
        insert_two(&batcher, 21),
        AssertUnwindSafe(insert_two(&batcher, -40)).catch_unwind(),
        // `v` is NOT NULL: one statement that fails, undone alone.
        batcher.one("v", (), |conn, ()| {
            inline::Stmt::new("INSERT INTO t (v) VALUES (NULL)").execute(conn)?;
            Ok(())
        }),
        insert(&batcher, 50),
    );
    before.expect("the write before");
    assert_eq!(refused, Err(StoreError::Conflict));
    let panic = panicked.expect_err("the caller of the write that panicked panics");
    assert_eq!(
        panic.downcast_ref::<&str>(),
        Some(&"a bug in a write of two")
    );
    assert!(matches!(failed, Err(StoreError::Backend(_))), "{failed:?}");
    after.expect("the write after");
    // Neither statement of the refused write nor of the panicking one
    // stayed; the writes around them did.
    assert_eq!(values(&pool).await, [10, 11, 50]);
}

#[tokio::test]
async fn the_writes_reach_the_file_of_the_pool() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let pool = database(&url).await;
    let batcher = Batcher::new(pool.clone(), false, None);
    insert(&batcher, 7).await.expect("a write");
    insert(&batcher, 8).await.expect("another write");
    assert_eq!(values(&pool).await, [7, 8]);
}

#[tokio::test]
async fn a_private_in_memory_database_refuses_the_writes_and_keeps_working() {
    use std::str::FromStr;
    // Each connection to a private in-memory database is a database of
    // its own: the writer's connection would write another one.
    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite::memory:")
        .expect("options")
        .shared_cache(false);
    let pool = database_with(options).await;
    let batcher = Batcher::new(pool.clone(), true, None);
    let refused = insert(&batcher, 1).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(m)) if m.contains("not shared")),
        "{refused:?}"
    );
    // The pool itself still works.
    sqlx::query("INSERT INTO t (v) VALUES (2)")
        .execute(&pool)
        .await
        .expect("a write of the host's own");
    assert_eq!(values(&pool).await, [2]);
}

/// Another connection holds the file's write lock: a write waits
/// for it without holding the runtime's one thread (SQLite's busy handler
/// would sleep on it), and commits once the lock is let go.
#[tokio::test]
async fn a_write_waits_for_another_writer_without_blocking_the_runtime() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("t.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = database(&url).await;
    sqlx::query("PRAGMA journal_mode = WAL")
        .execute(&pool)
        .await
        .expect("WAL");
    let batcher = Arc::new(Batcher::new(pool.clone(), false, None));
    // The writer's connection opens with a first write.
    insert(&batcher, 1).await.expect("a first write");
    let other = rusqlite::Connection::open(&path).expect("another connection");
    other.execute_batch("BEGIN IMMEDIATE").expect("the lock");
    let waiting = tokio::spawn({
        let batcher = batcher.clone();
        async move { insert(&batcher, 2).await }
    });
    // This task and the write share the runtime's one thread: the sleep
    // ends only if the write's wait gives the thread back.
    let slept = Instant::now();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        slept.elapsed() < Duration::from_secs(2),
        "the runtime's thread was held for {:?}",
        slept.elapsed()
    );
    assert!(!waiting.is_finished(), "the write waits for the lock");
    other.execute_batch("COMMIT").expect("the lock let go");
    waiting
        .await
        .expect("the write's task")
        .expect("the write, once the lock was let go");
    assert_eq!(values(&pool).await, [1, 2]);
}
