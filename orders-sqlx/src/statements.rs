//! The statements both backends run with the same text, and their
//! arguments, written once.
//!
//! They use PostgreSQL's `$n` placeholders, which sqlx's SQLite driver
//! accepts too: it binds `$n` to the n-th argument, as `?n`. Statements
//! whose text differs between the dialects (a JSON array against a
//! PostgreSQL array, the checkout's batch against the `orders_place`
//! function, locking reads, a status change's restock and event) stay with
//! their backend, which adds them to the shared compare-and-set
//! ([`CHANGE_ORDER`]); the order listing differs only in its substring
//! function, which [`list_orders`] takes as an argument.
//!
//! Statements with a column list are built once, on first use, from the
//! lists in `crate::codec`, which decodes their rows. The functions named
//! after a statement return it with its arguments bound in its order,
//! through [`Bind`], so no backend lists those arguments again.

use std::sync::LazyLock;

use orders_core::cart::Cart;
use orders_core::catalogue::{Product, ProductImage};
use orders_core::discount::{Discount, DiscountCode};
use orders_core::ids::{CustomerId, ProductId};
use orders_core::order::{PaymentSummary, StatusChange};
use orders_core::ports::{OrderFilter, StoreError};
use sqlx::query::{Query, QueryScalar};
use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::codec::{
    self, CART_COLUMNS, DISCOUNT_COLUMNS, EVENT_COLUMNS, ORDER_COLUMNS, PRODUCT_COLUMNS, ts,
};

// Catalogue.

/// A new product ($1 id … $12 version, $13 search text, $14 image).
pub(crate) const INSERT_PRODUCT: &str = "INSERT INTO orders_products (id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at, version, search_text, image)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// A product's editable fields, by id ($9), as the edit computed them,
/// with its search text ($10) and image ($11).
pub(crate) const UPDATE_PRODUCT: &str =
    "UPDATE orders_products SET name = $1, description = $2, price_minor = $3, stock = $4, active = $5,
     tax_class = $6, updated_at = $7, version = $8, search_text = $10, image = $11 WHERE id = $9";

/// A keyset page of the products whose search text matches the `LIKE`
/// pattern $3 (escape `\`), newest first: rows before $1, at most $2.
pub(crate) fn search_page(filter: &str) -> String {
    format!(
        "SELECT {PRODUCT_COLUMNS} FROM orders_products WHERE seq < $1 {filter} \
         AND search_text LIKE $3 ESCAPE '\\' ORDER BY seq DESC LIMIT $2"
    )
}

/// A product by id ($1).
pub(crate) static PRODUCT_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PRODUCT_COLUMNS} FROM orders_products WHERE id = $1"));

/// A keyset page of `table` (its `columns`, `filter` added to the
/// condition), newest first by `seq`: rows before $1, at most $2 of them.
pub(crate) fn seq_page(table: &str, columns: &str, filter: &str) -> String {
    format!("SELECT {columns} FROM {table} WHERE seq < $1 {filter} ORDER BY seq DESC LIMIT $2")
}

// Carts.

/// A new cart ($1 id … $9 updated_at, $10 token_hash).
pub(crate) const INSERT_CART: &str = "INSERT INTO orders_carts (id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at, token_hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// The compare-and-set of a cart, after [`cart_fields`] ($1 to $9): $10
/// id, $11 the expected version. Shared by both dialects.
pub(crate) const UPDATE_CART_SET: &str = "UPDATE orders_carts SET customer_id = $1, currency = $2, lines = $3, discount_code = $4,
     status = $5, version = $6, created_at = $7, updated_at = $8, token_hash = $9 WHERE id = $10 AND version = $11";

/// A customer's newest open cart ($1 customer, $2 currency or null).
pub(crate) static OPEN_CART: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {CART_COLUMNS} FROM orders_carts WHERE customer_id = $1 AND status = 'open'
         AND ($2 IS NULL OR currency = $2) ORDER BY updated_at DESC, id DESC LIMIT 1"
    )
});

/// A cart by id ($1).
pub(crate) static CART_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {CART_COLUMNS} FROM orders_carts WHERE id = $1"));

// Discounts.

