//! Checkpoints off the writer's path.
//!
//! In WAL mode a commit appends pages to the `-wal` file, and a
//! *checkpoint* copies them back into the database file, then syncs it
//! (`synchronous = NORMAL` syncs only there). SQLite runs one by default
//! inside the `COMMIT` that takes the log past 1,000 pages, on the
//! committing connection: on the single writer, so every write waits for
//! the copy and its `fsync`. Measured with `benches/sqlx-checkout.sh`, that
//! cost a tenth to a third of the checkouts per second and doubled the p99.
//!
//! So a task of the store's own runs `PRAGMA wal_checkpoint(PASSIVE)` on
//! a connection of its own, on sqlx's worker thread for that connection:
//! [`EVERY`] after a batch commits, for as long as batches commit. A
//! passive checkpoint waits for nobody: the writer keeps appending and the
//! readers keep reading while it copies.
//!
//! The log starts over from its beginning only when a write begins after
//! a checkpoint that copied all of it, which under a steady stream of
//! writes a checkpoint running beside them never quite does. So the writer
//! still checkpoints, less often ([`WRITER_AUTOCHECKPOINT`] pages rather
//! than SQLite's 1,000): by then the store's task has copied nearly all of
//! the log, the writer copies the rest, and the log starts over. The `-wal`
//! file stays under about 16 MiB.
//!
//! Measured in one sitting (`sqlx-checkout`, 4,000 checkouts, release
//! builds): 2,274–2,359 / 2,664–2,714 checkouts/s at 8 / 32 tasks, against
//! 1,886–2,242 / 2,125–2,545 with SQLite's own checkpoints.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The writer's own `wal_autocheckpoint`: it checkpoints when the log has
/// grown past this many pages (16 MiB at 4 KiB a page), so the log starts
/// over; the store's task has copied most of it by then.
pub(super) const WRITER_AUTOCHECKPOINT: &str = "4000";

/// How long after a commit the store checkpoints: long enough to copy many
/// batches' pages at once, short enough that the log stays small.
pub(super) const EVERY: Duration = Duration::from_millis(100);

/// The store's checkpoint task; stops when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    committed: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Checkpointer {
    /// Starts checkpointing the database `options` open, on a connection
    /// of its own (opened at the first checkpoint, and again after an
    /// error).
    pub(super) fn start(options: SqliteConnectOptions) -> Self {
        let committed = Arc::new(Notify::new());
        let task = tokio::spawn(run(options, committed.clone()));
        Self { committed, task }
    }

    /// Tells the task a batch committed: it checkpoints [`EVERY`] later.
    pub(super) fn committed(&self) {
        self.committed.notify_one();
    }

    /// Stops the task (a checkpoint under way finishes on its thread).
    pub(super) fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(options: SqliteConnectOptions, committed: Arc<Notify>) {
    let options = options.disable_statement_logging();
    let mut conn: Option<SqliteConnection> = None;
    loop {
        committed.notified().await;
        tokio::time::sleep(EVERY).await;
        if conn.is_none() {
            match options.connect().await {
                Ok(opened) => conn = Some(opened),
                Err(e) => {
                    tracing::warn!(error = %e, "the checkpoint connection could not be opened");
                    continue;
                }
            }
        }
        let Some(open) = conn.as_mut() else { continue };
        let done: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&mut *open)
                .await;
        match done {
            Ok((_, log, copied)) => {
                tracing::trace!(log, copied, "checkpoint");
            }
            Err(e) => {
                // Another connection's checkpoint (a host's) is running, or
                // the connection broke: open a new one next time.
                tracing::debug!(error = %e, "a checkpoint failed");
                conn = None;
            }
        }
    }
}
