//! [`PgNotifier`]: order events across processes with `LISTEN/NOTIFY`.
//!
//! Writers call `pg_notify('orders_events', id)` inside the transaction
//! that writes the event, so PostgreSQL delivers the notification only if
//! that transaction commits, and in commit order. [`Notifier::publish`] is
//! therefore a no-op here: by the time the engine calls it, the event is
//! already announced.
//!
//! Each process runs one listener task on a connection of its own
//! (application name `orders-listener`). It reads each notified event from
//! the table and fans it out on an in-process broadcast: bounded, in
//! overflow mode, so a slow subscriber is told it lagged
//! ([`SubscriptionError::Lagged`]) instead of slowing anyone.
//!
//! # Losing no event when the connection drops
//!
//! Notifications sent while the listener is disconnected are lost, and
//! event ids alone cannot say which events to re-read: ids come from a
//! sequence, so a transaction that took a smaller id may commit after one
//! that took a larger id. Every event row therefore records the id of the
//! transaction that wrote it (`txid`). Each read the listener makes on its
//! own connection also returns the oldest transaction still running
//! (`pg_snapshot_xmin`); once the notifications that arrived before that
//! read are handled, every event written by an older transaction has been
//! delivered. After reconnecting (and listening again) the listener reads
//! every event whose `txid` is at least that floor, and delivers those it
//! has not. A floor is used only once it is a few seconds old, which covers
//! the short moment between a commit and its notification reaching the
//! listener. Delivered ids are remembered down to the floor, so nothing is
//! delivered twice.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orders_core::ids::EventId;
use orders_core::memory::MemoryNotifier;
use orders_core::order::OrderEvent;
use orders_core::ports::{Notifier, StoreError, Subscription, Topic};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};

use super::{CHANNEL, PgStore};
use crate::codec::{self, Get};
use crate::error::{self, OpenError};

/// How many events the broadcast holds for its slowest subscriber.
pub(crate) const CAPACITY: usize = orders_core::memory::DEFAULT_CAPACITY;
/// The application name of listening connections (to find them in
/// `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "orders-listener";
/// How old a floor must be before a catch-up relies on it.
const FLOOR_MARGIN: Duration = Duration::from_secs(5);
/// Events read per catch-up query.
const CATCH_UP_BATCH: i64 = 1000;

/// The PostgreSQL notifier: one listener per process, fanning out to local
/// subscribers. Cheap to clone; the listener stops when the last clone is
/// dropped.
#[derive(Clone)]
pub struct PgNotifier {
    /// The in-process fan-out (with replay from the events table) that the
    /// listener feeds.
    fanout: MemoryNotifier,
    _listener: Arc<AbortOnDrop>,
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

impl PgNotifier {
    /// Connects the listener, listens, and spawns its task; returns once
    /// listening, so every event committed after this returns is delivered.
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
            .connect_lazy_with(options.application_name(LISTENER_APPLICATION_NAME));
        let fanout = MemoryNotifier::with_capacity(store.clone(), capacity);
        let mut task = ListenerTask {
            store: store.clone(),
            listen_pool,
            fanout: fanout.clone(),
            delivered: HashMap::new(),
            candidates: VecDeque::new(),
            floor: 0,
        };
        let listener = task.listen().await.map_err(OpenError::Connect)?;
        let handle = tokio::spawn(task.run(listener));
        Ok(Self {
            fanout,
            _listener: Arc::new(AbortOnDrop(handle)),
        })
    }
}

