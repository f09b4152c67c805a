//! [`SqliteStore`]: every storage port on one SQLite file.
//!
//! # Concurrency
//!
//! SQLite has one writer at a time. The store keeps two pools: a writer
//! pool of exactly one connection, and a reader pool. Every write runs on
//! the writer, so concurrent checkouts of this process queue on the pool
//! (fairly, without sleeping in SQLite's busy handler) instead of failing
//! with `SQLITE_BUSY`; multi-statement writes open their transaction with
//! `BEGIN IMMEDIATE`, taking the file's write lock up front, so a
//! transaction never starts as a reader and fails when it tries to write
//! (which is what a plain `BEGIN` would risk against another process). A
//! busy timeout covers other processes writing the same file. The journal
//! is WAL, so readers never block the writer nor the writer them.
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
//! than SQLite's own work. So a checkout's writes go as one batch of
//! statements between `BEGIN IMMEDIATE` and `COMMIT` (three trips instead
//! of eight), neither pool checks a connection before handing it out (a
//! local file does not drop), and the reads a checkout makes through the
//! engine run on reader connections kept between calls (`crate::lease`),
//! which skips sqlx's check when a connection comes back.
//!
//! `synchronous = NORMAL`: in WAL mode a commit survives a crash of the
//! process; a power loss may drop the last transactions, never corrupt the
//! file. Hosts that need every commit on disk before it returns pass their
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

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::cart::Cart;
use orders_core::catalogue::{Product, ProductPatch};
use orders_core::discount::{Discount, DiscountCode};
use orders_core::ids::{CartId, CustomerId, EventId, OrderId, ProductId};
use orders_core::memory::MemoryNotifier;
use orders_core::order::{Order, OrderEvent, OrderNumber, StatusChange};
use orders_core::ports::{
    CartStore, CatalogueStore, DiscountStore, EventLog, IdempotencyClaim, IdempotencyState,
    IdempotencyStore, OrderFilter, OrderPlacement, OrderStore, Page, PageRequest, Placed,
    StoreError,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::codec::{self, Get, ts};
use crate::error::{self, Fail, OpenError};
use crate::lease::Conns;
use crate::migrations;

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
            .connect_with(options.clone())
            .await
            .map_err(OpenError::Connect)?;
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
        migrations::sqlite()
            .run(&self.writer)
            .await
            .map_err(OpenError::Migrate)
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

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        self.reads.release_all();
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Runs `$body` (an async block using `$conn: &mut SqliteConnection`) in a
/// `BEGIN IMMEDIATE` transaction on the writer, committing on `Ok`, rolling
/// back on `Err` (the transaction is dropped), and running it again when the
/// file was busy. Evaluates to `Result<T, StoreError>`; `$unique` names the
/// field a unique violation means.
macro_rules! write_tx {
    ($store:expr, $unique:expr, |$conn:ident| $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: Result<_, Fail> = async {
                let mut tx = $store.writer.begin_with("BEGIN IMMEDIATE").await?;
                let value = {
                    let $conn: &mut SqliteConnection = &mut tx;
                    $body.await?
                };
                tx.commit().await?;
                Ok(value)
            }
            .await;
            match result {
                Ok(value) => break Ok(value),
                Err(fail) if fail.is_retryable() && attempt < ATTEMPTS => continue,
                Err(fail) => break Err(fail.into_store($unique)),
            }
        }
    }};
}

