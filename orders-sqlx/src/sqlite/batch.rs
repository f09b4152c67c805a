//! Group commit: the writes waiting for the single writer run in one
//! transaction and commit together.
//!
//! A write takes a *turn* on the writer ([`Batcher::turn`]): turns are
//! handed out one at a time, first come first served. The first turn of a
//! batch takes the writer's connection and opens `BEGIN IMMEDIATE`; each
//! write runs inside the batch's transaction behind the savepoint `w`, so a
//! write that fails (a refused checkout, a lost compare-and-set) is rolled
//! back to that savepoint alone and the batch goes on. After its turn a
//! write queues again, behind every write that was already waiting; when
//! it comes round and its batch is still open, every write queued ahead of
//! it has had its turn, and it commits the batch. Everyone else of the
//! batch hears the commit's outcome without a turn. A write alone takes its
//! turn and commits at once: nothing ever sleeps to gather a batch. A batch
//! also commits as soon as it holds [`MAX_WRITES`] writes or has been open
//! [`MAX_OPEN`].
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
//! # Savepoints, lazily
//!
//! The batch's transaction holds exactly one savepoint, named `a` or `b`.
//! A write of several statements ([`Kind::Several`]) needs it just before
//! itself: `RELEASE a; SAVEPOINT a` (one trip to sqlx's worker) moves it
//! past the writes before. A write of one statement ([`Kind::One`]) needs
//! none: SQLite undoes a failed statement alone. So the savepoint moves
//! only before a write of several statements that follows other work, and
//! after a failed one-statement write (which also checks that the
//! transaction is still there).
//!
//! A *folded* write of several statements ([`Turn::fold`]) saves that
//! trip: it puts the move in front of its own first statement, under the
//! other name (`RELEASE a; SAVEPOINT b; UPDATE …`). Whether the move ran
//! is then read off the database rather than assumed: if `ROLLBACK TO b`
//! works, it ran and the write is undone; if not, nothing of the write ran
//! (its first trip never reached SQLite, or stopped after the `RELEASE`),
//! and the savepoint is set again where the write would have begun, once
//! a probe has shown that the transaction is still there (a `BEGIN` fails
//! inside a transaction). The other name is what makes the test sound: `b`
//! exists only if this write's move created it.
//!
//! # Cancelled callers
//!
//! A caller may drop its future at any await. The batcher's own steps
//! (opening a batch, moving the savepoint, undoing a failed write, cleaning
//! up after a dropped one, committing) run in a task of their own that
//! holds the writer until it is done, so a dropped caller never stops one
//! half-way. The write's own statements do stop with their caller, and the
//! state remembers what was under way: a write dropped in the middle is
//! rolled back to its savepoint by the next turn (a one-statement write
//! either happened or not, and is kept if it did). A dropped write that
//! had finished may still commit with its batch, as a request sent to a
//! database server does.
//!
//! # Other users of the writer pool
//!
//! Taking the connection from sqlx's pool and giving it back (which sqlx
//! follows with a check, one more trip to the worker) costs about what a
//! small write does, so a batch that commits while other writes wait for
//! their turn keeps the connection for the next batch, up to [`MAX_KEPT`]
//! batches in a row. Then, and whenever no write waits, the connection goes
//! back to the writer pool, so a host's own queries through
//! [`SqliteStore::pool`](super::SqliteStore::pool) get it between batches.
//! On an in-memory database the reads share the writer's pool, and the
//! connection goes back after every batch.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orders_core::ports::StoreError;
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use super::checkpoint::Checkpointer;
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
pub(super) enum Kind {
    /// At most one statement that writes: SQLite undoes it alone if it
    /// fails.
    One,
    /// Several writing statements, undone together if the write fails.
    Several,
}

/// A batch's outcome: `None` while it is open.
type Outcome = Option<Result<(), StoreError>>;

/// How the store's writes have been committed so far: in how many
/// batches, holding how many writes (see [`SqliteStore::write_batches`]).
///
/// [`SqliteStore::write_batches`]: crate::SqliteStore::write_batches
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteBatches {
    /// Batches committed.
    pub batches: u64,
    /// Writes in them (each answered after its batch committed), refused
    /// ones included.
    pub writes: u64,
}

