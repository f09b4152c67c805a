//! [`PgStore`]: every storage port on PostgreSQL, for many stateless
//! instances sharing one database; [`PgNotifier`] carries order events
//! between them with `LISTEN/NOTIFY`.
//!
//! # Why `READ COMMITTED` cannot oversell
//!
//! Transactions run at PostgreSQL's default, `READ COMMITTED`. Checkout
//! never decides from a plain read: it first *locks* the rows it will
//! change (`SELECT … FOR UPDATE`). A locking read waits for a concurrent
//! holder of the row, and when that one commits it returns the row's
//! *newest* committed version (PostgreSQL's "EvalPlanQual" re-check), not
//! the one in its older snapshot; nobody else can change the row until
//! this checkout commits. So the second of two checkouts sees the stock the
//! first one left and either takes from it or finds it short; both cannot
//! take the last unit. The decision is then applied with updates that carry
//! no `stock >= q` guard of their own, so a wrong decision could only
//! abort the transaction on `CHECK (stock >= 0)` (and the discount's
//! `uses <= max_uses`), never let an order through without its stock. A
//! higher isolation level would add serialization failures and retries
//! without preventing anything more.
//!
//! Rows are locked in a fixed order (the cart, the products in id order,
//! the discount), so two checkouts of overlapping carts never wait on each
//! other in a cycle. Deadlocks and serialization failures the server
//! reports anyway are retried inside, with the whole transaction.
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
//! the compare-and-set), so the load test's journey A is five statements.
//! A status change is two reads and one statement (its own transaction).
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

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::cart::Cart;
use orders_core::catalogue::{Product, ProductPatch};
use orders_core::discount::{Discount, DiscountCode};
use orders_core::ids::{CartId, CustomerId, EventId, OrderId, ProductId};
use orders_core::order::{Order, OrderEvent, OrderNumber, StatusChange};
use orders_core::ports::{
    CartStore, CatalogueStore, ClaimAndCart, DiscountStore, EventLog, IdempotencyClaim,
    IdempotencyState, IdempotencyStore, OrderFilter, OrderPlacement, OrderStore, Page, PageRequest,
    Placed, StoreError,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::codec::{self, Get, ts};
use crate::error::{self, Fail, OpenError};
use crate::lease::Conns;
use crate::migrations;

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
            let result: Result<_, Fail> = async {
                let mut tx = $store.pool.begin().await?;
                let value = {
                    let $conn: &mut PgConnection = &mut tx;
                    $body.await?
                };
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(attempt as u64 * 2)).await;
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
    /// [`PgStore::default_pool_options`] and a `statement_timeout` of
    /// [`DEFAULT_STATEMENT_TIMEOUT`] unless the URL's `options` set one.
    /// Does not migrate: call [`PgStore::migrate`].
    ///
    /// # Errors
    /// [`OpenError::Connect`] if the URL is malformed or the server refuses.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let statement_timeout = DEFAULT_STATEMENT_TIMEOUT.as_millis().to_string();
        let mut options = PgConnectOptions::from_str(url).map_err(OpenError::Connect)?;
        if !options
            .get_options()
            .is_some_and(|o| o.contains("statement_timeout"))
        {
            options = options.options([("statement_timeout", statement_timeout.as_str())]);
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

    /// Runs the embedded PostgreSQL migrations (`migrations/postgres`),
    /// under sqlx's advisory lock so instances starting together migrate
    /// once; running them again is a no-op.
    ///
    /// # Errors
    /// [`OpenError::Migrate`].
    pub async fn migrate(&self) -> Result<(), OpenError> {
        migrations::postgres()
            .run(&self.pool)
            .await
            .map_err(OpenError::Migrate)
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
        let sql = format!(
            "SELECT {columns} FROM {table} WHERE seq < $1 {filter} ORDER BY seq DESC LIMIT $2"
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(before)
                .bind(limit as i64 + 1)
        )
        .map_err(error::any)?;
        let (rows, next_cursor) = page_of(rows, limit, "seq")?;
        let items = rows.iter().map(decode).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    async fn load_orders(&self, heads: Vec<PgRow>) -> Result<Vec<Order>, StoreError> {
        if heads.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = heads
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<_, _>>()?;
        let sql = format!(
            "SELECT {} FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, position",
            codec::LINE_COLUMNS
        );
        let lines = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&ids)
        )
        .map_err(error::any)?;
        let mut out = Vec::with_capacity(heads.len());
        for (row, id) in heads.iter().zip(&ids) {
            let currency = orders_core::money::Currency::parse(&row.text("currency")?)
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            let mut mine = Vec::new();
            for line in lines
                .iter()
                .filter(|l| l.text("order_id").is_ok_and(|o| &o == id))
            {
                mine.push(codec::line(line, currency)?);
            }
            out.push(codec::order(row, mine)?);
        }
        Ok(out)
    }
}

