//! [`PgNotifier`]: order events across processes, announced with
//! `LISTEN/NOTIFY` after commit and read from the events table.
//!
//! # Announcing after commit
//!
//! The store writes an event in the transaction that makes the change, and
//! does not announce it there: PostgreSQL serializes the commits of
//! notifying transactions (a global lock, held from before the commit until
//! its WAL is flushed), so checkouts that notified would wait for each
//! other's flushes one by one instead of sharing them. The engine calls
//! [`Notifier::publish`] once the change has committed. Here that wakes this
//! process's listener at once, and asks the announcer task to send one
//! `NOTIFY` for the other processes, with an asynchronous commit (it has
//! nothing worth a flush). Requests that come while one is being sent are
//! folded into the next, at most one every [`ANNOUNCE_GAP`]. Its payload is
//! the sending notifier's token, so a listener skips its own.
//!
//! # Finding the events by transaction, not by id
//!
//! A notification only says "look". Ids cannot say where to look from: they
//! come from a sequence, so a transaction that took a smaller id may commit
//! after one that took a larger id. Every event row therefore records the
//! id of the transaction that wrote it (`txid`), and the listener keeps a
//! cursor: the `xmax` and the in-progress list (`xip`) of the snapshot of
//! its last read. Every transaction below that `xmax` and not in that list
//! had ended when the read ran, so its events (if it committed) were in
//! the read. Each read therefore asks for the events whose writer is at or
//! above the last `xmax` or was in the last list, and its own snapshot
//! becomes the next cursor. So every committed event is read exactly once,
//! however commits interleave, whatever notifications were lost while the
//! listener was disconnected, and even when the process that wrote it died
//! before announcing it: the listener also reads every [`LISTENER_SWEEP`] on its
//! own, which bounds how late such an event can be.
//!
//! The events of one order are delivered in their order: a change to an
//! order commits after the change before it, so a read that sees the later
//! one sees the earlier one too (unless an earlier read delivered it), and
//! each read delivers in id order.
//!
//! Each process runs one listener task on a connection of its own
//! (application name `orders-listener`), fanning the events out on an
//! in-process broadcast: bounded, in overflow mode, so a slow subscriber is
//! told it lagged ([`SubscriptionError::Lagged`]) instead of slowing anyone.
//! That broadcast is a [`MemoryNotifier`]: a channel per followed order (of
//! at most [`orders_core::memory::ORDER_CAPACITY`] events) and one for
//! [`Topic::All`], so an event wakes only its order's subscribers (in
//! `orders-axum`, one per order, shared by all the sockets tracking it).
//!
//! [`SubscriptionError::Lagged`]: orders_core::ports::SubscriptionError::Lagged

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures_util::TryStreamExt;
use orders_core::ids::EventId;
use orders_core::memory::MemoryNotifier;
use orders_core::order::OrderEvent;
use orders_core::ports::{Notifier, StoreError, Subscription, Topic};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use super::{CHANNEL, PgStore};
use crate::codec::{self, Get};
use crate::error::OpenError;

/// How many events the broadcast holds for its slowest subscriber.
pub(crate) const CAPACITY: usize = orders_core::memory::DEFAULT_CAPACITY;
/// The application name of listening connections (to find them in
/// `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "orders-listener";
/// The least time between two announcements of one notifier: events
/// published meanwhile share the next one. It is what another process may
/// hear of an event later than this one does.
pub const ANNOUNCE_GAP: Duration = Duration::from_millis(5);
/// How often the listener reads without being woken: the longest an event
/// whose writer died before announcing it waits to be delivered.
pub const LISTENER_SWEEP: Duration = Duration::from_secs(2);
/// The least time between two reads of the listener: under load, the events
/// committed meanwhile are read together instead of one read each.
const READ_GAP: Duration = Duration::from_millis(2);

/// The current snapshot's `xmax` and in-progress list, as columns `xmax`
/// and `xip`: the listener's first cursor (the events table need not exist
/// yet).
const SNAPSHOT: &str = "SELECT pg_snapshot_xmax(c)::text::int8 AS xmax, \
     ARRAY(SELECT x::text::int8 FROM pg_snapshot_xip(c) AS x) AS xip \
     FROM pg_current_snapshot() AS c";

/// One read of the listener: its snapshot (always one row, the events'
/// columns empty when there are none), and the events written by
/// transactions at or above `$1` or in `$2`, in id order.
static READ: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT s.xmax, s.xip, e.* FROM ({SNAPSHOT}) AS s LEFT JOIN LATERAL (\
         SELECT {} FROM orders_order_events WHERE txid >= $1 OR txid = ANY ($2)) AS e ON true \
         ORDER BY e.id",
        codec::EVENT_COLUMNS
    )
});