/// A new discount ($1 code … $11 created_at, $12 max_uses_per_customer,
/// $13 active).
pub(crate) const INSERT_DISCOUNT: &str =
    "INSERT INTO orders_discounts (code, kind, percent, amount_minor, amount_currency, min_subtotal_minor,
     min_subtotal_currency, max_uses, uses, expires_at, created_at, max_uses_per_customer, active)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Enables or disables a discount ($1 active, $2 code), returning it.
pub(crate) static SET_DISCOUNT_ACTIVE: LazyLock<String> = LazyLock::new(|| {
    format!("UPDATE orders_discounts SET active = $1 WHERE code = $2 RETURNING {DISCOUNT_COLUMNS}")
});

/// A discount by code ($1).
pub(crate) static DISCOUNT_BY_CODE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {DISCOUNT_COLUMNS} FROM orders_discounts WHERE code = $1"));

// Orders and events.

/// An order's head by id ($1); its lines are read apart.
pub(crate) static ORDER_BY_ID: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ORDER_COLUMNS} FROM orders_orders WHERE id = $1"));

/// The start of an order listing ([`list_orders`]): heads numbered below
/// the first bind.
static LIST_ORDERS_HEAD: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {ORDER_COLUMNS} FROM orders_orders WHERE number < "));

/// An order's ($1) events, oldest first.
pub(crate) static EVENTS_OF_ORDER: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {EVENT_COLUMNS} FROM orders_order_events WHERE order_id = $1 ORDER BY id")
});

/// The order whose payment has the provider reference $1 (the first
/// placed, should two share it), through the partial index
/// `orders_orders_payment_reference` (`= $1` implies its `IS NOT NULL`).
pub(crate) static ORDER_BY_PAYMENT_REFERENCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ORDER_COLUMNS} FROM orders_orders WHERE payment_reference = $1 \
         ORDER BY number LIMIT 1"
    )
});

/// Up to $2 orders `awaiting_payment` placed before $1, oldest first
/// (`orders_orders_status_number`, read backwards).
pub(crate) static AWAITING_PAYMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ORDER_COLUMNS} FROM orders_orders WHERE status = 'awaiting_payment' \
         AND created_at < $1 ORDER BY number LIMIT $2"
    )
});

/// The order ($1 a fulfilment's id) a fulfilment belongs to.
pub(crate) const ORDER_OF_FULFILMENT: &str =
    "SELECT order_id FROM orders_fulfilments WHERE id = $1";

/// The order ($1 a return's id) a return belongs to.
pub(crate) const ORDER_OF_RETURN: &str = "SELECT order_id FROM orders_returns WHERE id = $1";

/// The order ($1 a refund's id) a refund belongs to.
pub(crate) const ORDER_OF_REFUND: &str = "SELECT order_id FROM orders_refunds WHERE id = $1";

/// Whether the provider $1's webhook event $2 was acted on.
pub(crate) const PROVIDER_EVENT_SEEN: &str =
    "SELECT count(*) FROM orders_payment_events WHERE provider = $1 AND event_id = $2";

/// Records the provider $1's webhook event $2 as acted on at $3; affects no
/// row if it already was.
pub(crate) const RECORD_PROVIDER_EVENT: &str =
    "INSERT INTO orders_payment_events (provider, event_id, received_at) VALUES ($1, $2, $3)
     ON CONFLICT (provider, event_id) DO NOTHING";

/// The start of a status change's compare-and-set, the same on both
/// backends: the order's new status ($1), tracking number ($2, kept when
/// NULL), every payment field ($3 to $10, [`status_change`]), `updated_at`
/// ($11), where the id is $12 and the version $13; version + 1.
pub(crate) const CHANGE_ORDER: &str = "UPDATE orders_orders SET status = $1,
        tracking_number = COALESCE($2, tracking_number), payment_status = $3, card_brand = $4,
        card_last4 = $5, payment_reference = $6, payment_authorized_minor = $7,
        payment_captured_minor = $8, payment_refunded_minor = $9, payment_next_action = $10,
        version = version + 1, updated_at = $11
    WHERE id = $12 AND version = $13";

// Idempotency.

/// Releases a claim ($1 customer, $2 key) that no order completed.
pub(crate) const RELEASE_KEY: &str =
    "DELETE FROM orders_idempotency_keys WHERE customer_id = $1 AND key = $2 AND order_id IS NULL";