fn page_of(
    mut rows: Vec<PgRow>,
    limit: usize,
    key: &str,
) -> Result<(Vec<PgRow>, Option<orders_core::ports::Cursor>), StoreError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = match rows.last() {
        Some(last) if more => Some(codec::cursor(last.int(key)?)),
        _ => None,
    };
    Ok((rows, next))
}

#[async_trait]
impl CatalogueStore for PgStore {
    async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        kept!(self, execute, sqlx::query(
            "INSERT INTO products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at, version)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(p.id.as_str())
        .bind(p.sku.as_str())
        .bind(p.name.as_str())
        .bind(p.description.as_str())
        .bind(p.price.to_minor())
        .bind(p.currency.code())
        .bind(i64::from(p.stock))
        .bind(p.active)
        .bind(p.tax_class.as_str())
        .bind(ts(p.created_at))
        .bind(ts(p.updated_at))
        .bind(codec::to_i64(p.version)?)
        )
        .map_err(|e| error::db(e, "sku"))?;
        Ok(())
    }

    async fn update_product(
        &self,
        id: &ProductId,
        patch: &ProductPatch,
        expected_version: Option<u64>,
        now: DateTime<Utc>,
    ) -> Result<Product, StoreError> {
        pg_tx!(self, "sku", |conn| {
            async {
                let sql = format!(
                    "SELECT {} FROM products WHERE id = $1 FOR UPDATE",
                    codec::PRODUCT_COLUMNS
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id.as_str())
                    .fetch_optional(&mut *conn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let stored = codec::product(&row)?;
                let product = patch.applied_to(&stored, expected_version, now)?;
                sqlx::query(
                    "UPDATE products SET name = $1, description = $2, price_minor = $3, stock = $4, active = $5,
                     tax_class = $6, updated_at = $7, version = $8 WHERE id = $9",
                )
                .bind(product.name.as_str())
                .bind(product.description.as_str())
                .bind(product.price.to_minor())
                .bind(i64::from(product.stock))
                .bind(product.active)
                .bind(product.tax_class.as_str())
                .bind(ts(product.updated_at))
                .bind(codec::to_i64(product.version)?)
                .bind(id.as_str())
                .execute(&mut *conn)
                .await?;
                Ok::<_, Fail>(product)
            }
        })
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, StoreError> {
        let sql = format!(
            "SELECT {} FROM products WHERE id = $1",
            codec::PRODUCT_COLUMNS
        );
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::product).transpose()
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let sql = format!(
            "SELECT {} FROM products WHERE id = ANY($1)",
            codec::PRODUCT_COLUMNS
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&ids)
        )
        .map_err(error::any)?;
        rows.iter().map(codec::product).collect()
    }

    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let filter = if active_only { "AND active" } else { "" };
        self.seq_page(
            "products",
            codec::PRODUCT_COLUMNS,
            filter,
            page,
            codec::product,
        )
        .await
    }
}

