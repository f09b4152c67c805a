//! Group commit: the writes waiting for the single writer run in one
//! transaction and commit together.
//!
//! A write is handed to the store's *writer task* ([`Batcher::one`],
//! [`Batcher::several`]), which owns the writer's connection and runs the writes one after
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
//! # In the task itself, behind savepoints
//!
//! The writes run in the writer task itself, on a rusqlite connection it
//! owns to the store's database (see `sqlite::inline`), not statement by
//! statement on sqlx's worker thread. A write of several statements
//! ([`Batcher::several`]) runs behind `SAVEPOINT w`, released after it or
//! rolled back to; a write of one statement ([`Batcher::one`]) needs none,
//! since SQLite undoes a failed statement alone. Another connection's
//! write lock (a host's, another process's) is waited for between
//! attempts at `BEGIN IMMEDIATE`, for as long as the pool's busy timeout,
//! never in SQLite's busy handler, which would sleep on a thread of the
//! runtime.
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
//! The writer holds the writer pool's one connection while a batch runs,
//! so a host's own queries through
//! [`SqliteStore::pool`](super::SqliteStore::pool), and an in-memory
//! store's reads (which share that pool), wait for the batch rather than
//! meet its locks. Taking the connection from sqlx's pool and giving it
//! back (which sqlx follows with a check, a trip to its worker) costs about
//! what a small write does, so a batch that commits while other writes
//! wait keeps it for the next batch, up to [`MAX_KEPT`] batches in a row.
//! Then, and whenever no write waits, the connection goes back to the
//! pool. On an in-memory database it goes back after every batch.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orders_core::ports::StoreError;
use rusqlite::Connection;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{self, Checkpointer};
use super::inline::{self, Lite};
use crate::WriteBatches;
use crate::error::{self, Fail};

/// The most writes one batch holds.
pub(super) const MAX_WRITES: usize = 64;
/// The longest a batch stays open for more writes to join.
pub(super) const MAX_OPEN: Duration = Duration::from_millis(20);
/// Batches in a row that keep the connection for the writes waiting,
/// before it goes back to the pool once (for anyone else waiting there).
const MAX_KEPT: u32 = 16;
/// The longest pause between two attempts at another connection's write
/// lock.
const MAX_PAUSE: Duration = Duration::from_millis(10);

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

/// A write's statements: run with the writer's connection, inside the
/// batch's transaction, and the write's own data (run again when the file
/// was busy, so they only borrow it).
pub(super) trait Statements<D, T>:
    Fn(&Connection, &D) -> Result<T, Fail> + Send + 'static
{
}

impl<D, T, F> Statements<D, T> for F where F: Fn(&Connection, &D) -> Result<T, Fail> + Send + 'static
{}

/// A write's answer to its caller: its own result once its batch ended, or
/// the panic that stopped it.
type Reply<T> = Result<Result<T, StoreError>, Box<dyn Any + Send>>;

/// A write handed to the writer task (a [`Write`] with its types erased).
trait Job: Send {
    fn kind(&self) -> Kind;
    /// Runs the write's statements once, keeping its value.
    fn attempt(&mut self, conn: &Connection) -> Result<(), Fail>;
    /// The write failed for good with `fail` (it was rolled back).
    fn refused(&mut self, fail: Fail);
    /// Its batch ended with `committed`: answers the caller.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
    /// Its statements panicked (they were rolled back).
    fn panicked(self: Box<Self>, panic: Box<dyn Any + Send>);
}

/// A write: its statements, the data they are run with (owned, so the
/// write does not depend on its caller), and where its answer goes.
struct Write<D, T, F> {
    kind: Kind,
    /// The field a unique violation means.
    unique: &'static str,
    data: D,
    statements: F,
    result: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Reply<T>>,
}

