//! [`PgStore`]: every storage port on PostgreSQL, for many stateless
//! instances sharing one database; [`PgNotifier`] carries order events
//! between them with `LISTEN/NOTIFY`.
//!
//! Why concurrent checkouts cannot oversell is in the docs of the `place`
//! module (the checkout's one statement).
//!
//! # Round trips
//!
//! A keyed checkout is two statements. The first claims the idempotency
//! key and reads the cart with its products
//! ([`IdempotencyStore::begin_idempotent_with_cart`]). The placement is
//! the second: one call of the `orders_place` function (its own implicit
//! transaction, so no `BEGIN` and no `COMMIT` trips) that locks and checks
//! the cart, the stock, the discount and the idempotency record, and only
//! then closes the cart, takes the stock, counts the discount use, inserts
//! the order, its lines and its first event, and completes the record. A
//! cart change is two (the cart with its products, then
//! the compare-and-set). A status change is three reads (the order, its
//! lines, its records) and one statement (its own transaction); a change
//! of an order the caller holds ([`OrderStore::change_status_of`]: the
//! capture a card checkout records right after its placement) is that one
//! statement alone. So the load test's journey A (a cart, one product, a
//! keyed card checkout captured at once) is six statements: the cart's
//! insert, the cart change's two, the claim, the placement and the
//! capture's record.
//!
//! Every store call except [`OrderStore::ping`] and the multi-statement
//! transactions runs on a connection kept between calls (`crate::lease`),
//! and the default pool does not check a connection before handing it out
//! ([`PgStore::default_pool_options`]): sqlx checks a connection with a
//! ping when it comes back to the pool and, optionally, before handing it
//! out, a round trip each, which would be half of a journey's trips.
//!
//! No write calls `pg_notify`: PostgreSQL serializes the commits of
//! notifying transactions (a global lock held until the commit is flushed),
//! which would keep checkouts from sharing WAL flushes. [`PgNotifier`] announces
//! events after commit, and its listener finds them by the id of the
//! transaction that wrote them, so it needs no notification to be in
//! order, or to arrive at all.
//!
//! # Numbering
//!
//! Order numbers and event ids come from identity sequences. They rise in
//! the order transactions take them, which under concurrency can differ a
//! little from commit order, and a transaction rolled back by a fault
//! leaves a gap. A checkout refused for a business reason (stock, closed
//! cart, discount) is refused before it takes a number.
//!
//! [`IdempotencyStore::begin_idempotent_with_cart`]: orders_core::ports::IdempotencyStore::begin_idempotent_with_cart
//! [`OrderStore::ping`]: orders_core::ports::OrderStore::ping
//! [`OrderStore::change_status_of`]: orders_core::ports::OrderStore::change_status_of

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use orders_core::ports::{Page, PageRequest, StoreError};
use sqlx::Postgres;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use crate::codec;
use crate::error::{self, OpenError};
use crate::lease::Conns;
use crate::migrations;
use crate::{rows, statements};

pub use notifier::{ANNOUNCE_GAP, LISTENER_APPLICATION_NAME, LISTENER_SWEEP, PgNotifier};

codec::impl_get!(PgRow);

/// The channel order events are announced on (after commit, by
/// [`PgNotifier`]); the payload is the announcing notifier's token.
pub(crate) const CHANNEL: &str = "orders_events";
/// How many times a transaction that hit a deadlock or a serialization
/// failure is run again.
const ATTEMPTS: usize = 8;
/// Connections of a store's pool unless the URL or the host says otherwise.
const DEFAULT_CONNECTIONS: u32 = 16;
/// How long a store call waits for a connection before it fails with
/// [`StoreError::Unavailable`] (answered 503 by the API): short, because
/// while the server is away sqlx keeps retrying the connection until this
/// runs out, and a request should hear that the database is away within a
/// second. A healthy pool hands connections out in milliseconds.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);
/// How long [`PgStore`]'s `release_idempotent` waits for a connection. It
/// runs after a checkout failed, often because the database is away, when
/// waiting a full [`DEFAULT_ACQUIRE_TIMEOUT`] again would double the time the
/// client waits for its 503; a healthy pool has a connection well within it.
pub const RELEASE_CLAIM_WAIT: Duration = Duration::from_millis(150);
/// The `statement_timeout` [`PgStore::connect`] sets on every connection: a
/// statement stuck on a lock or a hung server fails instead of holding its
/// request and its connection forever.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL store. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool, with connections kept between the calls of a
    /// checkout (see `crate::lease`).
    conns: Arc<Conns<Postgres>>,
    options: PgConnectOptions,
}