#[async_trait]
impl CartStore for PgStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        kept!(self, execute, sqlx::query(
            "INSERT INTO carts (id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(cart.id.as_str())
        .bind(cart.customer_id.as_str())
        .bind(cart.currency.code())
        .bind(codec::cart_lines(&cart.lines)?)
        .bind(cart.discount_code.as_ref().map(DiscountCode::as_str))
        .bind(codec::cart_status(cart.status))
        .bind(codec::to_i64(cart.version)?)
        .bind(ts(cart.created_at))
        .bind(ts(cart.updated_at))
        )
        .map_err(|e| error::db(e, "cart"))?;
        Ok(())
    }

    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        let sql = format!("SELECT {} FROM carts WHERE id = $1", codec::CART_COLUMNS);
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::cart).transpose()
    }

    /// One statement: the cart (its columns prefixed `cart_`) on every row,
    /// joined to the products of its lines and of `extra`; no row for an
    /// unknown cart, one row with null product columns when there are no
    /// products.
    async fn cart_with_products(
        &self,
        id: &CartId,
        extra: &[ProductId],
    ) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            codec::cart_with_products_sql("$1", &cart_product_ids(Some("$2::text[]")))
        });
        let extra: Vec<&str> = extra.iter().map(ProductId::as_str).collect();
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(id.as_str())
                .bind(&extra)
        )
        .map_err(error::any)?;
        codec::cart_with_products(&rows)
    }

    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
        let found: Option<bool> = kept!(self, fetch_optional, sqlx::query_scalar(
            "WITH u AS (UPDATE carts SET customer_id = $1, currency = $2, lines = $3, discount_code = $4,
             status = $5, version = $6, created_at = $7, updated_at = $8 WHERE id = $9 AND version = $10
             RETURNING 1)
             SELECT EXISTS (SELECT 1 FROM u) FROM carts WHERE id = $9",
        )
        .bind(cart.customer_id.as_str())
        .bind(cart.currency.code())
        .bind(codec::cart_lines(&cart.lines)?)
        .bind(cart.discount_code.as_ref().map(DiscountCode::as_str))
        .bind(codec::cart_status(cart.status))
        .bind(codec::to_i64(cart.version)?)
        .bind(ts(cart.created_at))
        .bind(ts(cart.updated_at))
        .bind(cart.id.as_str())
        .bind(codec::to_i64(expected_version)?)
        )
        .map_err(error::any)?;
        match found {
            Some(true) => Ok(()),
            Some(false) => Err(StoreError::Conflict),
            None => Err(StoreError::NotFound),
        }
    }
}

#[async_trait]
impl DiscountStore for PgStore {
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        let d = codec::discount_row(discount);
        kept!(self, execute, sqlx::query(
            "INSERT INTO discounts (code, kind, percent, amount_minor, amount_currency, min_subtotal_minor,
             min_subtotal_currency, max_uses, uses, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(d.code)
        .bind(d.kind)
        .bind(d.percent)
        .bind(d.amount_minor)
        .bind(d.amount_currency)
        .bind(d.min_subtotal_minor)
        .bind(d.min_subtotal_currency)
        .bind(d.max_uses)
        .bind(d.uses)
        .bind(d.expires_at)
        .bind(d.created_at)
        )
        .map_err(|e| error::db(e, "code"))?;
        Ok(())
    }

    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError> {
        let sql = format!(
            "SELECT {} FROM discounts WHERE code = $1",
            codec::DISCOUNT_COLUMNS
        );
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(code.as_str())
        )
        .map_err(error::any)?;
        row.as_ref().map(codec::discount).transpose()
    }

    async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, StoreError> {
        self.seq_page(
            "discounts",
            codec::DISCOUNT_COLUMNS,
            "",
            page,
            codec::discount,
        )
        .await
    }
}

/// A whole checkout in one call of `orders_place` (migration
/// `0002_place_function.sql`, last replaced by `0005_place_lines_by_name.sql`),
/// so in one round trip and its own (implicit) transaction: no `BEGIN`, no
/// `COMMIT`. See the module docs for why this cannot oversell.
///
/// The order's lines are one JSON array (`$21`, see [`lines_json`]) whose
/// objects name each field, so a field bound in the wrong place is a
/// misnamed key, not an amount stored in the wrong column.
///
/// The function first locks and reads, in a fixed order (cart, then
/// products in id order, then the discount, then the idempotency key), and
/// returns a refusal before writing anything if the checkout cannot go: a
/// refused checkout changes nothing and takes no order number. A locking
/// read under `READ COMMITTED` returns each row's newest committed version,
/// and nobody can change it until this transaction commits, so the decision
/// stays true. The stock is taken *without* a `stock >= q` guard, so if the
/// decision were ever wrong the `CHECK (stock >= 0)` would abort the whole
/// call rather than let an order through without its stock (the same holds
/// for the discount's `uses <= max_uses`).
///
/// Each of its statements takes a fresh snapshot, so the writes after the
/// locks see the locked rows' current versions: only the small locking
/// statements are ever re-checked (`EvalPlanQual`) when a concurrent
/// checkout changed a row first.
const PLACE: &str = "SELECT cart_status, short, discounted, placed, number, event_id \
    FROM orders_place($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
    $17, $18, $19, $20, $21::jsonb, $22, $23, $24, $25, $26, $27, $28, $29)";