/// The single writer's turns and batches; see the module docs.
#[derive(Debug)]
pub(super) struct Batcher {
    pool: SqlitePool,
    state: Arc<Mutex<State>>,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    batches: AtomicU64,
    writes: AtomicU64,
    /// Writes waiting for their first turn.
    waiting: AtomicUsize,
    /// Whether a batch keeps the connection for the next while writes
    /// wait (not when the reads share the writer pool).
    keep: bool,
    /// Told of every commit (a file's store has one).
    checkpointer: Option<Checkpointer>,
}

/// A write waiting for its first turn, counted while it waits. Dropped
/// before its turn (its caller gone) as the last one waiting, it gives a
/// connection kept for it back to the pool.
struct Waiting<'a> {
    counts: &'a Counts,
    state: &'a Mutex<State>,
    arrived: bool,
}

impl<'a> Waiting<'a> {
    fn new(counts: &'a Counts, state: &'a Mutex<State>) -> Self {
        counts.waiting.fetch_add(1, Ordering::SeqCst);
        Self {
            counts,
            state,
            arrived: false,
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let left = self.counts.waiting.fetch_sub(1, Ordering::SeqCst) - 1;
        if !self.arrived
            && left == 0
            && let Ok(mut state) = self.state.try_lock()
            && state.batch.is_none()
        {
            state.conn = None;
            state.kept = 0;
        }
    }
}

/// The name the batch's one savepoint has (see "Savepoints, lazily").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Name {
    #[default]
    A,
    B,
}

impl Name {
    fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    /// Moves the savepoint, keeping its name.
    fn moved(self) -> &'static str {
        match self {
            Self::A => "RELEASE a; SAVEPOINT a",
            Self::B => "RELEASE b; SAVEPOINT b",
        }
    }

    /// Moves the savepoint from this name to the other (statements
    /// ending in `;`, so a write's own may follow).
    fn moved_on(self) -> &'static str {
        match self {
            Self::A => "RELEASE a; SAVEPOINT b;",
            Self::B => "RELEASE b; SAVEPOINT a;",
        }
    }

    fn rollback(self) -> &'static str {
        match self {
            Self::A => "ROLLBACK TO a",
            Self::B => "ROLLBACK TO b",
        }
    }

    fn set(self) -> &'static str {
        match self {
            Self::A => "SAVEPOINT a",
            Self::B => "SAVEPOINT b",
        }
    }
}

/// What a folded write ([`Turn::fold`]) puts in front of its first
/// statement: nothing, or the move of the savepoint to the other name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Prefix(Option<Name>);

impl Prefix {
    /// No move: the savepoint is already just before the write.
    pub(super) const NONE: Self = Self(None);
    /// Every prefix, each at its [`index`](Self::index) (for texts made
    /// once per prefix).
    pub(super) const ALL: [Self; 3] = [Self(None), Self(Some(Name::A)), Self(Some(Name::B))];

    /// The statements to put first, each ending in `;`, or `""`.
    pub(super) fn sql(self) -> &'static str {
        self.0.map_or("", |to| to.other().moved_on())
    }

    /// This prefix's place in [`ALL`](Self::ALL).
    pub(super) fn index(self) -> usize {
        match self.0 {
            None => 0,
            Some(Name::A) => 1,
            Some(Name::B) => 2,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The writer's connection, while a batch is open.
    conn: Option<PoolConnection<Sqlite>>,
    batch: Option<Batch>,
    next_id: u64,
    /// The savepoint's name.
    name: Name,
    /// Work since the savepoint that a failed write must not undo.
    dirty: bool,
    /// A write under way, remembered until its turn ends (so the next
    /// turn can clean up after a dropped one), with the name a folded
    /// write's prefix moves the savepoint to.
    writing: Option<(Kind, Option<Name>)>,
    /// Batches in a row that kept the connection.
    kept: u32,
}

#[derive(Debug)]
struct Batch {
    id: u64,
    writes: usize,
    opened: Instant,
    done: watch::Sender<Outcome>,
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
            state: Arc::new(Mutex::new(State::default())),
            counts: Arc::new(Counts {
                keep: !shared,
                checkpointer,
                ..Counts::default()
            }),
        }
    }

    /// Gives a kept connection back to the pool (before closing it), and
    /// stops the checkpoints.
    pub(super) async fn release(&self) {
        if let Some(checkpointer) = &self.counts.checkpointer {
            checkpointer.stop();
        }
        let mut state = self.state.lock().await;
        if state.batch.is_none() {
            state.conn = None;
            state.kept = 0;
        }
    }

    /// The batches committed so far.
    pub(super) fn committed(&self) -> WriteBatches {
        WriteBatches {
            batches: self.counts.batches.load(Ordering::Relaxed),
            writes: self.counts.writes.load(Ordering::Relaxed),
        }
    }

    /// Waits for the writer and joins (or opens) its batch. The turn is
    /// the caller's until [`Turn::finish`].
    ///
    /// # Errors
    /// The writer's connection could not be had or the transaction could
    /// not be opened (the file busy for too long).
    pub(super) async fn turn(&self) -> Result<Turn, StoreError> {
        let mut waiting = Waiting::new(&self.counts, &self.state);
        let mut guard = self.state.clone().lock_owned().await;
        waiting.arrived = true;
        drop(waiting);
        if unsettled(&guard) {
            let pool = self.pool.clone();
            let opened;
            (guard, opened) = detach(guard, |mut state| async move {
                recover(&mut state).await;
                let opened = if state.batch.is_none() {
                    open(&mut state, &pool).await
                } else {
                    Ok(())
                };
                (state, opened)
            })
            .await;
            opened?;
        }
        let batch = guard.batch.as_ref().expect("a batch is open");
        let (id, done) = (batch.id, batch.done.subscribe());
        Ok(Turn {
            state: self.state.clone(),
            counts: self.counts.clone(),
            guard: Some(guard),
            id,
            done,
        })
    }
}

