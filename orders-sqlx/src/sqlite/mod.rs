//! [`SqliteStore`]: every storage port on one SQLite file.
//!
//! # Concurrency
//!
//! SQLite has one writer at a time. The store keeps two pools: a writer
//! pool of exactly one connection, and a reader pool. Every write is handed
//! to one task of the store's own that runs the writes on the writer, in
//! the order they came, so concurrent writes of this process queue for it
//! (without sleeping in SQLite's busy handler) instead of failing with
//! `SQLITE_BUSY`. A write owns its data: a caller that gives up does not
//! stop it half-way, it commits with its batch. Transactions open with `BEGIN IMMEDIATE`, taking the
//! file's write lock up front, so a transaction never starts as a reader
//! and fails when it tries to write (which is what a plain `BEGIN` would
//! risk against another process). A busy timeout covers other processes
//! writing the same file. The journal is WAL, so readers never block the
//! writer nor the writer them.
//!
//! # Group commit
//!
//! The writes waiting for the writer task run in one transaction and commit
//! together (`batch`): each write behind a savepoint of its own, so a
//! refused checkout rolls back alone and every caller gets its own answer,
//! and every answer comes after the batch's `COMMIT` (a failed `COMMIT`
//! fails every write of the batch). A write alone commits at once; a batch
//! holds at most 64 writes and stays open at most 20 ms. One commit per
//! batch instead of per write, and the connection taken once per batch,
//! is what lets many concurrent checkouts go faster than one at a time.
//! [`SqliteStore::write_batches`] tells how well writes are batched.
//!
//! With one writer, transactions commit in the order they write, so event
//! ids (`AUTOINCREMENT`) rise in commit order and order numbers are
//! `max + 1`: 1, 2, 3, ... without gaps.
//!
//! # Trips to the worker thread
//!
//! sqlx runs each SQLite connection on a thread of its own; every
//! statement, and every check sqlx makes of a connection, is a trip there
//! and back (two context switches), which on a small machine cost far more
//! than SQLite's own work. So the writes run *inline*: in the writer task
//! itself, on a rusqlite connection it owns to the same database
//! (`inline`), with no trip at all. The reads still go to sqlx's reader
//! connections: neither pool checks a connection before handing it out (a
//! local file does not drop), and the reads a checkout makes through the
//! engine run on reader connections kept between calls (`crate::lease`),
//! which skips sqlx's check when a connection comes back.
//!
//! `synchronous = NORMAL`: in WAL mode a commit survives a crash of the
//! process; a power loss may drop the last transactions, never corrupt the
//! file.
//!
//! # Checkpoints
//!
//! The log (`-wal`) is copied back into the database file by a task of the
//! store's own, a passive checkpoint on a connection of its own 100 ms
//! after writes commit, rather than by the writer inside a `COMMIT`, where
//! every write would wait for the copy and its `fsync`. The writer's own
//! `wal_autocheckpoint` is 4,000 pages, whatever options a host passes: it
//! finishes what the task copied, so the log starts over and stays under
//! about 16 MiB. Hosts that need every commit on disk before it returns pass their
//! own options to [`SqliteStore::connect_with`].
//!
//! # Notification
//!
//! [`SqliteStore::notifier`] is an in-process broadcast
//! ([`MemoryNotifier`]) replaying from this store, fed by the engine after
//! each commit. Processes sharing one file do not see each other's events
//! live (they do on replay); share a PostgreSQL database for that.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use orders_core::memory::MemoryNotifier;
use orders_core::ports::{Page, PageRequest, StoreError};
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use self::batch::Batcher;
use self::checkpoint::Checkpointer;
use crate::WriteBatches;
use crate::codec;
use crate::error::OpenError;
use crate::lease::Conns;
use crate::migrations;
use crate::{error, rows, statements};

codec::impl_get!(SqliteRow);

/// How long a write waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a write that found the file busy is run again.
const ATTEMPTS: usize = 5;
/// Reader connections.
const READERS: u32 = 4;