/// The lines of an order as `orders_place` reads them: a JSON array of
/// objects, one per line in order, each field by name, money in minor
/// units.
pub(crate) fn lines_json(lines: &[orders_core::order::OrderLine]) -> String {
    let lines = lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "product_id": l.product_id.as_str(),
                "sku": l.sku.as_str(),
                "name": l.name.as_str(),
                "quantity": i64::from(l.quantity.get()),
                "unit_price": l.unit_price.to_minor(),
                "subtotal": l.line_subtotal.to_minor(),
                "discount": l.line_discount.to_minor(),
                "tax": l.line_tax.to_minor(),
                "total": l.line_total.to_minor(),
                "tax_class": l.tax_class.as_str(),
            })
        })
        .collect();
    serde_json::Value::Array(lines).to_string()
}

/// Places a checkout with [`PLACE`], and turns a refusal into its error, in
/// the order the engine documents: cart, stock, discount, idempotency key.
async fn place(conns: &Conns<Postgres>, p: &OrderPlacement) -> Result<Placed, Fail> {
    let o = &p.order;
    let now = ts(o.created_at);
    let needed = codec::needed(&o.lines);
    let (ids, quantities): (Vec<String>, Vec<i64>) = needed.iter().cloned().unzip();
    let claim = p.idempotency.as_ref();
    let query = sqlx::query(PLACE)
        .bind(o.id.as_str())
        .bind(o.customer_id.as_str())
        .bind(o.status.as_str())
        .bind(o.currency.code())
        .bind(o.email.as_str())
        .bind(o.email.as_str().to_lowercase())
        .bind(o.subtotal.to_minor())
        .bind(o.discount_total.to_minor())
        .bind(o.shipping_total.to_minor())
        .bind(o.tax_total.to_minor())
        .bind(o.total.to_minor())
        .bind(o.discount_code.as_ref().map(DiscountCode::as_str))
        .bind(codec::address(&o.shipping_address)?)
        .bind(o.shipping_method.as_str())
        .bind(o.payment.method.as_str())
        .bind(o.payment.brand.map(|b| b.as_str()))
        .bind(o.payment.last4.as_deref())
        .bind(o.payment.status.as_str())
        .bind(o.payment.reference.as_deref())
        .bind(&now)
        .bind(lines_json(&o.lines))
        .bind(p.actor.as_str())
        .bind(claim.map(|c| c.customer_id.as_str()))
        .bind(claim.map(|c| c.key.as_str()))
        .bind(claim.map(|c| c.fingerprint.as_str()))
        .bind(p.cart_id.as_str())
        .bind(&ids)
        .bind(&quantities)
        .bind(p.discount_code.as_ref().map(DiscountCode::as_str));
    let mut conn = conns.get().await?;
    let row = query.fetch_one(&mut *conn).await?;
    conn.keep();
    drop(conn);
    if !row.flag("placed")? {
        return Err(match row.opt_text("cart_status")?.as_deref() {
            None => StoreError::NotFound,
            Some(status) if status != "open" => StoreError::CartClosed,
            Some(_) => {
                let short: Vec<String> =
                    sqlx::Row::try_get(&row, "short").map_err(error::decode)?;
                if !short.is_empty() {
                    StoreError::InsufficientStock(codec::short_in_line_order(&o.lines, &short))
                } else if p.discount_code.is_some() && !row.flag("discounted")? {
                    StoreError::DiscountUnavailable
                } else {
                    StoreError::IdempotencyKeyUsed
                }
            }
        }
        .into());
    }
    let (Some(number), Some(event_id)) = (row.opt_int("number")?, row.opt_int("event_id")?) else {
        return Err(StoreError::Backend("checkout placed without an order".into()).into());
    };
    let number =
        u64::try_from(number).map_err(|_| StoreError::Backend("bad order number".into()))?;
    let event_id =
        u64::try_from(event_id).map_err(|_| StoreError::Backend("bad event id".into()))?;
    let event = o.first_event(EventId::new(event_id), p.actor.clone());
    Ok(Placed {
        order: o.clone().into_order(OrderNumber::new(number)),
        event,
    })
}