/// One write's turn on the writer, in the open batch `id`.
pub(super) struct Turn {
    state: Arc<Mutex<State>>,
    counts: Arc<Counts>,
    guard: Option<OwnedMutexGuard<State>>,
    id: u64,
    done: watch::Receiver<Outcome>,
}

impl Turn {
    fn state(&mut self) -> &mut State {
        self.guard.as_mut().expect("the turn is held")
    }

    /// The writer's connection, inside the batch's transaction.
    pub(super) fn conn(&mut self) -> &mut SqliteConnection {
        self.state()
            .conn
            .as_mut()
            .expect("an open batch has the connection")
    }

    /// Before each attempt of a write of `kind`: moves the savepoint past
    /// the work before it when the write needs one.
    pub(super) async fn begin(&mut self, kind: Kind) -> Result<(), StoreError> {
        if kind == Kind::Several && self.state().dirty {
            self.detached(|mut state| async move {
                let name = state.name;
                let moved = match run(&mut state, name.moved()).await {
                    Ok(()) => {
                        state.dirty = false;
                        Ok(())
                    }
                    Err(e) => Err(broken(&mut state, e).await),
                };
                (state, moved)
            })
            .await?;
        }
        self.state().writing = Some((kind, None));
        Ok(())
    }

    /// Runs `step` on the state in a task of its own, so that a caller
    /// dropped meanwhile cannot stop it half-way (the turn then ends with
    /// the task, which releases the writer); see "Cancelled callers".
    async fn detached<T, F, Fut>(&mut self, step: F) -> T
    where
        F: FnOnce(OwnedMutexGuard<State>) -> Fut,
        Fut: Future<Output = (OwnedMutexGuard<State>, T)> + Send + 'static,
        T: Send + 'static,
    {
        let guard = self.guard.take().expect("the turn is held");
        let (guard, out) = detach(guard, step).await;
        self.guard = Some(guard);
        out
    }

    /// Before each attempt of a folded write of several statements: the
    /// [`Prefix`] its first statement must start with (which moves the
    /// savepoint past the work before it, when there is any). The write
    /// must send that statement before it answers `Ok`.
    pub(super) fn fold(&mut self) -> Prefix {
        let state = self.state();
        let to = state.dirty.then(|| state.name.other());
        state.writing = Some((Kind::Several, to));
        Prefix(to)
    }

    /// The write succeeded: its work stays in the batch.
    pub(super) fn succeeded(&mut self) {
        let state = self.state();
        if let Some((_, Some(to))) = state.writing.take() {
            state.name = to;
        }
        state.dirty = true;
    }

    /// The write failed: undoes it (a write of several statements goes
    /// back to its savepoint) and checks that the transaction is still
    /// there; if it is not, the batch has ended, failed.
    pub(super) async fn failed(&mut self, kind: Kind) -> Result<(), StoreError> {
        self.detached(|mut state| async move {
            let undone = undo(&mut state, kind).await;
            (state, undone)
        })
        .await
    }

