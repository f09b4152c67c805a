//! Group commit: the writes waiting for the single writer run in one
//! transaction and commit together.
//!
//! A write is handed to the store's *writer task* ([`Batcher::write`]),
//! which owns the writer's connection and runs the writes one after
//! another, in the order they came. The first write of a batch opens
//! `BEGIN IMMEDIATE`; each write runs inside the batch's transaction
//! behind a savepoint, so a write that fails (a refused checkout, a lost
//! compare-and-set) is rolled back alone and the batch goes on. When no
//! write is waiting any more, the task commits the batch and answers every
//! write of it. A write alone commits at once: nothing ever sleeps to
//! gather a batch. A batch also commits as soon as it holds [`MAX_WRITES`]
//! writes or has been open [`MAX_OPEN`].
//!
//! One task running the writes back to back, rather than each caller
//! taking a turn on a shared connection, keeps the hand-offs off the
//! writer's path: the next write starts as soon as the last one's
//! statements are done, without waiting for its caller to be woken and
//! scheduled, and each caller is woken once, with its answer.
//!
//! # Every answer after the commit
//!
//! A write's caller hears its own answer (its value, or the error that
//! rolled it back to its savepoint) only once its batch committed; a failed
//! `COMMIT` (disk full, an I/O error) fails every write of the batch, and
//! so does an error that rolled the whole transaction back (SQLite does so
//! on some I/O errors: the next savepoint statement finds the transaction
//! gone and the batch ends there). The engine announces events only after
//! the store answered, so nothing uncommitted is ever announced.
//!
//! # Inline writes and savepoints
//!
//! Most writes are handed over with [`Batcher::inline_one`] or
//! [`Batcher::inline_several`]: they run in the writer task itself, on a
//! connection of its own (see `sqlite::inline`), without trips to sqlx's
//! worker thread. A write of several statements ([`Kind::Several`]) runs
//! behind `SAVEPOINT w`, released after it or rolled back to; a write of
//! one statement ([`Kind::One`]) needs none, since SQLite undoes a failed
//! statement alone.
//!
//! The writes whose statements are shared with PostgreSQL as sqlx code
//! (webhook deliveries, mails) still go to the writer pool's connection
//! with [`Batcher::several`]. There the batch's transaction holds one
//! savepoint, `a`, which a write moves past the writes before it just
//! before itself (`RELEASE a; SAVEPOINT a`, one trip), and only when
//! other work came since. Consecutive writes of one kind share a batch;
//! a write of the other kind commits the batch before it and starts the
//! next.
//!
//! # Callers that give up
//!
//! A write owns its data (it runs on the writer task, not in its caller),
//! so a caller may drop its future at any point without stopping anything
//! half-way: the write runs and commits with its batch, and its answer is
//! dropped, as a request already sent to a database server would be. A
//! write that panics is rolled back as a failed one, and the panic goes on
//! in its caller.
//!
//! # The writer task
//!
//! The task starts with the first write, on the runtime of its caller, and
//! again with the next write if that runtime has gone (its writes failed
//! with [`StoreError::Unavailable`]). It ends when the store is closed or
//! dropped, after the writes already handed to it.
//!
//! # Other users of the writer pool
//!
//! Taking the connection from sqlx's pool and giving it back (which sqlx
//! follows with a check, one more trip to the worker) costs about what a
//! small write does, so a batch that commits while other writes wait keeps
//! the connection for the next batch, up to [`MAX_KEPT`] batches in a row.
//! Then, and whenever no write waits, the connection goes back to the
//! writer pool, so a host's own queries through
//! [`SqliteStore::pool`](super::SqliteStore::pool) get it between batches.
//! On an in-memory database the reads share the writer's pool, and the
//! connection goes back after every batch.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::future::BoxFuture;
use futures_util::FutureExt;
use orders_core::ports::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use crate::WriteBatches;
use crate::error::{self, Fail};

/// The most writes one batch holds.
pub(super) const MAX_WRITES: usize = 64;
/// The longest a batch stays open for more writes to join.
pub(super) const MAX_OPEN: Duration = Duration::from_millis(20);
/// Batches in a row that keep the connection for the writes waiting,
/// before it goes back to the pool once (for anyone else waiting there).
const MAX_KEPT: u32 = 16;

/// What a write does on the connection, which decides whether it needs a
/// savepoint of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// At most one statement that writes: SQLite undoes it alone if it
    /// fails.
    One,
    /// Several writing statements, undone together if the write fails.
    Several,
}

#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    writes: AtomicU64,
}