/// Runs one query (`$query`, an sqlx query built with its binds) with the
/// executor method `$method` on a connection kept between store calls
/// (`crate::lease`), so that no call pays sqlx's release ping. Evaluates to
/// the method's `Result<_, sqlx::Error>`. With `within $wait` first, it
/// waits at most `$wait` for the connection (`Conns::get_within`).
macro_rules! kept {
    ($store:expr, within $wait:expr, $method:ident, $query:expr) => {{
        // Built out here, so a `?` among its binds returns from the caller.
        let query = $query;
        async {
            let mut lease = $store.conns.get_within($wait).await?;
            let result = query.$method(&mut *lease).await;
            lease.settle(&result);
            result
        }
        .await
    }};
    ($store:expr, $method:ident, $query:expr) => {
        kept!(
            $store,
            within $store.conns.acquire_timeout(),
            $method,
            $query
        )
    };
}

/// Runs `$body` (an async block using `$conn: &mut PgConnection`) in a
/// transaction, committing on `Ok`, rolling back on `Err`, and running it
/// again after a deadlock or a serialization failure. Evaluates to
/// `Result<T, StoreError>`; `$unique` names the field a unique violation
/// means.
macro_rules! pg_tx {
    ($store:expr, $unique:expr, |$conn:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<_, $crate::error::Fail> = async {
                let mut tx = $store.pool.begin().await?;
                let value = {
                    let $conn: &mut sqlx::PgConnection = &mut tx;
                    $body.await?
                };
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(fail) if fail.is_retryable() && attempt < $crate::postgres::ATTEMPTS => {
                    tokio::time::sleep(std::time::Duration::from_millis(attempt as u64 * 2)).await;
                    continue;
                }
                Err(fail) => break Err(fail.into_store($unique)),
            }
        }
    }};
}

// After the macros, which it uses.
mod notifier;