    /// Ends the turn with the write's own `result` and waits for its batch
    /// to commit (committing it when this write's turn comes round again);
    /// answers `result` once committed, the commit's error otherwise.
    pub(super) async fn finish<T>(
        mut self,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.guard.take().expect("the turn is held");
        let mut commit_now = false;
        if let Some(batch) = guard.batch.as_mut().filter(|b| b.id == self.id) {
            batch.writes += 1;
            commit_now = batch.writes >= MAX_WRITES || batch.opened.elapsed() >= MAX_OPEN;
        }
        let committed = if commit_now {
            commit(guard, &self.counts).await
        } else {
            drop(guard);
            self.committed().await
        };
        committed.and(result)
    }

    /// The outcome of this turn's batch, committing it if it is still open
    /// when this write gets the writer again.
    async fn committed(&mut self) -> Result<(), StoreError> {
        loop {
            if let Some(outcome) = self.done.borrow_and_update().clone() {
                return outcome;
            }
            tokio::select! {
                biased;
                changed = self.done.changed() => {
                    if changed.is_err() {
                        return Err(StoreError::Unavailable(
                            "the write batch ended without an outcome".into(),
                        ));
                    }
                }
                mut guard = self.state.clone().lock_owned() => {
                    if guard.batch.as_ref().is_some_and(|b| b.id == self.id) {
                        if unsettled(&guard) {
                            (guard, ()) = detach(guard, |mut state| async move {
                                recover(&mut state).await;
                                (state, ())
                            })
                            .await;
                        }
                        if guard.batch.as_ref().is_some_and(|b| b.id == self.id) {
                            return commit(guard, &self.counts).await;
                        }
                    }
                }
            }
        }
    }
}

/// Undoes the failed write of `kind` under way; see [`Turn::failed`].
async fn undo(state: &mut State, kind: Kind) -> Result<(), StoreError> {
    if let Some((_, Some(to))) = state.writing {
        return undo_folded(state, to).await;
    }
    let sql = match kind {
        Kind::Several => state.name.rollback(),
        Kind::One => state.name.moved(),
    };
    let undone = run(state, sql).await;
    state.writing = None;
    match undone {
        Ok(()) => {
            state.dirty = false;
            Ok(())
        }
        Err(e) => Err(broken(state, e).await),
    }
}

/// Runs `step` with the writer's state in a task of its own, which a
/// dropped caller does not stop, and hands the state back.
async fn detach<T, F, Fut>(guard: OwnedMutexGuard<State>, step: F) -> (OwnedMutexGuard<State>, T)
where
    F: FnOnce(OwnedMutexGuard<State>) -> Fut,
    Fut: Future<Output = (OwnedMutexGuard<State>, T)> + Send + 'static,
    T: Send + 'static,
{
    match tokio::spawn(step(guard)).await {
        Ok(out) => out,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the writer's task was stopped: {e}"),
    }
}

/// Whether a turn must clean up after a dropped one, or open a batch,
/// before its write.
fn unsettled(state: &State) -> bool {
    state.writing.is_some() || state.batch.is_none()
}

/// Runs `sql` (statements without parameters) on the open batch.
async fn run(state: &mut State, sql: &'static str) -> Result<(), sqlx::Error> {
    let conn = state
        .conn
        .as_mut()
        .expect("an open batch has the connection");
    sqlx::raw_sql(sql).execute(&mut **conn).await.map(|_| ())
}

/// Takes the writer's connection and opens a batch, running `BEGIN` again
/// while the file is busy (another process writing it).
async fn open(state: &mut State, pool: &SqlitePool) -> Result<(), StoreError> {
    if state.conn.is_none() {
        state.conn = Some(pool.acquire().await.map_err(error::any)?);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        let opened = run(state, "BEGIN IMMEDIATE; SAVEPOINT a").await;
        match opened {
            Ok(()) => break,
            Err(e) => {
                // A `BEGIN` that passed before the savepoint failed.
                let _ = run(state, "ROLLBACK").await;
                let fail = Fail::Db(e);
                if fail.is_retryable() && attempt < super::ATTEMPTS {
                    continue;
                }
                state.conn = None;
                return Err(fail.into_store("record"));
            }
        }
    }
    let (done, _) = watch::channel(None);
    state.batch = Some(Batch {
        id: state.next_id,
        writes: 0,
        opened: Instant::now(),
        done,
    });
    state.next_id += 1;
    state.name = Name::A;
    state.dirty = false;
    Ok(())
}