/// An announcement: asynchronous commit, since losing it in a crash loses
/// nothing (the events are in the table, and listeners sweep).
/// `$1` is the channel, `$2` the payload.
const ANNOUNCE: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)";

/// The PostgreSQL notifier: one listener per process, fanning out to local
/// subscribers, and one announcer. Cheap to clone; both tasks stop when the
/// last clone is dropped.
#[derive(Clone)]
pub struct PgNotifier {
    /// The in-process fan-out (with replay from the events table) that the
    /// listener feeds.
    fanout: MemoryNotifier,
    /// Wakes this process's listener.
    wake: Arc<Notify>,
    /// Asks the announcer for a `NOTIFY`.
    announce: Arc<Notify>,
    _tasks: Arc<(AbortOnDrop, AbortOnDrop)>,
}

impl std::fmt::Debug for PgNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgNotifier").finish_non_exhaustive()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The listening connection's options: its application name, and no
/// sequential scans. Its one query must read the few newest events through
/// the `txid` index; on a young table (no statistics yet, or a few thousand
/// rows) the planner would rather scan all of `orders_order_events` on every read,
/// a cost that grows with the table.
fn listener_options(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name(LISTENER_APPLICATION_NAME)
        .options([("enable_seqscan", "off")])
}

/// A token no other notifier has, as the payload of this one's
/// announcements.
fn new_token() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}.{:x}.{:x}",
        std::process::id(),
        nanos,
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

impl PgNotifier {
    /// Connects the listener, listens, reads its first cursor, and spawns
    /// its task and the announcer's; returns once listening, so every event
    /// committed after this returns is delivered.
    pub(crate) async fn start(
        store: Arc<PgStore>,
        options: PgConnectOptions,
        capacity: usize,
    ) -> Result<Self, OpenError> {
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(listener_options(options));
        let fanout = MemoryNotifier::with_capacity(store.clone(), capacity);
        let wake = Arc::new(Notify::new());
        let announce = Arc::new(Notify::new());
        let token = new_token();
        let mut task = ListenerTask {
            listen_pool,
            fanout: fanout.clone(),
            wake: wake.clone(),
            token: token.clone(),
            cursor: None,
            partial: HashSet::new(),
        };
        let listener = task.listen().await.map_err(OpenError::Connect)?;
        let listening = tokio::spawn(task.run(listener));
        let announcer = Announcer {
            store,
            asked: announce.clone(),
            token,
        };
        let announcing = tokio::spawn(announcer.run());
        Ok(Self {
            fanout,
            wake,
            announce,
            _tasks: Arc::new((AbortOnDrop(listening), AbortOnDrop(announcing))),
        })
    }
}

#[async_trait]
impl Notifier for PgNotifier {
    /// Wakes this process's listener, which reads the (committed) event from
    /// the table, and has the other processes' listeners woken too. Never
    /// waits and never fails: an announcement that cannot be sent leaves
    /// the event to the other listeners' sweep.
    async fn publish(&self, _event: &OrderEvent) -> Result<(), StoreError> {
        self.wake.notify_one();
        self.announce.notify_one();
        Ok(())
    }

    async fn subscribe(
        &self,
        topic: Topic,
        after: Option<EventId>,
    ) -> Result<Subscription, StoreError> {
        self.fanout.subscribe(topic, after).await
    }
}

/// Sends the announcements of one notifier, one at a time.
struct Announcer {
    store: Arc<PgStore>,
    asked: Arc<Notify>,
    token: String,
}

impl Announcer {
    async fn run(self) {
        let mut failing = false;
        loop {
            self.asked.notified().await;
            let sent = kept!(
                self.store,
                execute,
                sqlx::query(ANNOUNCE).bind(CHANNEL).bind(&self.token)
            );
            match sent {
                Ok(_) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %e, "orders events cannot be announced to other processes; their listeners will find them when they sweep");
                }
                Err(_) => {}
            }
            tokio::time::sleep(ANNOUNCE_GAP).await;
        }
    }
}

/// Where the listener's next read starts: the last read's snapshot.
struct Cursor {
    xmax: i64,
    xip: Vec<i64>,
}

impl Cursor {
    /// The cursor of a row with the columns of [`SNAPSHOT`].
    fn of(row: &PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            xmax: sqlx::Row::try_get(row, "xmax")?,
            xip: sqlx::Row::try_get(row, "xip")?,
        })
    }
}

struct ListenerTask {
    listen_pool: PgPool,
    fanout: MemoryNotifier,
    wake: Arc<Notify>,
    token: String,
    /// `None` until the first read.
    cursor: Option<Cursor>,
    /// The events delivered by the read under way, or by one that failed
    /// part way: the next read, from the same cursor, skips them.
    partial: HashSet<i64>,
}

/// Why the listener stopped waiting.
enum Woken {
    /// Time to read.
    Read,
    /// Its connection failed: reconnect, then read.
    Lost(sqlx::Error),
}