#[async_trait]
impl Notifier for PgNotifier {
    /// Nothing to do: the store announced the event inside its transaction.
    async fn publish(&self, _event: &OrderEvent) -> Result<(), StoreError> {
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

struct ListenerTask {
    store: Arc<PgStore>,
    listen_pool: PgPool,
    fanout: MemoryNotifier,
    /// Delivered event ids and their writers' transaction ids, down to `floor`.
    delivered: HashMap<i64, i64>,
    /// Snapshot horizons seen, not yet old enough to be the floor.
    candidates: VecDeque<(Instant, i64)>,
    /// Every event written by a transaction older than this was delivered.
    floor: i64,
}

/// The event columns plus the writer's transaction id and the reader's
/// snapshot horizon.
fn select_events(condition: &str) -> String {
    format!(
        "SELECT {}, txid, pg_snapshot_xmin(pg_current_snapshot())::text::int8 AS horizon
         FROM order_events WHERE {condition} ORDER BY id",
        codec::EVENT_COLUMNS
    )
}

impl ListenerTask {
    /// A listening connection, and the floor from its first snapshot.
    async fn listen(&mut self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.listen_pool).await?;
        listener.listen(CHANNEL).await?;
        let horizon: i64 =
            sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8")
                .fetch_one(&mut listener)
                .await?;
        if self.floor == 0 {
            self.floor = horizon;
        }
        Ok(listener)
    }

    async fn run(mut self, mut listener: PgListener) {
        let mut missed: Vec<i64> = Vec::new();
        loop {
            let first = match listener.try_recv().await {
                Ok(Some(notification)) => notification,
                Ok(None) => {
                    // sqlx reconnected and listens again; fill the gap.
                    tracing::warn!("orders listener reconnected; catching up");
                    self.catch_up(&mut missed).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "orders listener lost its connection");
                    // Give its connection back to the pool first: the pool
                    // holds exactly one.
                    drop(listener);
                    listener = self.reconnect().await;
                    self.catch_up(&mut missed).await;
                    continue;
                }
            };
            let mut ids = vec![first];
            while let Some(n) = listener.next_buffered() {
                ids.push(n);
            }
            let mut pending: Option<i64> = None;
            loop {
                let wanted: Vec<i64> = ids
                    .iter()
                    .filter_map(|n| n.payload().parse().ok())
                    .collect();
                let rows = sqlx::query(sqlx::AssertSqlSafe(select_events("id = ANY($1)")))
                    .bind(&wanted)
                    .fetch_all(&mut listener)
                    .await;
                let rows = match rows {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "orders listener read failed");
                        missed.extend(wanted);
                        drop(listener);
                        listener = self.reconnect().await;
                        self.catch_up(&mut missed).await;
                        break;
                    }
                };
                let horizon = match rows.first() {
                    Some(row) => row.int("horizon").ok(),
                    None => None,
                };
                self.deliver(&rows);
                // The horizon of the previous read is now safe: every
                // notification that arrived before it was read has been handled.
                if let Some(h) = pending.take() {
                    self.observe(h);
                }
                ids.clear();
                while let Some(n) = listener.next_buffered() {
                    ids.push(n);
                }
                match horizon {
                    Some(h) if ids.is_empty() => {
                        self.observe(h);
                        break;
                    }
                    Some(h) => pending = Some(h),
                    None if ids.is_empty() => break,
                    None => {}
                }
            }
        }
    }

    /// Sends each row's event unless it was delivered already.
    fn deliver(&mut self, rows: &[PgRow]) {
        for row in rows {
            let (Ok(id), Ok(txid)) = (row.int("id"), row.int("txid")) else {
                continue;
            };
            if self.delivered.contains_key(&id) {
                continue;
            }
            match codec::event(row) {
                Ok(event) => {
                    self.delivered.insert(id, txid);
                    // Overflow mode: never waits; fails only with no subscriber.
                    self.fanout.publish_now(&event);
                }
                Err(e) => {
                    tracing::error!(error = %e, event = id, "orders listener cannot decode an event")
                }
            }
        }
    }

    /// Records a snapshot horizon; those older than the margin become the
    /// floor, and delivered ids below it are forgotten.
    fn observe(&mut self, horizon: i64) {
        let now = Instant::now();
        self.candidates.push_back((now, horizon));
        let mut raised = false;
        while let Some(&(at, h)) = self.candidates.front() {
            if now.duration_since(at) < FLOOR_MARGIN {
                break;
            }
            self.candidates.pop_front();
            if h > self.floor {
                self.floor = h;
                raised = true;
            }
        }
        if raised {
            let floor = self.floor;
            self.delivered.retain(|_, txid| *txid >= floor);
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

    /// Delivers every event written by a transaction at or above the floor
    /// (and the `missed` ids), retrying until the database answers.
    async fn catch_up(&mut self, missed: &mut Vec<i64>) {
        let mut delay = Duration::from_millis(50);
        loop {
            match self.try_catch_up(missed).await {
                Ok(()) => {
                    missed.clear();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "orders listener cannot catch up yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn try_catch_up(&mut self, missed: &[i64]) -> Result<(), StoreError> {
        let sql = select_events("(txid >= $1 OR id = ANY($2)) AND id > $3");
        let sql = format!("{sql} LIMIT {CATCH_UP_BATCH}");
        let mut after = 0_i64;
        let mut first_horizon = None;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(self.floor)
                .bind(missed)
                .bind(after)
                .fetch_all(self.store.pool())
                .await
                .map_err(error::any)?;
            if first_horizon.is_none() {
                first_horizon = rows.first().and_then(|r| r.int("horizon").ok());
            }
            self.deliver(&rows);
            match rows.last() {
                Some(last) if rows.len() as i64 == CATCH_UP_BATCH => after = last.int("id")?,
                _ => break,
            }
        }
        // Everything older than the first read's horizon was committed before
        // it, and so was read here (or delivered before): a floor. It is used
        // (and ids below it forgotten) only after the margin, since the
        // notifications of events just read here may still be on their way.
        if let Some(h) = first_horizon {
            self.observe(h);
        }
        Ok(())
    }
}