async fn order_lines(
    conn: &mut SqliteConnection,
    orders: &[(SqliteRow, OrderId)],
) -> Result<Vec<Order>, StoreError> {
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = orders.iter().map(|(_, id)| id.as_str()).collect();
    let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
    let sql = format!(
        "SELECT {} FROM order_lines WHERE order_id IN (SELECT value FROM json_each(?)) ORDER BY order_id, position",
        codec::LINE_COLUMNS
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(json)
        .fetch_all(&mut *conn)
        .await
        .map_err(error::any)?;
    let mut out = Vec::with_capacity(orders.len());
    for (row, id) in orders {
        let currency = orders_core::money::Currency::parse(&row.text("currency")?)
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut lines = Vec::new();
        for line in rows
            .iter()
            .filter(|l| l.text("order_id").is_ok_and(|o| o == id.as_str()))
        {
            lines.push(codec::line(line, currency)?);
        }
        out.push(codec::order(row, lines)?);
    }
    Ok(out)
}

async fn load_order(
    conn: &mut SqliteConnection,
    id: &OrderId,
) -> Result<Option<Order>, StoreError> {
    let sql = format!("SELECT {} FROM orders WHERE id = ?", codec::ORDER_COLUMNS);
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(error::any)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(order_lines(conn, &[(row, id.clone())]).await?.pop()),
    }
}

#[async_trait]
impl CatalogueStore for SqliteStore {
    async fn insert_product(&self, p: &Product) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at, version)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await
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
        write_tx!(self, "sku", |conn| {
            async {
                let sql = format!(
                    "SELECT {} FROM products WHERE id = ?",
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
                    "UPDATE products SET name = ?, description = ?, price_minor = ?, stock = ?, active = ?,
                     tax_class = ?, updated_at = ?, version = ? WHERE id = ?",
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
            "SELECT {} FROM products WHERE id = ?",
            codec::PRODUCT_COLUMNS
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(error::any)?;
        row.as_ref().map(codec::product).transpose()
    }

    async fn products(&self, ids: &[ProductId]) -> Result<Vec<Product>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = ids.iter().map(ProductId::as_str).collect();
        let json = serde_json::to_string(&ids).map_err(|e| StoreError::Backend(e.to_string()))?;
        let sql = format!(
            "SELECT {} FROM products WHERE id IN (SELECT value FROM json_each(?))",
            codec::PRODUCT_COLUMNS
        );
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(json)
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        rows.iter().map(codec::product).collect()
    }

    async fn list_products(
        &self,
        active_only: bool,
        page: &PageRequest,
    ) -> Result<Page<Product>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = format!(
            "SELECT {} FROM products WHERE seq < ? {} ORDER BY seq DESC LIMIT ?",
            codec::PRODUCT_COLUMNS,
            if active_only { "AND active = 1" } else { "" }
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        page_of(rows, limit, "seq", codec::product)
    }
}

/// Cuts `rows` (fetched with `limit + 1`) to a page whose cursor is the
/// `key` of its last item.
fn page_of<T>(
    mut rows: Vec<SqliteRow>,
    limit: usize,
    key: &str,
    decode: impl Fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Page<T>, StoreError> {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(codec::cursor(last.int(key)?)),
        _ => None,
    };
    let items = rows.iter().map(decode).collect::<Result<_, _>>()?;
    Ok(Page { items, next_cursor })
}

#[async_trait]
impl CartStore for SqliteStore {
    async fn insert_cart(&self, cart: &Cart) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO carts (id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await
        .map_err(|e| error::db(e, "cart"))?;
        Ok(())
    }

    async fn cart(&self, id: &CartId) -> Result<Option<Cart>, StoreError> {
        let sql = format!("SELECT {} FROM carts WHERE id = ?", codec::CART_COLUMNS);
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        row.as_ref().map(codec::cart).transpose()
    }

    /// One statement, as on PostgreSQL: the cart (columns prefixed
    /// `cart_`) on every row, joined to the products of its lines and of
    /// `extra`.
    async fn cart_with_products(
        &self,
        id: &CartId,
        extra: &[ProductId],
    ) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
        static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
            codec::cart_with_products_sql(
                "?1",
                "SELECT json_extract(l.value, '$.product_id') AS id FROM c, json_each(c.cart_lines) AS l
                 UNION SELECT value FROM json_each(?2)",
            )
        });
        let extra: Vec<&str> = extra.iter().map(ProductId::as_str).collect();
        let extra =
            serde_json::to_string(&extra).map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
            .bind(id.as_str())
            .bind(extra)
            .fetch_all(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        codec::cart_with_products(&rows)
    }

    async fn update_cart(&self, cart: &Cart, expected_version: u64) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE carts SET customer_id = ?, currency = ?, lines = ?, discount_code = ?, status = ?,
             version = ?, created_at = ?, updated_at = ? WHERE id = ? AND version = ?",
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
        .execute(&self.writer)
        .await
        .map_err(error::any)?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let exists = sqlx::query("SELECT 1 FROM carts WHERE id = ?")
            .bind(cart.id.as_str())
            .fetch_optional(&self.writer)
            .await
            .map_err(error::any)?;
        Err(if exists.is_some() {
            StoreError::Conflict
        } else {
            StoreError::NotFound
        })
    }
}