/// Cleans up after a write dropped in the middle: a write of several
/// statements goes back to its savepoint (a one-statement write happened
/// or not, and stays if it did). The batcher's own steps need no cleaning
/// up: they run in tasks of their own ([`detach`]).
async fn recover(state: &mut State) {
    match state.writing {
        None => {}
        Some((Kind::One, _)) => {
            state.writing = None;
            state.dirty = true;
        }
        Some((Kind::Several, Some(to))) => {
            let _ = undo_folded(state, to).await;
        }
        Some((Kind::Several, None)) => {
            state.writing = None;
            if let Err(e) = run(state, state.name.rollback()).await {
                broken(state, e).await;
            }
        }
    }
}

/// Undoes a folded write whose prefix moves the savepoint to `to`, and
/// leaves the savepoint where the next write begins; see "Savepoints,
/// lazily". An error means the batch has ended, failed.
async fn undo_folded(state: &mut State, to: Name) -> Result<(), StoreError> {
    if run(state, to.rollback()).await.is_err() {
        // Nothing of the write ran: set the savepoint here, after the
        // work before it, once the transaction is known to be there.
        if !in_transaction(state).await {
            return Err(broken(state, "the transaction is gone").await);
        }
        if run(state, state.name.moved_on()).await.is_err()
            && let Err(e) = run(state, to.set()).await
        {
            return Err(broken(state, e).await);
        }
    }
    state.writing = None;
    state.name = to;
    state.dirty = false;
    Ok(())
}

/// Whether the batch's transaction is still open: a `BEGIN` fails inside
/// a transaction (one it opens is rolled back at once).
async fn in_transaction(state: &mut State) -> bool {
    match run(state, "BEGIN").await {
        Ok(()) => {
            let _ = run(state, "ROLLBACK").await;
            false
        }
        Err(_) => true,
    }
}

/// The batch's transaction is gone (or its savepoint): rolls back what is
/// left, fails every write of the batch with `e`, and frees the writer.
async fn broken(state: &mut State, e: impl std::fmt::Display) -> StoreError {
    tracing::warn!(error = %e, "a write batch lost its transaction; every write of it fails");
    let error = StoreError::Unavailable(format!("the write batch was rolled back: {e}"));
    let _ = run(state, "ROLLBACK").await;
    end(state, Err(error.clone()), false);
    error
}

/// Closes the batch with `outcome`: tells every write of it, and gives the
/// connection back to the pool unless `keep` (for the writes waiting).
fn end(state: &mut State, outcome: Result<(), StoreError>, keep: bool) {
    if keep {
        state.kept += 1;
    } else {
        state.conn = None;
        state.kept = 0;
    }
    state.writing = None;
    state.dirty = false;
    if let Some(batch) = state.batch.take() {
        batch.done.send_replace(Some(outcome));
    }
}

/// Commits the open batch, in a task of its own so that a dropped caller
/// cannot stop it half-way, and tells every write of the batch.
async fn commit(mut guard: OwnedMutexGuard<State>, counts: &Arc<Counts>) -> Result<(), StoreError> {
    let counts = counts.clone();
    let task = tokio::spawn(async move {
        let outcome = match run(&mut guard, "COMMIT").await {
            Ok(()) => {
                let writes = guard.batch.as_ref().map_or(0, |b| b.writes);
                counts.batches.fetch_add(1, Ordering::Relaxed);
                counts.writes.fetch_add(writes as u64, Ordering::Relaxed);
                if let Some(checkpointer) = &counts.checkpointer {
                    checkpointer.committed();
                }
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "a write batch failed to commit; every write of it fails");
                // The transaction may still be open (it is on SQLITE_BUSY).
                let _ = run(&mut guard, "ROLLBACK").await;
                Err(error::any(e))
            }
        };
        let keep = outcome.is_ok()
            && counts.keep
            && guard.kept < MAX_KEPT
            && counts.waiting.load(Ordering::SeqCst) > 0;
        end(&mut guard, outcome.clone(), keep);
        outcome
    });
    task.await.unwrap_or_else(|e| {
        Err(StoreError::Unavailable(format!(
            "the write batch's commit stopped: {e}"
        )))
    })
}