/// An order listing, newest first: heads numbered below `before`, those
/// `filter` selects, at most `limit + 1` of them (one more than the page,
/// to tell whether another page follows). `contains` is the dialect's
/// `f(haystack, needle)` giving the needle's position, 0 when absent
/// (`instr` on SQLite, `strpos` on PostgreSQL).
pub(crate) fn list_orders<DB>(
    filter: &OrderFilter,
    before: i64,
    limit: usize,
    contains: &str,
) -> QueryBuilder<DB>
where
    DB: Database,
    DB::Arguments: Default,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
    String: for<'t> Encode<'t, DB> + Type<DB>,
{
    let mut q = QueryBuilder::<DB>::new(LIST_ORDERS_HEAD.as_str());
    q.push_bind(before);
    if let Some(customer) = &filter.customer_id {
        q.push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned());
    }
    if let Some(status) = filter.status {
        q.push(" AND status = ")
            .push_bind(status.as_str().to_owned());
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
        q.push(contains)
            .push("(email_lower, ")
            .push_bind(search)
            .push(") > 0)");
    }
    q.push(" ORDER BY number DESC LIMIT ")
        .push_bind(limit as i64 + 1);
    q
}

// Arguments.

/// A query that takes the column types the shared statements bind, on
/// either dialect: the binds of a statement are written once, against
/// this trait.
pub(crate) trait Bind: Sized {
    /// Binds a text value.
    fn text(self, value: &str) -> Self;
    /// Binds a text value or NULL.
    fn opt_text(self, value: Option<&str>) -> Self;
    /// Binds an integer.
    fn int(self, value: i64) -> Self;
    /// Binds an integer or NULL.
    fn opt_int(self, value: Option<i64>) -> Self;
    /// Binds a boolean.
    fn flag(self, value: bool) -> Self;
}

impl<'q, DB: Database> Bind for Query<'q, DB, <DB as Database>::Arguments>
where
    for<'t> &'t str: Encode<'t, DB> + Type<DB>,
    for<'t> Option<&'t str>: Encode<'t, DB> + Type<DB>,
    i64: for<'t> Encode<'t, DB> + Type<DB>,
    Option<i64>: for<'t> Encode<'t, DB> + Type<DB>,
    bool: for<'t> Encode<'t, DB> + Type<DB>,
{
    fn text(self, value: &str) -> Self {
        self.bind(value)
    }
    fn opt_text(self, value: Option<&str>) -> Self {
        self.bind(value)
    }
    fn int(self, value: i64) -> Self {
        self.bind(value)
    }
    fn opt_int(self, value: Option<i64>) -> Self {
        self.bind(value)
    }
    fn flag(self, value: bool) -> Self {
        self.bind(value)
    }
}

/// As for [`Query`]; a scalar query keeps its arguments for its own
/// lifetime, so text is bound as an owned copy.
impl<'q, DB: Database, O> Bind for QueryScalar<'q, DB, O, <DB as Database>::Arguments>
where
    String: Encode<'q, DB> + Type<DB>,
    Option<String>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    fn text(self, value: &str) -> Self {
        self.bind(value.to_owned())
    }
    fn opt_text(self, value: Option<&str>) -> Self {
        self.bind(value.map(str::to_owned))
    }
    fn int(self, value: i64) -> Self {
        self.bind(value)
    }
    fn opt_int(self, value: Option<i64>) -> Self {
        self.bind(value)
    }
    fn flag(self, value: bool) -> Self {
        self.bind(value)
    }
}

/// `q` (a query of [`INSERT_PRODUCT`]) with `p`'s columns bound.
pub(crate) fn insert_product<B: Bind>(q: B, p: &Product) -> Result<B, StoreError> {
    Ok(q.text(p.id().as_str())
        .text(p.sku().as_str())
        .text(p.name().as_str())
        .text(p.description().as_str())
        .int(p.price().to_minor())
        .text(p.currency().code())
        .int(i64::from(p.stock()))
        .flag(p.active())
        .text(p.tax_class().as_str())
        .text(&ts(p.created_at()))
        .text(&ts(p.updated_at()))
        .int(codec::to_i64(p.version())?)
        .text(&p.search_text())
        .opt_text(p.image().map(ProductImage::to_stored).as_deref()))
}