/// A status change in one statement (its own transaction): compare-and-set
/// on version and status, the restock (rows locked in id order) and the
/// event (announced after commit, by the notifier).
const CHANGE: &str = "
WITH o AS (
    UPDATE orders SET status = $1, tracking_number = COALESCE($2, tracking_number),
        payment_status = COALESCE($3, payment_status), version = version + 1, updated_at = $4
    WHERE id = $5 AND version = $6 AND status = $7 RETURNING id),
want AS (
    SELECT product_id AS id, sum(quantity)::int8 AS qty FROM order_lines
    WHERE order_id = $5 AND $8 AND EXISTS (SELECT 1 FROM o) GROUP BY product_id),
locked AS MATERIALIZED (
    SELECT p.id FROM products p WHERE p.id IN (SELECT id FROM want) ORDER BY p.id FOR UPDATE),
r AS (
    UPDATE products p SET stock = LEAST(p.stock + want.qty, 4294967295), version = p.version + 1
    FROM want, locked
    WHERE p.id = want.id AND locked.id = want.id RETURNING p.id),
e AS (
    INSERT INTO order_events (order_id, from_status, to_status, at, actor, note)
    SELECT id, $7, $1, $4, $9, $10 FROM o RETURNING id)
SELECT (SELECT id FROM e) AS event_id, (SELECT count(*) FROM r) AS restocked";