/// Moves the batch's savepoint past the work before it.
const MOVE_SAVEPOINT: &str = "RELEASE a; SAVEPOINT a";
/// Undoes the work since the batch's savepoint.
const TO_SAVEPOINT: &str = "ROLLBACK TO a";

/// A write's statements: run with the writer's connection, inside the
/// batch's transaction, and the write's own data (run again when the file
/// was busy, so they only borrow it).
pub(super) trait Statements<D, T>:
    for<'a> Fn(&'a mut SqliteConnection, &'a D) -> BoxFuture<'a, Result<T, Fail>> + Send + 'static
{
}

impl<D, T, F> Statements<D, T> for F where
    F: for<'a> Fn(&'a mut SqliteConnection, &'a D) -> BoxFuture<'a, Result<T, Fail>>
        + Send
        + 'static
{
}

/// A write's statements on the writer's inline connection (see
/// `sqlite::inline`), with the write's own data; run again when the file
/// was busy.
pub(super) trait InlineStatements<D, T>:
    Fn(&rusqlite::Connection, &D) -> Result<T, Fail> + Send + 'static
{
}

impl<D, T, F> InlineStatements<D, T> for F where
    F: Fn(&rusqlite::Connection, &D) -> Result<T, Fail> + Send + 'static
{
}

/// The inline side's type of a write sent to sqlx's worker (never run).
type NotInline<D, T> = fn(&rusqlite::Connection, &D) -> Result<T, Fail>;
/// The pool side's type of an inline write (never run).
type NotOnPool<D, T> =
    for<'a> fn(&'a mut SqliteConnection, &'a D) -> BoxFuture<'a, Result<T, Fail>>;

/// How a write's statements run: sent to sqlx's worker, or inline.
enum Runs<F, G> {
    OnPool(F),
    Inline(G),
}

/// `statements` sent to sqlx's worker.
fn on_pool<D, T, F: Statements<D, T>>(statements: F) -> Runs<F, NotInline<D, T>> {
    Runs::OnPool(statements)
}

/// A write's answer to its caller: its own result once its batch ended, or
/// the panic that stopped it.
type Reply<T> = Result<Result<T, StoreError>, Box<dyn Any + Send>>;

/// A write handed to the writer task (a [`Write`] with its types erased).
trait Job: Send {
    fn kind(&self) -> Kind;
    /// Its statements run on the inline connection.
    fn inline(&self) -> bool;
    /// Runs the write's statements once on the inline connection, keeping
    /// its value.
    fn attempt_inline(&mut self, conn: &rusqlite::Connection) -> Result<(), Fail>;
    /// Runs the write's statements once, keeping its value.
    fn attempt<'a>(&'a mut self, conn: &'a mut SqliteConnection)
    -> BoxFuture<'a, Result<(), Fail>>;
    /// The write failed for good with `fail` (it was rolled back).
    fn refused(&mut self, fail: Fail);
    /// Its batch ended with `committed`: answers the caller.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
    /// Its statements panicked (they were rolled back).
    fn panicked(self: Box<Self>, panic: Box<dyn Any + Send>);
}

/// A write: its statements, the data they are run with (owned, so the
/// write does not depend on its caller), and where its answer goes.
struct Write<D, T, F, G> {
    kind: Kind,
    /// The field a unique violation means.
    unique: &'static str,
    data: D,
    statements: Runs<F, G>,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Reply<T>>,
}

impl<D, T, F, G> Job for Write<D, T, F, G>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    F: Statements<D, T>,
    G: InlineStatements<D, T>,
{
    fn kind(&self) -> Kind {
        self.kind
    }

    fn inline(&self) -> bool {
        matches!(self.statements, Runs::Inline(_))
    }

    fn attempt<'a>(
        &'a mut self,
        conn: &'a mut SqliteConnection,
    ) -> BoxFuture<'a, Result<(), Fail>> {
        Box::pin(async move {
            let Runs::OnPool(statements) = &self.statements else {
                unreachable!("an inline write runs on the inline connection")
            };
            let value = statements(conn, &self.data).await?;
            self.result = Some(Ok(value));
            Ok(())
        })
    }

    fn attempt_inline(&mut self, conn: &rusqlite::Connection) -> Result<(), Fail> {
        let Runs::Inline(statements) = &self.statements else {
            unreachable!("a pool write runs on the pool's connection")
        };
        let value = statements(conn, &self.data)?;
        self.result = Some(Ok(value));
        Ok(())
    }

    fn refused(&mut self, fail: Fail) {
        self.result = Some(Err(fail.into_store(self.unique)));
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = self.result.unwrap_or_else(|| {
            Err(StoreError::Backend(
                "a write was answered without running".into(),
            ))
        });
        // A caller that gave up no longer listens.
        let _ = self.reply.send(Ok(committed.and(result)));
    }

    fn panicked(self: Box<Self>, panic: Box<dyn Any + Send>) {
        let _ = self.reply.send(Err(panic));
    }
}