/// `q` (a query of [`UPDATE_PRODUCT`]) storing `product`'s editable
/// fields as product `id`.
pub(crate) fn update_product<B: Bind>(
    q: B,
    id: &ProductId,
    product: &Product,
) -> Result<B, StoreError> {
    Ok(q.text(product.name().as_str())
        .text(product.description().as_str())
        .int(product.price().to_minor())
        .int(i64::from(product.stock()))
        .flag(product.active())
        .text(product.tax_class().as_str())
        .text(&ts(product.updated_at()))
        .int(codec::to_i64(product.version())?)
        .text(id.as_str())
        .text(&product.search_text())
        .opt_text(product.image().map(ProductImage::to_stored).as_deref()))
}

/// Binds `cart`'s columns after its id, in the order of [`INSERT_CART`]
/// (and of [`UPDATE_CART_SET`], `$1` to `$9`).
pub(crate) fn cart_fields<B: Bind>(q: B, cart: &Cart) -> Result<B, StoreError> {
    Ok(q.text(cart.customer_id().as_str())
        .text(cart.currency().code())
        .text(&codec::cart_lines(cart.lines())?)
        .opt_text(cart.discount_code().map(DiscountCode::as_str))
        .text(codec::cart_status(cart.status()))
        .int(codec::to_i64(cart.version())?)
        .text(&ts(cart.created_at()))
        .text(&ts(cart.updated_at()))
        .opt_text(cart.token_hash().map(|h| h.to_hex()).as_deref()))
}

/// `q` (a query of [`INSERT_CART`]) with `cart`'s columns bound.
pub(crate) fn insert_cart<B: Bind>(q: B, cart: &Cart) -> Result<B, StoreError> {
    cart_fields(q.text(cart.id().as_str()), cart)
}

/// `q` (a query of [`INSERT_DISCOUNT`]) with `discount`'s columns bound.
pub(crate) fn insert_discount<B: Bind>(q: B, discount: &Discount) -> B {
    let d = codec::discount_row(discount);
    q.text(&d.code)
        .text(d.kind)
        .opt_text(d.percent.as_deref())
        .opt_int(d.amount_minor)
        .opt_text(d.amount_currency)
        .opt_int(d.min_subtotal_minor)
        .opt_text(d.min_subtotal_currency)
        .opt_int(d.max_uses)
        .int(d.uses)
        .opt_text(d.expires_at.as_deref())
        .text(&d.created_at)
        .opt_int(d.max_uses_per_customer)
        .flag(d.active)
}

/// `q` (a query of [`RELEASE_KEY`]) for `customer_id`'s `key`.
pub(crate) fn release_key<B: Bind>(q: B, customer_id: &CustomerId, key: &str) -> B {
    q.text(customer_id.as_str()).text(key)
}

/// Binds the last four columns of a status change's event, in this order:
/// `actor`, `note`, `kind`, `data` (each backend's event insert lists
/// them last).
pub(crate) fn event_fields<B: Bind>(q: B, change: &StatusChange) -> B {
    q.text(change.actor().as_str())
        .opt_text(change.note().map(|n| n.as_str()))
        .text(change.kind().as_str())
        .opt_text(codec::event_data(change.data().as_ref()).as_deref())
}

/// Binds `$1` to `$13` of [`CHANGE_ORDER`] for `change`: the payment is
/// the change's when it touches the payment, else `stored`, the payment
/// read at `change.expected_version()` (the compare-and-set on the version
/// makes writing it back a no-op).
pub(crate) fn status_change<B: Bind>(
    q: B,
    change: &StatusChange,
    stored: &PaymentSummary,
) -> Result<B, StoreError> {
    let p = change.payment().unwrap_or(stored);
    Ok(q.text(change.to().as_str())
        .opt_text(change.tracking_number().map(|t| t.as_str()))
        .text(p.status.as_str())
        .opt_text(p.brand.map(|b| b.as_str()))
        .opt_text(p.last4.as_deref())
        .opt_text(p.reference.as_deref())
        .int(p.authorized.to_minor())
        .int(p.captured.to_minor())
        .int(p.refunded.to_minor())
        .opt_text(codec::next_action(p.next_action.as_ref())?.as_deref())
        .text(&ts(change.at()))
        .text(change.order_id().as_str())
        .int(codec::to_i64(change.expected_version())?))
}