#[async_trait]
impl OrderStore for PgStore {
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError> {
        // One call, its own transaction: a deadlock or serialization
        // failure rolled all of it back, so it is simply sent again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match place(&self.conns, &placement).await {
                Ok(placed) => return Ok(placed),
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(attempt as u64 * 2)).await;
                }
                Err(fail) => return Err(fail.into_store("order")),
            }
        }
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let sql = format!("SELECT {} FROM orders WHERE id = $1", codec::ORDER_COLUMNS);
        let row = kept!(
            self,
            fetch_optional,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        match row {
            None => Ok(None),
            Some(row) => Ok(self.load_orders(vec![row]).await?.pop()),
        }
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut q = QueryBuilder::<Postgres>::new(format!(
            "SELECT {} FROM orders WHERE number < ",
            codec::ORDER_COLUMNS
        ));
        q.push_bind(before);
        if let Some(customer) = &filter.customer_id {
            q.push(" AND customer_id = ")
                .push_bind(customer.as_str().to_owned());
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(email) = &filter.email {
            q.push(" AND email_lower = ")
                .push_bind(email.to_lowercase());
        }
        if let Some(search) = &filter.search {
            let search = search.trim().to_lowercase();
            q.push(" AND (");
            match search.parse::<i64>() {
                Ok(n) if search == n.to_string() => {
                    q.push("number = ").push_bind(n).push(" OR ");
                }
                _ => {}
            }
            q.push("strpos(email_lower, ")
                .push_bind(search)
                .push(") > 0)");
        }
        q.push(" ORDER BY number DESC LIMIT ")
            .push_bind(limit as i64 + 1);
        let rows = kept!(self, fetch_all, q.build()).map_err(error::any)?;
        let (rows, next_cursor) = page_of(rows, limit, "number")?;
        let items = self.load_orders(rows).await?;
        Ok(Page { items, next_cursor })
    }

    async fn change_status(
        &self,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        let mut order = self
            .order(&change.order_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if order.version != change.expected_version || order.status != change.from {
            return Err(StoreError::Conflict);
        }
        let mut attempt = 0;
        let row = loop {
            attempt += 1;
            let result = kept!(
                self,
                fetch_one,
                sqlx::query(CHANGE)
                    .bind(change.to.as_str())
                    .bind(change.tracking_number.as_ref().map(|t| t.as_str()))
                    .bind(change.payment_status.map(|s| s.as_str()))
                    .bind(ts(change.at))
                    .bind(change.order_id.as_str())
                    .bind(codec::to_i64(change.expected_version)?)
                    .bind(change.from.as_str())
                    .bind(change.restock)
                    .bind(change.actor.as_str())
                    .bind(change.note.as_ref().map(|n| n.as_str()))
            )
            .map_err(Fail::Db);
            match result {
                Ok(row) => break row,
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => continue,
                Err(fail) => return Err(fail.into_store("order")),
            }
        };
        // The order was read at `expected_version`; the compare-and-set
        // succeeded only if it still was, so applying the change to what was
        // read gives what is stored.
        let Some(id) = row.opt_int("event_id")? else {
            return Err(StoreError::Conflict);
        };
        let id = u64::try_from(id).map_err(|_| StoreError::Backend("bad event id".into()))?;
        let event = change.apply(&mut order, EventId::new(id));
        Ok((order, event))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM order_events WHERE order_id = $1 ORDER BY id",
            codec::EVENT_COLUMNS
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str())
        )
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

#[async_trait]
impl EventLog for PgStore {
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        let after = after.map_or(Ok(0), |a| codec::to_i64(a.get()))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT {} FROM order_events WHERE id > $1 AND ($2::text IS NULL OR order_id = $2) ORDER BY id LIMIT $3",
            codec::EVENT_COLUMNS
        );
        let rows = kept!(
            self,
            fetch_all,
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(order.map(OrderId::as_str))
                .bind(limit)
        )
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

/// The ids of the products of `c`'s lines (`c` as in
/// [`codec::cart_with_products_parts`]), and of the `extra` text array.
fn cart_product_ids(extra: Option<&str>) -> String {
    let lines =
        "SELECT l->>'product_id' AS id FROM c, jsonb_array_elements(c.cart_lines::jsonb) AS l";
    match extra {
        Some(extra) => format!("{lines} UNION SELECT unnest({extra})"),
        None => lines.to_owned(),
    }
}

/// The state of a key found claimed by someone else: completed if it
/// names its order, else in progress.
fn found_state(
    fingerprint: String,
    order_id: Option<String>,
) -> Result<IdempotencyState, StoreError> {
    Ok(match order_id {
        Some(order_id) => IdempotencyState::Completed {
            fingerprint,
            order_id: OrderId::parse(&order_id).map_err(|e| StoreError::Backend(e.to_string()))?,
        },
        None => IdempotencyState::InProgress { fingerprint },
    })
}

/// Claims a key ($1 customer, $2 key, $3 fingerprint, $4 now) if it is new,
/// or in progress since before $5 (stale); one row when claimed. The
/// conflicting row is locked and its condition re-checked, so two claims of
/// one key never both win.
const CLAIM_KEY: &str =
    "INSERT INTO idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
     VALUES ($1, $2, $3, $4, NULL)
     ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
         started_at = EXCLUDED.started_at
     WHERE idempotency_keys.order_id IS NULL AND idempotency_keys.started_at < $5
     RETURNING 1";

/// Makes the current transaction commit without waiting for its WAL flush
/// (`synchronous_commit = off`, for this transaction only).
///
/// Claims use it, and lose nothing by it. A claim only fences off
/// concurrent checkouts with its key while one charges the card; what makes
/// a key's outcome permanent is the placement, which commits synchronously,
/// and whose flush writes out every earlier record of the WAL, the claim's
/// included. A claim lost in a crash of the database is a claim released:
/// the checkout that held it failed with the database anyway (and voided
/// its charge), and a retry claims the key again at once, where a claim
/// that survived would answer "in progress" until it went stale. So each
/// checkout waits for one flush fewer, which is a large part of a journey's
/// time on PostgreSQL.
const ASYNC_COMMIT: &str = "set_config('synchronous_commit', 'off', true)";

/// [`CLAIM_KEY`] with an asynchronous commit ([`ASYNC_COMMIT`]): always one
/// row, `claimed` true when the key was claimed.
static CLAIM_KEY_ASYNC: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH k AS ({CLAIM_KEY}) SELECT {ASYNC_COMMIT} AS lazy, EXISTS (SELECT 1 FROM k) AS claimed"
    )
});