impl ListenerTask {
    /// A listening connection. The first one also reads the first cursor:
    /// what committed before it is not this listener's to deliver.
    async fn listen(&mut self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.listen_pool).await?;
        listener.listen(CHANNEL).await?;
        if self.cursor.is_none() {
            self.read(&mut listener).await?;
        }
        Ok(listener)
    }

    async fn run(mut self, mut listener: PgListener) {
        let mut sweep = tokio::time::interval_at(Instant::now() + LISTENER_SWEEP, LISTENER_SWEEP);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_read = Instant::now();
        loop {
            let woken = loop {
                tokio::select! {
                    received = listener.try_recv() => match received {
                        // Its own announcement: its wake-up came first.
                        Ok(Some(n)) if n.payload() == self.token => continue,
                        Ok(Some(_)) => break Woken::Read,
                        // sqlx reconnected and listens again.
                        Ok(None) => {
                            tracing::warn!("orders listener reconnected; reading what it missed");
                            break Woken::Read;
                        }
                        Err(e) => break Woken::Lost(e),
                    },
                    () = self.wake.notified() => break Woken::Read,
                    _ = sweep.tick() => break Woken::Read,
                }
            };
            if let Woken::Lost(e) = woken {
                tracing::warn!(error = %e, "orders listener lost its connection");
                // Give its connection back to the pool first: the pool
                // holds exactly one.
                drop(listener);
                listener = self.reconnect().await;
            }
            tokio::time::sleep_until(last_read + READ_GAP).await;
            // Notifications already here are answered by this read; those
            // that come while it runs wake the next.
            while listener.next_buffered().is_some() {}
            last_read = Instant::now();
            while let Err(e) = self.read(&mut listener).await {
                tracing::warn!(error = %e, "orders listener read failed");
                drop(listener);
                listener = self.reconnect().await;
            }
        }
    }

    /// Reads and delivers the events committed since the last read, and
    /// moves the cursor to this read's snapshot; the first read only sets
    /// the cursor.
    async fn read(&mut self, listener: &mut PgListener) -> Result<(), sqlx::Error> {
        let Some(cursor) = &self.cursor else {
            let row = sqlx::query(SNAPSHOT).fetch_one(&mut *listener).await?;
            self.cursor = Some(Cursor::of(&row)?);
            return Ok(());
        };
        // Streamed, not collected: a read after a long disconnection may
        // return many events, and they are delivered as they arrive.
        let mut rows = sqlx::query(READ.as_str())
            .bind(cursor.xmax)
            .bind(cursor.xip.as_slice())
            .fetch(&mut *listener);
        let mut next = None;
        while let Some(row) = rows.try_next().await? {
            if next.is_none() {
                next = Some(Cursor::of(&row)?);
            }
            self.deliver(&row);
        }
        drop(rows);
        let next = next
            .ok_or_else(|| sqlx::Error::Protocol("the listener's read returned no row".into()))?;
        self.cursor = Some(next);
        // The read ran to its end: the next one starts after all of it.
        self.partial.clear();
        Ok(())
    }

    /// Sends a row's event, unless the row has none (the empty read's) or
    /// an unfinished read delivered it; remembers it until its read ends.
    fn deliver(&mut self, row: &PgRow) {
        let Ok(Some(id)) = row.opt_int("id") else {
            return;
        };
        if !self.partial.insert(id) {
            return;
        }
        match codec::event(row) {
            // Overflow mode: never waits; fails only with no subscriber.
            Ok(event) => self.fanout.publish_now(&event),
            Err(e) => tracing::error!(error = %e, "orders listener cannot decode an event"),
        }
    }

    /// A new listening connection, retrying with backoff until one works.
    async fn reconnect(&mut self) -> PgListener {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.listen().await {
                Ok(listener) => return listener,
                Err(e) => {
                    tracing::warn!(error = %e, "orders listener cannot reconnect yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, PgConnection};

    /// The listener's read uses the `txid` index on a fresh, migrated
    /// database (no statistics), where the planner would otherwise scan the
    /// whole events table on every read.
    #[tokio::test]
    async fn the_listeners_read_does_not_scan_the_events_table() {
        let Some(db) = super::super::scratch::Scratch::create().await else {
            return;
        };
        let mut conn = PgConnection::connect_with(&listener_options(db.options.clone()))
            .await
            .expect("listener connection");
        let plan: Vec<String> =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {}", *READ)))
                .bind(0_i64)
                .bind(Vec::<i64>::new())
                .fetch_all(&mut conn)
                .await
                .expect("explain");
        let _ = conn.close().await;
        db.drop_database().await;
        let plan = plan.join("\n");
        assert!(plan.contains("orders_order_events_fan_out"), "{plan}");
        assert!(!plan.contains("Seq Scan on orders_order_events"), "{plan}");
    }
}