#[async_trait]
impl DiscountStore for SqliteStore {
    async fn insert_discount(&self, discount: &Discount) -> Result<(), StoreError> {
        let d = codec::discount_row(discount);
        sqlx::query(
            "INSERT INTO discounts (code, kind, percent, amount_minor, amount_currency, min_subtotal_minor,
             min_subtotal_currency, max_uses, uses, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        .execute(&self.writer)
        .await
        .map_err(|e| error::db(e, "code"))?;
        Ok(())
    }

    async fn discount(&self, code: &DiscountCode) -> Result<Option<Discount>, StoreError> {
        let sql = format!(
            "SELECT {} FROM discounts WHERE code = ?",
            codec::DISCOUNT_COLUMNS
        );
        let mut conn = self.reads.get().await.map_err(error::any)?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code.as_str())
            .fetch_optional(&mut *conn)
            .await
            .map_err(error::any)?;
        conn.keep();
        row.as_ref().map(codec::discount).transpose()
    }

    async fn list_discounts(&self, page: &PageRequest) -> Result<Page<Discount>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let sql = format!(
            "SELECT {} FROM discounts WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            codec::DISCOUNT_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before)
            .bind(limit as i64 + 1)
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        page_of(rows, limit, "seq", codec::discount)
    }
}

/// The checkout's writes, sent to SQLite as one batch of statements (one
/// trip to the connection's worker thread instead of one per statement),
/// inside the `BEGIN IMMEDIATE` transaction of [`OrderStore::place_order`].
/// Each statement that can be refused reports what it did with a
/// `RETURNING` row (`what`, `value`); the batch runs to its end, and if a
/// row is missing (the cart was not open, a product was short, the discount
/// was used up, another order completed the idempotency key) the function
/// returns the refusal and the transaction is rolled back, so a refused
/// checkout leaves nothing behind. SQLite has one writer, so nothing can
/// change between the statements.
async fn place(conn: &mut SqliteConnection, p: &OrderPlacement) -> Result<Placed, Fail> {
    let o = &p.order;
    let now = ts(o.created_at);
    let needed = codec::needed(&o.lines);
    let mut q = QueryBuilder::<Sqlite>::new(
        "UPDATE carts SET status = 'checked_out', version = version + 1, updated_at = ",
    );
    // 1. Close the cart.
    q.push_bind(now.clone())
        .push(" WHERE id = ")
        .push_bind(p.cart_id.as_str())
        .push(" AND status = 'open' RETURNING 'closed' AS what, NULL AS value;\n");
    // 2. Take the stock of every line in one conditional UPDATE, moving
    //    each product's version on (an edit opened before the sale is
    //    stale after it): a product whose stock is short is simply not
    //    updated, and not reported.
    if !needed.is_empty() {
        q.push("UPDATE products SET stock = stock - w.column2, version = version + 1 FROM (");
        q.push_values(&needed, |mut row, (id, qty)| {
            row.push_bind(id.as_str()).push_bind(*qty);
        });
        q.push(
            ") AS w WHERE products.id = w.column1 AND products.stock >= w.column2
             RETURNING 'taken' AS what, products.id AS value;\n",
        );
    }
    // 3. Count the discount's use.
    if let Some(code) = &p.discount_code {
        q.push("UPDATE discounts SET uses = uses + 1 WHERE code = ")
            .push_bind(code.as_str())
            .push(
                " AND (max_uses IS NULL OR uses < max_uses) RETURNING 'used' AS what, NULL AS value;\n",
            );
    }
    // 4. The order, numbered max + 1 under the write lock.
    q.push(
        "INSERT INTO orders (number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
         discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
         payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
         updated_at, version) VALUES ((SELECT COALESCE(MAX(number), 0) + 1 FROM orders), ",
    );
    {
        let mut values = q.separated(", ");
        values
            .push_bind(o.id.as_str())
            .push_bind(o.customer_id.as_str())
            .push_bind(o.status.as_str())
            .push_bind(o.currency.code())
            .push_bind(o.email.as_str())
            .push_bind(o.email.as_str().to_lowercase())
            .push_bind(o.subtotal.to_minor())
            .push_bind(o.discount_total.to_minor())
            .push_bind(o.shipping_total.to_minor())
            .push_bind(o.tax_total.to_minor())
            .push_bind(o.total.to_minor())
            .push_bind(o.discount_code.as_ref().map(DiscountCode::as_str))
            .push_bind(codec::address(&o.shipping_address)?)
            .push_bind(o.shipping_method.as_str())
            .push_bind(o.payment.method.as_str())
            .push_bind(o.payment.brand.map(|b| b.as_str()))
            .push_bind(o.payment.last4.as_deref())
            .push_bind(o.payment.status.as_str())
            .push_bind(o.payment.reference.as_deref())
            .push("NULL")
            .push_bind(now.clone())
            .push_bind(now.clone())
            .push("1");
    }
    q.push(") RETURNING 'number' AS what, number AS value;\n");
    // 5. Its lines, in one statement.
    if !o.lines.is_empty() {
        q.push(
            "INSERT INTO order_lines (order_id, position, product_id, sku, name, quantity, unit_price_minor,
             subtotal_minor, discount_minor, tax_minor, total_minor, tax_class) ",
        );
        q.push_values(o.lines.iter().enumerate(), |mut row, (i, l)| {
            row.push_bind(o.id.as_str())
                .push_bind(i as i64)
                .push_bind(l.product_id.as_str())
                .push_bind(l.sku.as_str())
                .push_bind(l.name.as_str())
                .push_bind(i64::from(l.quantity.get()))
                .push_bind(l.unit_price.to_minor())
                .push_bind(l.line_subtotal.to_minor())
                .push_bind(l.line_discount.to_minor())
                .push_bind(l.line_tax.to_minor())
                .push_bind(l.line_total.to_minor())
                .push_bind(l.tax_class.as_str());
        });
        q.push(";\n");
    }
    // 6. Its first event.
    q.push("INSERT INTO order_events (order_id, from_status, to_status, at, actor, note) VALUES (")
        .push_bind(o.id.as_str())
        .push(", NULL, ")
        .push_bind(o.status.as_str())
        .push(", ")
        .push_bind(now.clone())
        .push(", ")
        .push_bind(p.actor.as_str())
        .push(", NULL) RETURNING 'event' AS what, id AS value;\n");
    // 7. Complete the idempotency key, unless another order completed it.
    if let Some(claim) = &p.idempotency {
        q.push(
            "INSERT INTO idempotency_keys (customer_id, key, fingerprint, started_at, order_id) VALUES (",
        );
        q.separated(", ")
            .push_bind(claim.customer_id.as_str())
            .push_bind(claim.key.as_str())
            .push_bind(claim.fingerprint.as_str())
            .push_bind(now.clone())
            .push_bind(o.id.as_str());
        q.push(
            ") ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
             started_at = excluded.started_at, order_id = excluded.order_id
             WHERE idempotency_keys.order_id IS NULL RETURNING 'keyed' AS what, NULL AS value;\n",
        );
    }
    let rows = q.build().fetch_all(&mut *conn).await?;

    let (mut closed, mut used, mut keyed) = (false, false, false);
    let (mut number, mut event_id) = (None, None);
    let mut taken: Vec<String> = Vec::with_capacity(needed.len());
    for row in &rows {
        match row.text("what")?.as_str() {
            "closed" => closed = true,
            "taken" => taken.push(row.text("value")?),
            "used" => used = true,
            "number" => number = Some(row.int("value")?),
            "event" => event_id = Some(row.int("value")?),
            "keyed" => keyed = true,
            other => return Err(StoreError::Backend(format!("unexpected row {other}")).into()),
        }
    }
    if !closed {
        let exists = sqlx::query("SELECT 1 FROM carts WHERE id = ?")
            .bind(p.cart_id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        return Err(if exists.is_some() {
            StoreError::CartClosed
        } else {
            StoreError::NotFound
        }
        .into());
    }
    if taken.len() != needed.len() {
        let short: Vec<String> = needed
            .iter()
            .map(|(id, _)| id.clone())
            .filter(|id| !taken.contains(id))
            .collect();
        return Err(
            StoreError::InsufficientStock(codec::short_in_line_order(&o.lines, &short)).into(),
        );
    }
    if p.discount_code.is_some() && !used {
        return Err(StoreError::DiscountUnavailable.into());
    }
    if p.idempotency.is_some() && !keyed {
        return Err(StoreError::IdempotencyKeyUsed.into());
    }
    let (Some(number), Some(event_id)) = (number, event_id) else {
        return Err(StoreError::Backend("checkout placed without an order".into()).into());
    };
    let number =
        u64::try_from(number).map_err(|_| StoreError::Backend("negative order number".into()))?;
    let event_id =
        u64::try_from(event_id).map_err(|_| StoreError::Backend("negative event id".into()))?;
    let event = o.first_event(EventId::new(event_id), p.actor.clone());
    Ok(Placed {
        order: o.clone().into_order(OrderNumber::new(number)),
        event,
    })
}