impl<D, T, F> Job for Write<D, T, F>
where
    D: Send + Sync + 'static,
    T: Send + 'static,
    F: Statements<D, T>,
{
    fn kind(&self) -> Kind {
        self.kind
    }

    fn attempt(&mut self, conn: &Connection) -> Result<(), Fail> {
        let value = (self.statements)(conn, &self.data)?;
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

    /// Runs a write of at most one statement that writes (reads before it
    /// are free): SQLite undoes a failed statement alone, so it needs no
    /// savepoint of its own. `statements` runs with the writer's connection
    /// and `data`, inside the open batch's transaction; it is run again
    /// when the file was busy, and its answer comes once the batch
    /// committed. `unique` names the field a unique violation means.
    ///
    /// # Errors
    /// The write's own error, or its batch's (the writer could not be had,
    /// the commit failed).
    pub(super) async fn one<D, T, F>(
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
        self.write(Kind::One, unique, data, statements).await
    }

    /// As [`one`](Self::one), for a write of several statements: behind a
    /// savepoint of its own, rolled back to it alone when it fails.
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
        self.write(Kind::Several, unique, data, statements).await
    }

    async fn write<D, T, F>(
        &self,
        kind: Kind,
        unique: &'static str,
        data: D,
        statements: F,
    ) -> Result<T, StoreError>
    where
        D: Send + Sync + 'static,
        T: Send + 'static,
        F: Statements<D, T>,
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
            kept: 0,
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

/// The writer task's state: the pool's connection while a batch is open
/// (and between batches while writes wait), and its own.
struct Writer {
    pool: SqlitePool,
    keep: bool,
    counts: Arc<Counts>,
    checkpointer: Option<Arc<Checkpointer>>,
    /// The writer pool's connection, held while a batch runs (see "Other
    /// users of the writer pool").
    conn: Option<PoolConnection<Sqlite>>,
    /// The connection the writes run on (see `sqlite::inline`), once the
    /// first write opened it. Dropped inside a batch (its runtime shut
    /// down), it closes, which rolls the batch back.
    lite: Option<Lite>,
    /// A batch's transaction is open.
    open: bool,
    /// Batches in a row that kept the pool's connection.
    kept: u32,
}

impl Writer {
    /// Runs the writes of `jobs` in batches until the store lets go of
    /// the queue.
    async fn serve(mut self, mut jobs: mpsc::UnboundedReceiver<Box<dyn Job>>) {
        while let Some(first) = jobs.recv().await {
            if let Err(e) = self.open().await {
                first.answer(Err(e));
                continue;
            }
            let opened = Instant::now();
            let mut batch: Vec<Box<dyn Job>> = Vec::new();
            let mut broken = None;
            let mut next = Some(first);
            while let Some(mut job) = next.take() {
                let ran = self.run(job.as_mut());
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
                }
            }
            let outcome = match broken {
                Some(e) => Err(e),
                None => self.commit(batch.len()),
            };
            for job in batch {
                job.answer(outcome.clone());
            }
            if outcome.is_ok() && self.keep && self.kept < MAX_KEPT && !jobs.is_empty() {
                self.kept += 1;
            } else {
                self.conn = None;
                self.kept = 0;
            }
        }
    }

    /// Takes the writer pool's connection and opens a batch (opening the
    /// writer's own connection first, the first time), waiting while
    /// another connection holds the file's write lock.
    async fn open(&mut self) -> Result<(), StoreError> {
        if self.conn.is_none() {
            self.conn = Some(self.pool.acquire().await.map_err(error::any)?);
        }
        if self.lite.is_none() {
            let pooled = self.conn.as_mut().expect("the writer has its connection");
            let memory_name = self.pool.connect_options().get_filename().to_owned();
            match inline::open(pooled, &memory_name, checkpoint::WRITER_AUTOCHECKPOINT).await {
                Ok(lite) => self.lite = Some(lite),
                Err(e) => return Err(self.not_opened(Fail::Store(e))),
            }
        }
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let lite = self.lite.as_ref().expect("just opened");
            let Err(e) = lite.conn.execute_batch("BEGIN IMMEDIATE") else {
                break;
            };
            let fail = Fail::Lite(e);
            if fail.is_retryable() && started.elapsed() < lite.busy {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
            return Err(self.not_opened(fail));
        }
        self.open = true;
        Ok(())
    }

    /// A batch could not be opened (`fail`): the pool's connection goes
    /// back, for anyone else waiting there.
    fn not_opened(&mut self, fail: Fail) -> StoreError {
        self.conn = None;
        self.kept = 0;
        fail.into_store("record")
    }

    /// The writer's connection, in an open batch.
    fn lite(&self) -> &Connection {
        &self
            .lite
            .as_ref()
            .expect("an open batch has the writer's connection")
            .conn
    }

    /// Runs `job` in the open batch: behind a savepoint of its own if it
    /// has several statements, again while the file is busy, undone if it
    /// fails.
    fn run(&mut self, job: &mut dyn Job) -> Ran {
        let lite = self.lite();
        let several = job.kind() == Kind::Several;
        let mut attempt = 0;
        loop {
            attempt += 1;
            if several && let Err(e) = lite.execute_batch("SAVEPOINT w") {
                return Ran::broken(self.broken(e));
            }
            let attempted = std::panic::catch_unwind(AssertUnwindSafe(|| job.attempt(lite)));
            let undo = match &attempted {
                Ok(Ok(())) if several => lite.execute_batch("RELEASE w"),
                Ok(Ok(())) => Ok(()),
                _ if several => lite.execute_batch("ROLLBACK TO w; RELEASE w"),
                _ => Ok(()),
            };
            // Some errors (an I/O error, a full disk) roll the whole
            // transaction back: the batch has ended.
            let gone = undo.err().map(|e| e.to_string()).or_else(|| {
                lite.is_autocommit()
                    .then(|| "the transaction is gone".to_owned())
            });
            match attempted {
                Ok(Ok(())) => {
                    return match gone {
                        Some(e) => Ran::broken(self.broken(e)),
                        None => Ran::default(),
                    };
                }
                Ok(Err(fail)) => {
                    if let Some(e) = gone {
                        return Ran::broken(self.broken(e));
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
                        broken: gone.map(|e| self.broken(e)),
                    };
                }
            }
        }
    }

    /// The batch's transaction is gone: rolls back what is left; every
    /// write of the batch fails with the error returned.
    fn broken(&mut self, e: impl std::fmt::Display) -> StoreError {
        tracing::warn!(error = %e, "a write batch lost its transaction; every write of it fails");
        let _ = self.lite().execute_batch("ROLLBACK");
        self.open = false;
        StoreError::Unavailable(format!("the write batch was rolled back: {e}"))
    }

    /// Commits the open batch of `writes` writes.
    fn commit(&mut self, writes: usize) -> Result<(), StoreError> {
        let lite = self.lite();
        let committed = lite.execute_batch("COMMIT").map_err(|e| {
            // The transaction may still be open (it is on SQLITE_BUSY).
            let _ = lite.execute_batch("ROLLBACK");
            StoreError::Backend(e.to_string())
        });
        self.open = false;
        match &committed {
            Ok(()) => {
                self.counts.batches.fetch_add(1, Ordering::Relaxed);
                self.counts
                    .writes
                    .fetch_add(writes as u64, Ordering::Relaxed);
                if let Some(checkpointer) = &self.checkpointer {
                    checkpointer.committed();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "a write batch failed to commit; every write of it fails");
            }
        }
        committed
    }
}

impl Ran {
    fn broken(e: StoreError) -> Self {
        Self {
            panic: None,
            broken: Some(e),
        }
    }
}

#[cfg(test)]
mod tests;