/// The state of a key ($1 customer, $2 key): its fingerprint and order.
const KEY_STATE: &str =
    "SELECT fingerprint, order_id FROM idempotency_keys WHERE customer_id = $1 AND key = $2";

/// [`IdempotencyStore::begin_idempotent_with_cart`] in one statement: the
/// claim's upsert (as in `begin_idempotent`), the key's row as it was
/// before, and the cart with its products, outer-joined to one row so that
/// an unknown cart still returns the claim; committed asynchronously
/// ([`ASYNC_COMMIT`]).
static CLAIM_WITH_CART: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let (ctes, select) = codec::cart_with_products_parts("$6", &cart_product_ids(None));
    format!(
        "WITH k AS ({CLAIM_KEY}),
         found AS ({KEY_STATE}),
         {ctes},
         cw AS ({select})
         SELECT EXISTS (SELECT 1 FROM k) AS idem_claimed,
                (SELECT fingerprint FROM found) AS idem_fingerprint,
                (SELECT order_id FROM found) AS idem_order, cw.*
         FROM (SELECT {ASYNC_COMMIT}) AS one LEFT JOIN cw ON true"
    )
});

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        // The upsert claims a new or stale key atomically (the conflicting
        // row is locked and its condition re-checked); otherwise the state is
        // read. A row released in between is simply claimed on the next turn.
        for _ in 0..ATTEMPTS {
            let claimed = kept!(
                self,
                fetch_one,
                sqlx::query(sqlx::AssertSqlSafe(CLAIM_KEY_ASYNC.as_str()))
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(ts(now))
                    .bind(ts(stale_before))
            )
            .map_err(|e| error::db(e, "idempotency_key"))?;
            if claimed.flag("claimed")? {
                return Ok(IdempotencyState::Claimed);
            }
            let row = kept!(
                self,
                fetch_optional,
                sqlx::query(KEY_STATE)
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
            )
            .map_err(error::any)?;
            let Some(row) = row else { continue };
            return found_state(row.text("fingerprint")?, row.opt_text("order_id")?);
        }
        Err(StoreError::Conflict)
    }

    /// One statement ([`CLAIM_WITH_CART`]); as in `begin_idempotent`, a key
    /// neither claimed nor found (its claimer committed after this
    /// statement's snapshot) is tried again.
    async fn begin_idempotent_with_cart(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        cart_id: &CartId,
    ) -> Result<ClaimAndCart, StoreError> {
        for _ in 0..ATTEMPTS {
            let rows = kept!(
                self,
                fetch_all,
                sqlx::query(sqlx::AssertSqlSafe(CLAIM_WITH_CART.as_str()))
                    .bind(claim.customer_id.as_str())
                    .bind(&claim.key)
                    .bind(&claim.fingerprint)
                    .bind(ts(now))
                    .bind(ts(stale_before))
                    .bind(cart_id.as_str())
            )
            .map_err(|e| error::db(e, "idempotency_key"))?;
            let Some(first) = rows.first() else {
                return Err(StoreError::Backend("the claim returned no row".into()));
            };
            let state = if first.flag("idem_claimed")? {
                IdempotencyState::Claimed
            } else {
                let Some(fingerprint) = first.opt_text("idem_fingerprint")? else {
                    continue;
                };
                found_state(fingerprint, first.opt_text("idem_order")?)?
            };
            let cart = codec::cart_with_products(&rows)?;
            return Ok(ClaimAndCart { claim: state, cart });
        }
        Err(StoreError::Conflict)
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        // Called after a failure, often because the database is away: a
        // short wait, so the caller's error is not delayed by a second
        // acquire timeout. A claim left behind goes stale after the lease.
        kept!(
            self,
            within RELEASE_CLAIM_WAIT,
            execute,
            sqlx::query(
                "DELETE FROM idempotency_keys WHERE customer_id = $1 AND key = $2 AND order_id IS NULL",
            )
            .bind(customer_id.as_str())
            .bind(key)
        )
        .map_err(error::any)?;
        Ok(())
    }
}
