//! The writer task on its own: callers that give up, panics, full
//! batches, a runtime that went.

use super::*;
use sqlx::sqlite::SqlitePoolOptions;

/// An in-memory database of one table `t (v)`, on a pool of one
/// connection kept open.
async fn memory() -> SqlitePool {
    database("sqlite::memory:").await
}

/// The database at `url` with one table `t (v)`, on a pool of one
/// connection.
async fn database(url: &str) -> SqlitePool {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect(url)
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
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES (?)")
                    .bind(*v)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .await
}

/// Inserts `v`, then panics.
async fn insert_then_panic(batcher: &Batcher, v: i64) -> Result<(), StoreError> {
    batcher
        .several("v", v, |conn, v| {
            Box::pin(async move {
                sqlx::query("INSERT INTO t (v) VALUES (?)")
                    .bind(*v)
                    .execute(&mut *conn)
                    .await?;
                if *v > 0 {
                    panic!("a bug in a write");
                }
                Ok(())
            })
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