#[async_trait]
impl OrderStore for SqliteStore {
    async fn place_order(&self, placement: OrderPlacement) -> Result<Placed, StoreError> {
        write_tx!(self, "order", |conn| place(conn, &placement))
    }

    async fn order(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        load_order(&mut conn, id).await
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: &PageRequest,
    ) -> Result<Page<Order>, StoreError> {
        let before = codec::cursor_position(page.cursor.as_ref())?;
        let limit = page.limit.clamp(1, PageRequest::MAX_LIMIT);
        let mut q = QueryBuilder::<Sqlite>::new(format!(
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
            q.push("instr(email_lower, ")
                .push_bind(search)
                .push(") > 0)");
        }
        q.push(" ORDER BY number DESC LIMIT ")
            .push_bind(limit as i64 + 1);
        let mut conn = self.reader.acquire().await.map_err(error::any)?;
        let mut rows = q.build().fetch_all(&mut *conn).await.map_err(error::any)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = match rows.last() {
            Some(last) if more => Some(codec::cursor(last.int("number")?)),
            _ => None,
        };
        let heads = rows
            .into_iter()
            .map(|row| {
                let id = OrderId::parse(&row.text("id")?)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                Ok((row, id))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let items = order_lines(&mut conn, &heads).await?;
        Ok(Page { items, next_cursor })
    }

    async fn change_status(
        &self,
        change: &StatusChange,
    ) -> Result<(Order, OrderEvent), StoreError> {
        write_tx!(self, "order", |conn| {
            async {
                let mut order = load_order(conn, &change.order_id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                if order.version != change.expected_version || order.status != change.from {
                    return Err(StoreError::Conflict.into());
                }
                let updated = sqlx::query(
                    "UPDATE orders SET status = ?, tracking_number = COALESCE(?, tracking_number),
                     payment_status = COALESCE(?, payment_status), version = version + 1, updated_at = ?
                     WHERE id = ? AND version = ?",
                )
                .bind(change.to.as_str())
                .bind(change.tracking_number.as_ref().map(|t| t.as_str()))
                .bind(change.payment_status.map(|s| s.as_str()))
                .bind(ts(change.at))
                .bind(change.order_id.as_str())
                .bind(codec::to_i64(change.expected_version)?)
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err(StoreError::Conflict.into());
                }
                if change.restock {
                    sqlx::query(
                        "UPDATE products SET stock = MIN(stock + l.q, 4294967295), version = version + 1
                         FROM (SELECT product_id, SUM(quantity) AS q FROM order_lines WHERE order_id = ?
                               GROUP BY product_id) AS l
                         WHERE products.id = l.product_id",
                    )
                    .bind(change.order_id.as_str())
                    .execute(&mut *conn)
                    .await?;
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO order_events (order_id, from_status, to_status, at, actor, note)
                     VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                )
                .bind(change.order_id.as_str())
                .bind(change.from.as_str())
                .bind(change.to.as_str())
                .bind(ts(change.at))
                .bind(change.actor.as_str())
                .bind(change.note.as_ref().map(|n| n.as_str()))
                .fetch_one(&mut *conn)
                .await?;
                let id = u64::try_from(id)
                    .map_err(|_| StoreError::Backend("negative event id".into()))?;
                let event = change.apply(&mut order, EventId::new(id));
                Ok::<_, Fail>((order, event))
            }
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn order_events(&self, id: &OrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let sql = format!(
            "SELECT {} FROM order_events WHERE order_id = ? ORDER BY id",
            codec::EVENT_COLUMNS
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

#[async_trait]
impl EventLog for SqliteStore {
    async fn events_after(
        &self,
        after: Option<EventId>,
        order: Option<&OrderId>,
        limit: usize,
    ) -> Result<Vec<OrderEvent>, StoreError> {
        let after = after.map_or(Ok(0), |a| codec::to_i64(a.get()))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match order {
            Some(order) => {
                let sql = format!(
                    "SELECT {} FROM order_events WHERE order_id = ? AND id > ? ORDER BY id LIMIT ?",
                    codec::EVENT_COLUMNS
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(order.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
            None => {
                let sql = format!(
                    "SELECT {} FROM order_events WHERE id > ? ORDER BY id LIMIT ?",
                    codec::EVENT_COLUMNS
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.reader)
                    .await
            }
        }
        .map_err(error::any)?;
        rows.iter().map(codec::event).collect()
    }
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn begin_idempotent(
        &self,
        claim: &IdempotencyClaim,
        now: DateTime<Utc>,
        stale_before: DateTime<Utc>,
    ) -> Result<IdempotencyState, StoreError> {
        write_tx!(self, "idempotency_key", |conn| {
            async {
                let row = sqlx::query(
                    "SELECT fingerprint, started_at, order_id FROM idempotency_keys WHERE customer_id = ? AND key = ?",
                )
                .bind(claim.customer_id.as_str())
                .bind(&claim.key)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(row) = row {
                    let fingerprint = row.text("fingerprint")?;
                    if let Some(order_id) = row.opt_text("order_id")? {
                        let order_id = OrderId::parse(&order_id)
                            .map_err(|e| StoreError::Backend(e.to_string()))?;
                        return Ok(IdempotencyState::Completed {
                            fingerprint,
                            order_id,
                        });
                    }
                    if row.text("started_at")? >= ts(stale_before) {
                        return Ok(IdempotencyState::InProgress { fingerprint });
                    }
                }
                sqlx::query(
                    "INSERT INTO idempotency_keys (customer_id, key, fingerprint, started_at, order_id)
                     VALUES (?, ?, ?, ?, NULL)
                     ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
                     started_at = excluded.started_at",
                )
                .bind(claim.customer_id.as_str())
                .bind(&claim.key)
                .bind(&claim.fingerprint)
                .bind(ts(now))
                .execute(&mut *conn)
                .await?;
                Ok::<_, Fail>(IdempotencyState::Claimed)
            }
        })
    }

    async fn release_idempotent(
        &self,
        customer_id: &CustomerId,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_keys WHERE customer_id = ? AND key = ? AND order_id IS NULL",
        )
        .bind(customer_id.as_str())
        .bind(key)
        .execute(&self.writer)
        .await
        .map_err(error::any)?;
        Ok(())
    }
}