/// Creates the database file at `path`, if missing, readable and writable
/// by its owner only (mode 0600 on Unix), before SQLite opens it. SQLite
/// gives its `-wal` and `-shm` files the database file's mode, so orders,
/// emails and addresses are never readable by other local users. An
/// existing file keeps the mode its owner chose.
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// The SQLite store. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    /// The writer task every write is handed to, and the batches it
    /// commits them in.
    batcher: Arc<Batcher>,
    reader: SqlitePool,
    /// The reader pool, with connections kept between the calls of a
    /// checkout (see `crate::lease`); it keeps none on an in-memory
    /// database, whose reader pool is the writer.
    reads: Arc<Conns<Sqlite>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`
    /// (`sqlite://orders.db`, `sqlite::memory:`), in WAL mode with a busy
    /// timeout and foreign keys on. Does not migrate: call
    /// [`SqliteStore::migrate`].
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the URL is malformed or the file cannot be
    /// opened.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = options
            .create_if_missing(true)
            .journal_mode(if in_memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if !in_memory {
            create_private(options.get_filename()).map_err(|e| OpenError::Connect(e.into()))?;
        }
        Self::open(options, in_memory).await
    }

    /// Opens the database with the host's own `options` (file, pragmas).
    /// The host's options decide whether and how the file is created.
    /// Foreign keys are switched on whatever `options` say.
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the file cannot be opened.
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, OpenError> {
        Self::open(options.foreign_keys(true), false).await
    }

    /// Opens the store on the database of a host's own `pool`: the same
    /// file (or the same shared in-memory database), with the pool's
    /// connect options and so its pragmas, foreign keys switched on
    /// whatever they say.
    ///
    /// The store does not run its statements on `pool` itself: it keeps
    /// its own single writer and its readers (see the module docs), opened
    /// with those options, so its writes queue on one connection instead of
    /// failing with `SQLITE_BUSY` against each other; the host's writes
    /// meet them through the busy timeout. The file's journal mode stays
    /// the host's to choose, and the store refuses a pool it cannot work
    /// with rather than change it under the host.
    ///
    /// # Errors
    /// [`OpenError::HostPool`] when the database is a file not in WAL mode
    /// (readers would block the store's writer; set
    /// `SqliteConnectOptions::journal_mode(SqliteJournalMode::Wal)`) or its
    /// busy timeout is zero (another connection's write would fail the
    /// store's at once; sqlx's default is 5 s). [`OpenError::Connect`] when
    /// the database cannot be reached.
    pub async fn from_pool(pool: &SqlitePool) -> Result<Self, OpenError> {
        let (file, journal, busy): (String, String, i64) = sqlx::query_as(
            "SELECT (SELECT file FROM pragma_database_list WHERE name = 'main'), \
             (SELECT journal_mode FROM pragma_journal_mode), \
             (SELECT timeout FROM pragma_busy_timeout)",
        )
        .fetch_one(pool)
        .await
        .map_err(OpenError::Connect)?;
        // An in-memory database has no file name.
        let in_memory = file.is_empty();
        if !in_memory && !journal.eq_ignore_ascii_case("wal") {
            return Err(OpenError::HostPool(format!(
                "the database's journal mode is {journal}, not WAL: open the pool with \
                 SqliteConnectOptions::journal_mode(SqliteJournalMode::Wal)"
            )));
        }
        if busy == 0 {
            return Err(OpenError::HostPool(
                "the pool's busy timeout is zero: open it with SqliteConnectOptions::busy_timeout \
                 (sqlx's default is 5 s)"
                    .to_owned(),
            ));
        }
        let options = (*pool.connect_options()).clone().foreign_keys(true);
        Self::open(options, in_memory).await
    }

    async fn open(options: SqliteConnectOptions, in_memory: bool) -> Result<Self, OpenError> {
        // One writer connection; it also stays open for the store's life, so
        // an in-memory database lives as long as the store.
        // No liveness check (a query to the connection's worker thread) when a
        // connection is handed out: a connection to a local file does not
        // drop, and on the single writer that check would sit inside every
        // write's turn.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(
                options
                    .clone()
                    .pragma("wal_autocheckpoint", checkpoint::WRITER_AUTOCHECKPOINT),
            )
            .await
            .map_err(OpenError::Connect)?;
        // A file's log is checkpointed off the writer's path.
        let checkpointer = (!in_memory).then(|| Checkpointer::start(options.clone()));
        let (reader, keep) = if in_memory {
            // Each connection to `:memory:` would be its own database.
            (writer.clone(), 0)
        } else {
            let reader = SqlitePoolOptions::new()
                .max_connections(READERS)
                .test_before_acquire(false)
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            // Keep all readers but one, which stays free for the reads that
            // go to the pool directly.
            (reader, READERS as usize - 1)
        };
        let reads = Arc::new(Conns::new(reader.clone(), keep));
        Ok(Self {
            batcher: Arc::new(Batcher::new(writer.clone(), in_memory, checkpointer)),
            writer,
            reader,
            reads,
        })
    }

    /// Runs the embedded SQLite migrations (`migrations/sqlite`); running
    /// them again is a no-op.
    ///
    /// # Errors
    /// [`OpenError::Migrate`].
    pub async fn migrate(&self) -> Result<(), OpenError> {
        let migrator = migrations::sqlite();
        migrations::prepare_sqlite(&self.writer, &migrator)
            .await
            .map_err(OpenError::Migrate)?;
        migrator
            .run(&self.writer)
            .await
            .map_err(OpenError::Migrate)?;
        catalogue::fill_search_text(&self.writer)
            .await
            .map_err(|e| OpenError::Migrate(sqlx::migrate::MigrateError::Execute(e)))
    }

    /// The in-process notifier over this store: fed after commit by the
    /// engine, replaying from this store's events.
    pub fn notifier(self: &Arc<Self>) -> MemoryNotifier {
        MemoryNotifier::new(self.clone())
    }

    /// The writer pool, for a host's own maintenance queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.writer
    }

    /// The writer's pool and the readers' (one pool, the writer's, on an
    /// in-memory database).
    pub fn pool_stats(&self) -> Vec<crate::PoolStats> {
        let writer = crate::PoolStats::of("writer", &self.writer);
        // The readers of a file are several; an in-memory database's
        // "readers" are the writer itself.
        if self.reader.options().get_max_connections() == 1 {
            return vec![writer];
        }
        vec![writer, crate::PoolStats::of("readers", &self.reader)]
    }

    /// How the writes have been committed so far: batches and the writes
    /// in them (see the module docs, "Group commit"). Writes per batch near
    /// 1 mean the writer is rarely contended.
    pub fn write_batches(&self) -> WriteBatches {
        self.batcher.committed()
    }

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        self.reads.release_all();
        self.batcher.release();
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl SqliteStore {
    /// A keyset page of `table` (its `columns`, `filter` added to the
    /// condition), newest first by `seq`, each row decoded with `decode`.
    async fn seq_page<T>(
        &self,
        table: &str,
        columns: &str,
        filter: &str,
        page: &PageRequest,
        decode: fn(&SqliteRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = statements::seq_page(table, columns, filter);
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "seq")?;
        let items = rows.iter().map(decode).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

// One module per port.
mod batch;
mod carts;
mod catalogue;
mod checkpoint;
mod deliveries;
mod discounts;
mod idempotency;
pub(crate) mod inline;
mod mails;
mod orders;
mod place;