/// The single writer's queue of writes; see the module docs.
pub(super) struct Batcher {
    pool: SqlitePool,
    /// Whether a batch keeps the connection for the next while writes
    /// wait (not when the reads share the writer pool).
    keep: bool,
    counts: Arc<Counts>,
    /// Told of every commit (a file's store has one).
    checkpointer: Option<Arc<Checkpointer>>,
    /// The writer task's queue, once it runs.
    queue: Mutex<Option<mpsc::UnboundedSender<Box<dyn Job>>>>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("keep", &self.keep)
            .field("committed", &self.committed())
            .finish_non_exhaustive()
    }
}

impl Batcher {
    /// Batches the writes on `pool`, the writer pool of one connection.
    /// With `shared` (the reads use the same pool: an in-memory database)
    /// the connection goes back to the pool after every batch; otherwise a
    /// batch keeps it for the next while writes are waiting.
    /// `checkpointer` hears of every commit.
    pub(super) fn new(pool: SqlitePool, shared: bool, checkpointer: Option<Checkpointer>) -> Self {
        Self {
            pool,
            keep: !shared,
            counts: Arc::default(),
            checkpointer: checkpointer.map(Arc::new),
            queue: Mutex::new(None),
        }
    }

    /// Stops the checkpoints and the writer task, once it has run the
    /// writes already handed to it (it then gives the connection back to
    /// the pool, which closing the pool waits for).
    pub(super) fn release(&self) {
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop();
        }
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    /// The batches committed so far.
    pub(super) fn committed(&self) -> WriteBatches {
        WriteBatches {
            batches: self.counts.batches.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Runs a write of several statements, sent to sqlx's worker: behind
    /// a savepoint, rolled back to it alone when it fails. `statements`
    /// runs with the writer's connection and `data`, inside the open
    /// batch's transaction; it is run again when the file was busy, and
    /// its answer comes once the batch committed. `unique` names the field
    /// a unique violation means.
    ///
    /// # Errors
    /// The write's own error, or its batch's (the writer could not be had,
    /// the commit failed).
    pub(super) async fn several<D, T, F>(
        &self,
        unique: &'static str,
        data: D,
        statements: F,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        F: Statements<D, T>,
    {
        self.write(Kind::Several, unique, data, on_pool(statements))
            .await
    }

    /// Runs a write of at most one statement that writes (reads before it
    /// are free) inline (see `sqlite::inline`): in the writer task, on its
    /// own connection, without a trip to sqlx's worker. SQLite undoes a
    /// failed statement alone, so it needs no savepoint of its own.
    /// `statements` runs with that connection and `data`, inside the open
    /// batch's transaction; it is run again when the file was busy, and
    /// its answer comes once the batch committed. `unique` names the field
    /// a unique violation means.
    ///
    /// # Errors
    /// As [`several`](Self::several).
    pub(super) async fn inline_one<D, T, G>(
        &self,
        unique: &'static str,
        data: D,
        statements: G,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        G: InlineStatements<D, T>,
    {
        self.write_inline(Kind::One, unique, data, statements).await
    }

    /// As [`inline_one`](Self::inline_one), for a write of several
    /// statements: behind a savepoint of its own, rolled back to it alone
    /// when it fails.
    pub(super) async fn inline_several<D, T, G>(
        &self,
        unique: &'static str,
        data: D,
        statements: G,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        G: InlineStatements<D, T>,
    {
        self.write_inline(Kind::Several, unique, data, statements)
            .await
    }

    async fn write_inline<D, T, G>(
        &self,
        kind: Kind,
        unique: &'static str,
        data: D,
        statements: G,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        G: InlineStatements<D, T>,
    {
        let statements: Runs<NotOnPool<D, T>, G> = Runs::Inline(statements);
        self.write(kind, unique, data, statements).await
    }

    async fn write<D, T, F, G>(
        &self,
        kind: Kind,
        unique: &'static str,
        data: D,
        statements: Runs<F, G>,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        F: Statements<D, T>,
        G: InlineStatements<D, T>,
    {
        let (reply, answer) = oneshot::channel();
        self.send(Box::new(Write {
            kind,
            unique,
            data,
            statements,
            result: None,
            reply,
        }));
        match answer.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(StoreError::Unavailable(
                "the store's writer stopped before the write was answered".into(),
            )),
        }
    }

    /// Hands `job` to the writer task, starting one if none runs (the
    /// first write, or the runtime of the last one has gone).
    fn send(&self, job: Box<dyn Job>) {
        let mut queue = self
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let job = match queue.as_ref() {
            Some(sender) => match sender.send(job) {
                Ok(()) => return,
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (sender, jobs) = mpsc::unbounded_channel();
        let writer = Writer {
            pool: self.pool.clone(),
            keep: self.keep,
            counts: self.counts.clone(),
            checkpointer: self.checkpointer.clone(),
            conn: None,
            lite: None,
            open: false,
            on_lite: false,
            kept: 0,
            dirty: false,
        };
        tokio::spawn(writer.serve(jobs));
        // The task was just made, with its queue: this cannot fail.
        let _ = sender.send(job);
        *queue = Some(sender);
    }
}

/// How running one write went.
#[derive(Default)]
struct Ran {
    /// Its statements panicked.
    panic: Option<Box<dyn Any + Send>>,
    /// The batch's transaction is gone: every write of it fails with this.
    broken: Option<StoreError>,
}

impl Ran {
    fn broken(e: StoreError) -> Self {
        Self {
            panic: None,
            broken: Some(e),
        }
    }
}

/// The writer task's state: the connection while a batch is open (and
/// between batches while writes wait), and the batch's savepoint.
struct Writer {
    pool: SqlitePool,
    keep: bool,
    counts: Arc<Counts>,
    checkpointer: Option<Arc<Checkpointer>>,
    conn: Option<PoolConnection<Sqlite>>,
    /// The inline connection (see `sqlite::inline`), once a write needed it.
    lite: Option<super::inline::Lite>,
    /// A batch's transaction is open, on `conn` or on `lite`.
    open: bool,
    /// The open batch is on `lite` (while `conn` is held, unused).
    on_lite: bool,
    /// Batches in a row that kept the connection.
    kept: u32,
    /// Work since the savepoint that a failed write must not undo.
    dirty: bool,
}

impl Drop for Writer {
    /// Stopped in the middle of a batch (its runtime shut down): the
    /// connection, inside an open transaction, is closed rather than given
    /// back to the pool, which would hand the transaction to the next user.
    fn drop(&mut self) {
        if self.open
            && !self.on_lite
            && let Some(conn) = self.conn.as_mut()
        {
            conn.close_on_drop();
        }
    }
}

impl Writer {
    /// Runs the writes of `jobs` in batches until the store lets go of
    /// the queue.
    async fn serve(mut self, mut jobs: mpsc::UnboundedReceiver<Box<dyn Job>>) {
        // A write that runs on the other connection than the batch before
        // it starts the next batch.
        let mut carried: Option<Box<dyn Job>> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match jobs.recv().await {
                    Some(job) => job,
                    None => break,
                },
            };
            if let Err(e) = self.open(first.inline()).await {
                first.answer(Err(e));
                continue;
            }
            let opened = Instant::now();
            let mut batch: Vec<Box<dyn Job>> = Vec::new();
            let mut broken = None;
            let mut next = Some(first);
            while let Some(mut job) = next.take() {
                let ran = self.run(job.as_mut()).await;
                match ran.panic {
                    Some(panic) => job.panicked(panic),
                    None => batch.push(job),
                }
                if ran.broken.is_some() {
                    broken = ran.broken;
                    break;
                }
                if batch.len() < MAX_WRITES && opened.elapsed() < MAX_OPEN {
                    next = jobs.try_recv().ok();
                    if next
                        .as_ref()
                        .is_some_and(|job| job.inline() != self.on_lite)
                    {
                        carried = next.take();
                    }
                }
            }
            let outcome = match broken {
                Some(e) => Err(e),
                None => self.commit(batch.len()).await,
            };
            for job in batch {
                job.answer(outcome.clone());
            }
            let waiting = carried.is_some() || !jobs.is_empty();
            if outcome.is_ok() && self.keep && self.kept < MAX_KEPT && waiting {
                self.kept += 1;
            } else {
                self.conn = None;
                self.kept = 0;
            }
        }
    }

    /// Takes the writer's connection and opens a batch, running `BEGIN`
    /// again while the file is busy (another process writing it).
    async fn open(&mut self, inline: bool) -> Result<(), StoreError> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.acquire().await.map_err(error::any)?);
        }
        if inline {
            return self.open_inline().await;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.exec("BEGIN IMMEDIATE; SAVEPOINT a").await {
                Ok(()) => break,
                Err(e) => {
                    // A `BEGIN` that passed before the savepoint failed.
                    let _ = self.exec("ROLLBACK").await;
                    let fail = Fail::Db(e);
                    if fail.is_retryable() && attempt < super::ATTEMPTS {
                        continue;
                    }
                    return Err(self.not_opened(fail));
                }
            }
        }
        self.open = true;
        self.on_lite = false;
        self.dirty = false;
        Ok(())
    }

    /// A batch could not be opened (`fail`): the connection goes back to
    /// the pool, for anyone else waiting there.
    fn not_opened(&mut self, fail: Fail) -> StoreError {
        self.conn = None;
        self.kept = 0;
        fail.into_store("record")
    }

    /// Runs `job` in the open batch (again while the file is busy), behind
    /// the savepoint it needs, and undoes it if it fails.
    async fn run(&mut self, job: &mut dyn Job) -> Ran {
        if self.on_lite {
            return self.run_inline(job);
        }
        let kind = job.kind();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if kind == Kind::Several && self.dirty {
                if let Err(e) = self.exec(MOVE_SAVEPOINT).await {
                    return Ran::broken(self.broken(e).await);
                }
                self.dirty = false;
            }
            let conn = self
                .conn
                .as_mut()
                .expect("an open batch has the connection");
            let attempted = AssertUnwindSafe(job.attempt(conn)).catch_unwind().await;
            match attempted {
                Ok(Ok(())) => {
                    self.dirty = true;
                    return Ran::default();
                }
                Ok(Err(fail)) => {
                    if let Err(e) = self.undo(kind).await {
                        return Ran::broken(e);
                    }
                    if fail.is_retryable() && attempt < super::ATTEMPTS {
                        continue;
                    }
                    job.refused(fail);
                    return Ran::default();
                }
                Err(panic) => {
                    return Ran {
                        panic: Some(panic),
                        broken: self.undo(kind).await.err(),
                    };
                }
            }
        }
    }

    /// Undoes a failed write of `kind`: a write of several statements
    /// goes back to its savepoint, and after a one-statement write the
    /// savepoint moves, which checks that the transaction is still there.
    /// An error means the batch has ended, failed.
    async fn undo(&mut self, kind: Kind) -> Result<(), StoreError> {
        let sql = match kind {
            Kind::Several => TO_SAVEPOINT,
            Kind::One => MOVE_SAVEPOINT,
        };
        match self.exec(sql).await {
            Ok(()) => {
                self.dirty = false;
                Ok(())
            }
            Err(e) => Err(self.broken(e).await),
        }
    }

    /// The batch's transaction is gone (or its savepoint): rolls back what
    /// is left; every write of the batch fails with the error returned.
    async fn broken(&mut self, e: impl std::fmt::Display) -> StoreError {
        tracing::warn!(error = %e, "a write batch lost its transaction; every write of it fails");
        let _ = self.exec("ROLLBACK").await;
        self.open = false;
        StoreError::Unavailable(format!("the write batch was rolled back: {e}"))
    }

    /// Commits the open batch of `writes` writes.
    async fn commit(&mut self, writes: usize) -> Result<(), StoreError> {
        let committed = if self.on_lite {
            let lite = &self
                .lite
                .as_ref()
                .expect("an inline batch has its connection")
                .conn;
            lite.execute_batch("COMMIT").map_err(|e| {
                let _ = lite.execute_batch("ROLLBACK");
                StoreError::Backend(e.to_string())
            })
        } else {
            self.commit_on_pool().await
        };
        self.open = false;
        if committed.is_ok() {
            self.counts.batches.fetch_add(1, Ordering::Relaxed);
            self.counts
                .writes
                .fetch_add(writes as u64, Ordering::Relaxed);
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.committed();
            }
        } else if let Err(e) = &committed {
            tracing::warn!(error = %e, "a write batch failed to commit; every write of it fails");
        }
        committed
    }

    /// Commits the open batch on the pool's connection.
    async fn commit_on_pool(&mut self) -> Result<(), StoreError> {
        let committed = self.exec("COMMIT").await;
        match committed {
            Ok(()) => Ok(()),
            Err(e) => {
                // The transaction may still be open (it is on SQLITE_BUSY).
                let _ = self.exec("ROLLBACK").await;
                Err(error::any(e))
            }
        }
    }

    /// Runs `sql` (statements without parameters) on the writer.
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        let conn = self.conn.as_mut().expect("the writer has its connection");
        sqlx::raw_sql(sql).execute(&mut **conn).await.map(|_| ())
    }
}

mod inline_batch;
#[cfg(test)]
mod tests;