impl PgStore {
    /// The pool options [`PgStore::connect`] uses: 16 connections, no
    /// check before each use, and a connection within
    /// [`DEFAULT_ACQUIRE_TIMEOUT`] or [`StoreError::Unavailable`].
    ///
    /// No liveness check (`test_before_acquire`) when a connection is handed
    /// out: it is a round trip before every store call, a third of a checkout's
    /// trips. sqlx still checks each connection when it comes back to the pool
    /// and discards a broken one, so what is left is a connection that broke
    /// while idle (the server restarted, a proxy cut it): its next query fails
    /// with [`StoreError::Unavailable`] and it is discarded. Hosts that prefer
    /// the check pass their own pool options to [`PgStore::connect_with`].
    pub fn default_pool_options() -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(DEFAULT_CONNECTIONS)
            .test_before_acquire(false)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
    }

    /// Connects to `url` (`postgres://user:password@host/db`) with
    /// [`PgStore::default_pool_options`], a `statement_timeout` of
    /// [`DEFAULT_STATEMENT_TIMEOUT`] and `jit` off, unless the URL's
    /// `options` set them. Does not migrate: call [`PgStore::migrate`].
    ///
    /// Why `jit` off: the store's statements are short, and PostgreSQL
    /// compiles a statement whose estimated cost passes `jit_above_cost`,
    /// which a claim of deliveries over a large backlog does: compiling
    /// took 20-40 ms of a statement that runs in 2. Hosts that connect
    /// with their own options ([`PgStore::connect_with`],
    /// [`PgStore::from_pool`]) are advised to do the same (`options=-c
    /// jit=off` in the URL, or `ALTER ROLE … SET jit = off`).
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the URL is malformed or the server refuses.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let statement_timeout = DEFAULT_STATEMENT_TIMEOUT.as_millis().to_string();
        let mut options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        let set = options.get_options().unwrap_or_default().to_owned();
        if !set.contains("statement_timeout") {
            options = options.options([("statement_timeout", statement_timeout.as_str())]);
        }
        if !set.contains("jit") {
            options = options.options([("jit", "off")]);
        }
        Self::connect_with(options, Self::default_pool_options()).await
    }

    /// Connects with the host's own connection and pool options; the pool's
    /// `acquire_timeout` is how long a store call waits for a connection
    /// (sqlx's default is 30 s; [`DEFAULT_ACQUIRE_TIMEOUT`] is this store's).
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the server refuses.
    pub async fn connect_with(
        options: PgConnectOptions,
        pool: PgPoolOptions,
    ) -> Result<Self, OpenError> {
        let pool = pool
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
        // Keep all but two connections between calls: those two stay free
        // for the host's own queries on `pool()`.
        let keep = (pool.options().get_max_connections() as usize).saturating_sub(2);
        let conns = Arc::new(Conns::new(pool.clone(), keep));
        Ok(Self {
            pool,
            conns,
            options,
        })
    }

    /// The store on a host's own `pool`: its statements run on the host's
    /// connections, with the host's pool settings (size, acquire timeout,
    /// statement timeout if its options set one). The notifier's listening
    /// connection ([`PgStore::notifier`]) is opened with the pool's connect
    /// options, outside the pool, since it stays in `LISTEN` for the life of
    /// the process.
    ///
    /// Of the pool's connections the store keeps at most half between its
    /// calls (see `crate::lease`), so the host's own queries always find the
    /// rest.
    pub fn from_pool(pool: PgPool) -> Self {
        let options = (*pool.connect_options()).clone();
        let keep = pool.options().get_max_connections() as usize / 2;
        let conns = Arc::new(Conns::new(pool.clone(), keep));
        Self {
            pool,
            conns,
            options,
        }
    }

    /// Runs the embedded PostgreSQL migrations (`migrations/postgres`),
    /// under sqlx's advisory lock so instances starting together migrate
    /// once; running them again is a no-op.
    ///
    /// # Errors
    /// [`OpenError::Migrate`].
    pub async fn migrate(&self) -> Result<(), OpenError> {
        let migrator = migrations::postgres();
        migrations::prepare_postgres(&self.pool, &migrator)
            .await
            .map_err(OpenError::Migrate)?;
        migrator.run(&self.pool).await.map_err(OpenError::Migrate)?;
        catalogue::fill_search_text(&self.pool)
            .await
            .map_err(|e| OpenError::Migrate(sqlx::migrate::MigrateError::Execute(e)))
    }

    /// Starts this process's listener and returns the notifier fed by it.
    /// Call it once per process and share the notifier: each call opens a
    /// listening connection of its own.
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the listening connection cannot be opened.
    pub async fn notifier(self: &Arc<Self>) -> Result<PgNotifier, OpenError> {
        self.notifier_with_capacity(notifier::CAPACITY).await
    }

    /// As [`PgStore::notifier`], with a broadcast that holds `capacity`
    /// events for its slowest subscriber before telling it it lagged
    /// (default 1024).
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the listening connection cannot be opened.
    pub async fn notifier_with_capacity(
        self: &Arc<Self>,
        capacity: usize,
    ) -> Result<PgNotifier, OpenError> {
        PgNotifier::start(self.clone(), self.options.clone(), capacity).await
    }

    /// The pool, for a host's own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections in use.
    pub async fn close(&self) {
        self.conns.release_all();
        self.pool.close().await;
    }

    /// A keyset page of `table` (its `columns`, `filter` added to the
    /// condition), newest first by `seq`, each row decoded with `decode`.
    async fn seq_page<T>(
        &self,
        table: &str,
        columns: &str,
        filter: &str,
        page: &PageRequest,
        decode: fn(&PgRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = statements::seq_page(table, columns, filter);
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(before)
                .bind(limit as i64 + 1)
        )
        .map_err(error::any)?;
        let (rows, next_cursor) = rows::page_cut(rows, limit, "seq")?;
        let items = rows.iter().map(decode).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

// One module per port, after the macros, which they use.
mod carts;
mod catalogue;
mod deliveries;
mod delivery_arrays;
mod discounts;
mod idempotency;
mod mails;
mod orders;
pub(crate) mod place;
#[cfg(test)]
mod scratch;
