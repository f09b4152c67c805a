//! Rows to domain values and back, shared by both backends.
//!
//! Both schemas use the same column names and the same representations
//! (integer minor units, RFC 3339 text instants, JSON text for cart lines
//! and addresses in the shapes of [`crate::stored`]), so one decoder serves
//! both; [`Get`] hides the row type.
//! Every decoder parses through the domain's public constructors, so a row
//! that does not parse back is a [`StoreError::Backend`], never a panic.

use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use orders_core::cart::{Cart, CartLine, CartStatus, Quantity};
use orders_core::catalogue::{Description, Product, ProductName, Sku, TaxClass};
use orders_core::checkout::{Address, CardBrand, Email, PaymentMethod};
use orders_core::discount::{Discount, DiscountCode, DiscountKind};
use orders_core::ids::{CartId, CustomerId, EventId, OrderId, ProductId};
use orders_core::money::{Currency, Money};
use orders_core::order::{
    Actor, Note, Order, OrderEvent, OrderLine, OrderNumber, OrderStatus, PaymentStatus,
    PaymentSummary, TrackingNumber,
};
use orders_core::ports::{Cursor, StoreError};
use orders_core::pricing::ShippingMethodCode;

use crate::stored;

/// Reads typed columns by name from a row of either backend.
pub(crate) trait Get {
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, col: &str) -> Result<bool, StoreError>;
}

macro_rules! impl_get {
    ($row:ty) => {
        impl crate::codec::Get for $row {
            fn text(&self, col: &str) -> Result<String, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn int(&self, col: &str) -> Result<i64, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
            fn flag(&self, col: &str) -> Result<bool, StoreError> {
                sqlx::Row::try_get(self, col).map_err(crate::error::decode)
            }
        }
    };
}
pub(crate) use impl_get;

/// A row read through column names with a prefix (`cart_id` for `id`): for
/// a join of two tables whose column names clash, one side aliased.
pub(crate) struct Prefixed<'r, R> {
    pub(crate) row: &'r R,
    pub(crate) prefix: &'static str,
}

impl<R: Get> Prefixed<'_, R> {
    fn col(&self, col: &str) -> String {
        format!("{}{col}", self.prefix)
    }
}

impl<R: Get> Get for Prefixed<'_, R> {
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.row.text(&self.col(col))
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.row.opt_text(&self.col(col))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.row.int(&self.col(col))
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.row.opt_int(&self.col(col))
    }
    fn flag(&self, col: &str) -> Result<bool, StoreError> {
        self.row.flag(&self.col(col))
    }
}

/// `columns` (a `*_COLUMNS` list) each as `{table}.{column}`, or with
/// `alias_prefix` as `{column} AS {alias_prefix}{column}`.
pub(crate) fn qualified(columns: &str, table: &str, alias_prefix: Option<&str>) -> String {
    columns
        .split(", ")
        .map(|c| match alias_prefix {
            Some(prefix) => format!("{table}.{c} AS {prefix}{c}"),
            None => format!("{table}.{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of `cart_with_products` on either backend: the cart with
/// its columns prefixed `cart_` on every row, left-joined to the products
/// whose ids the `wanted` query (the dialect's part: the line ids from `c`'s
/// JSON `cart_lines`, and the extra ids) selects as `id`.
pub(crate) fn cart_with_products_sql(cart_param: &str, wanted: &str) -> String {
    let (ctes, select) = cart_with_products_parts(cart_param, wanted);
    format!("WITH {ctes} {select}")
}

/// [`cart_with_products_sql`] in two parts, for a statement that reads
/// more: its CTEs (`c` and `wanted`, to follow a `WITH` or a comma) and its
/// `SELECT` over them.
pub(crate) fn cart_with_products_parts(cart_param: &str, wanted: &str) -> (String, String) {
    let ctes = format!(
        "c AS (SELECT {cart} FROM orders_carts c WHERE c.id = {cart_param}),
         wanted AS ({wanted})",
        cart = qualified(CART_COLUMNS, "c", Some("cart_")),
    );
    let select = format!(
        "SELECT c.*, {product} FROM c LEFT JOIN orders_products p ON p.id IN (SELECT id FROM wanted)",
        product = qualified(PRODUCT_COLUMNS, "p", None),
    );
    (ctes, select)
}

/// The rows of [`cart_with_products_sql`]: `None` for no row, or for rows
/// without a cart (`cart_id` null: a statement that outer-joins the cart
/// to something else), else the cart and the products of the rows that
/// have one.
pub(crate) fn cart_with_products<R: Get>(
    rows: &[R],
) -> Result<Option<(Cart, Vec<Product>)>, StoreError> {
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    if first.opt_text("cart_id")?.is_none() {
        return Ok(None);
    }
    let cart = cart(&Prefixed {
        row: first,
        prefix: "cart_",
    })?;
    let mut products = Vec::with_capacity(rows.len());
    for row in rows {
        if row.opt_text("id")?.is_some() {
            products.push(product(row)?);
        }
    }
    Ok(Some((cart, products)))
}

/// A stored value that does not parse back: a corrupt row.
pub(crate) fn bad(what: &str, value: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} does not parse: {value}"))
}

/// Parses a stored value with a domain parser.
fn parse<T, E: std::fmt::Display>(what: &str, result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| bad(what, e))
}

/// An instant as stored: RFC 3339, UTC, nine fractional digits, `Z`.
pub(crate) fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_ts(what: &str, text: &str) -> Result<DateTime<Utc>, StoreError> {
    parse(what, DateTime::parse_from_rfc3339(text)).map(|t| t.with_timezone(&Utc))
}

fn money(units: i64, currency: Currency) -> Result<Money, StoreError> {
    parse("amount", Money::from_minor(units, currency))
}

fn currency(text: &str) -> Result<Currency, StoreError> {
    parse("currency", Currency::parse(text))
}

fn to_u32(what: &str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| bad(what, n))
}

fn to_u64(what: &str, n: i64) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| bad(what, n))
}

/// A `u64` (version, number, id) as the `BIGINT` it is stored as.
pub(crate) fn to_i64(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Backend(format!("{n} does not fit a BIGINT")))
}

/// A cursor from a `seq` or `number` column.
pub(crate) fn cursor(n: i64) -> Cursor {
    Cursor(n.to_string())
}

/// The position a cursor made by [`cursor`] names.
///
/// # Errors
/// [`StoreError::InvalidCursor`] for anything else.
pub(crate) fn cursor_position(cursor: Option<&Cursor>) -> Result<i64, StoreError> {
    match cursor {
        None => Ok(i64::MAX),
        Some(c) => {
            let digits =
                !c.0.is_empty() && c.0.len() <= 19 && c.0.bytes().all(|b| b.is_ascii_digit());
            let n = if digits {
                c.0.parse::<i64>().ok()
            } else {
                None
            };
            n.filter(|n| *n > 0).ok_or(StoreError::InvalidCursor)
        }
    }
}

pub(crate) const PRODUCT_COLUMNS: &str = "seq, id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at, version";

pub(crate) fn product(row: &impl Get) -> Result<Product, StoreError> {
    let currency = currency(&row.text("currency")?)?;
    Ok(Product {
        id: parse("product id", ProductId::parse(&row.text("id")?))?,
        sku: parse("sku", Sku::parse(&row.text("sku")?))?,
        name: parse("product name", ProductName::parse(&row.text("name")?))?,
        description: parse("description", Description::parse(&row.text("description")?))?,
        price: money(row.int("price_minor")?, currency)?,
        currency,
        stock: to_u32("stock", row.int("stock")?)?,
        active: row.flag("active")?,
        tax_class: parse("tax class", TaxClass::parse(&row.text("tax_class")?))?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
        updated_at: parse_ts("updated_at", &row.text("updated_at")?)?,
        version: to_u64("product version", row.int("version")?)?,
    })
}

pub(crate) const CART_COLUMNS: &str =
    "id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at";

pub(crate) fn cart_status(status: CartStatus) -> &'static str {
    match status {
        CartStatus::Open => "open",
        CartStatus::CheckedOut => "checked_out",
    }
}

/// The `lines` column's text: see [`crate::stored`].
pub(crate) fn cart_lines(lines: &[CartLine]) -> Result<String, StoreError> {
    stored::write_cart_lines(lines)
}

pub(crate) fn cart(row: &impl Get) -> Result<Cart, StoreError> {
    let lines = stored::read_cart_lines(&row.text("lines")?)?;
    let status = match row.text("status")?.as_str() {
        "open" => CartStatus::Open,
        "checked_out" => CartStatus::CheckedOut,
        other => return Err(bad("cart status", other)),
    };
    Ok(Cart {
        id: parse("cart id", CartId::parse(&row.text("id")?))?,
        customer_id: parse("customer id", CustomerId::parse(&row.text("customer_id")?))?,
        currency: currency(&row.text("currency")?)?,
        lines,
        discount_code: row
            .opt_text("discount_code")?
            .map(|c| parse("discount code", DiscountCode::parse(&c)))
            .transpose()?,
        status,
        version: to_u64("cart version", row.int("version")?)?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
        updated_at: parse_ts("updated_at", &row.text("updated_at")?)?,
    })
}

pub(crate) const DISCOUNT_COLUMNS: &str = "seq, code, kind, percent, amount_minor, amount_currency, min_subtotal_minor, min_subtotal_currency, max_uses, uses, expires_at, created_at";

/// A discount's columns, in the order of [`DISCOUNT_COLUMNS`] less `seq`.
pub(crate) struct DiscountRow {
    pub(crate) code: String,
    pub(crate) kind: &'static str,
    pub(crate) percent: Option<String>,
    pub(crate) amount_minor: Option<i64>,
    pub(crate) amount_currency: Option<&'static str>,
    pub(crate) min_subtotal_minor: Option<i64>,
    pub(crate) min_subtotal_currency: Option<&'static str>,
    pub(crate) max_uses: Option<i64>,
    pub(crate) uses: i64,
    pub(crate) expires_at: Option<String>,
    pub(crate) created_at: String,
}

pub(crate) fn discount_row(d: &Discount) -> DiscountRow {
    let (kind, percent, amount) = match d.kind {
        DiscountKind::Percent(pct) => ("percent", Some(pct.to_string()), None),
        DiscountKind::Fixed(amount) => ("fixed", None, Some(amount)),
    };
    DiscountRow {
        code: d.code.as_str().to_owned(),
        kind,
        percent,
        amount_minor: amount.map(Money::to_minor),
        amount_currency: amount.map(|a| a.currency().code()),
        min_subtotal_minor: d.min_subtotal.map(Money::to_minor),
        min_subtotal_currency: d.min_subtotal.map(|m| m.currency().code()),
        max_uses: d.max_uses.map(i64::from),
        uses: i64::from(d.uses),
        expires_at: d.expires_at.map(ts),
        created_at: ts(d.created_at),
    }
}

pub(crate) fn discount(row: &impl Get) -> Result<Discount, StoreError> {
    let kind = match row.text("kind")?.as_str() {
        "percent" => {
            let pct = row
                .opt_text("percent")?
                .ok_or_else(|| bad("discount", "no percent"))?;
            parse("percent", DiscountKind::percent(&pct))?
        }
        "fixed" => {
            let units = row
                .opt_int("amount_minor")?
                .ok_or_else(|| bad("discount", "no amount"))?;
            let code = row
                .opt_text("amount_currency")?
                .ok_or_else(|| bad("discount", "no currency"))?;
            DiscountKind::Fixed(money(units, currency(&code)?)?)
        }
        other => return Err(bad("discount kind", other)),
    };
    let min_subtotal = match (
        row.opt_int("min_subtotal_minor")?,
        row.opt_text("min_subtotal_currency")?,
    ) {
        (Some(units), Some(code)) => Some(money(units, currency(&code)?)?),
        (None, None) => None,
        _ => return Err(bad("discount", "half a minimum subtotal")),
    };
    Ok(Discount {
        code: parse("discount code", DiscountCode::parse(&row.text("code")?))?,
        kind,
        min_subtotal,
        max_uses: row
            .opt_int("max_uses")?
            .map(|n| to_u32("max_uses", n))
            .transpose()?,
        uses: to_u32("uses", row.int("uses")?)?,
        expires_at: row
            .opt_text("expires_at")?
            .map(|t| parse_ts("expires_at", &t))
            .transpose()?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
    })
}

pub(crate) const ORDER_COLUMNS: &str = "number, id, customer_id, status, currency, email, subtotal_minor, discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method, payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at, updated_at, version";

pub(crate) const LINE_COLUMNS: &str = "order_id, position, product_id, sku, name, quantity, unit_price_minor, subtotal_minor, discount_minor, tax_minor, total_minor, tax_class";

/// An order's row without its lines.
pub(crate) fn order(row: &impl Get, lines: Vec<OrderLine>) -> Result<Order, StoreError> {
    let currency = currency(&row.text("currency")?)?;
    let method = parse(
        "payment method",
        PaymentMethod::from_str(&row.text("payment_method")?),
    )?;
    let address = stored::read_address(&row.text("shipping_address")?)?;
    Ok(Order {
        id: parse("order id", OrderId::parse(&row.text("id")?))?,
        number: OrderNumber::new(to_u64("order number", row.int("number")?)?),
        customer_id: parse("customer id", CustomerId::parse(&row.text("customer_id")?))?,
        status: parse("status", OrderStatus::from_str(&row.text("status")?))?,
        currency,
        email: parse("email", Email::parse(&row.text("email")?))?,
        lines,
        subtotal: money(row.int("subtotal_minor")?, currency)?,
        discount_total: money(row.int("discount_minor")?, currency)?,
        shipping_total: money(row.int("shipping_minor")?, currency)?,
        tax_total: money(row.int("tax_minor")?, currency)?,
        total: money(row.int("total_minor")?, currency)?,
        discount_code: row
            .opt_text("discount_code")?
            .map(|c| parse("discount code", DiscountCode::parse(&c)))
            .transpose()?,
        shipping_address: address,
        shipping_method: parse(
            "shipping method",
            ShippingMethodCode::parse(&row.text("shipping_method")?),
        )?,
        payment: PaymentSummary {
            method,
            brand: row
                .opt_text("card_brand")?
                .map(|b| parse("card brand", CardBrand::from_str(&b)))
                .transpose()?,
            last4: row.opt_text("card_last4")?,
            status: parse(
                "payment status",
                PaymentStatus::from_str(&row.text("payment_status")?),
            )?,
            reference: row.opt_text("payment_reference")?,
        },
        tracking_number: row
            .opt_text("tracking_number")?
            .map(|t| parse("tracking number", TrackingNumber::parse(&t)))
            .transpose()?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
        updated_at: parse_ts("updated_at", &row.text("updated_at")?)?,
        version: to_u64("order version", row.int("version")?)?,
    })
}

/// An order line and the id of its order.
pub(crate) fn line(row: &impl Get, currency: Currency) -> Result<OrderLine, StoreError> {
    let quantity = row.int("quantity")?;
    Ok(OrderLine {
        product_id: parse("product id", ProductId::parse(&row.text("product_id")?))?,
        sku: parse("sku", Sku::parse(&row.text("sku")?))?,
        name: parse("product name", ProductName::parse(&row.text("name")?))?,
        quantity: parse("quantity", Quantity::from_i64(quantity))?,
        unit_price: money(row.int("unit_price_minor")?, currency)?,
        line_subtotal: money(row.int("subtotal_minor")?, currency)?,
        line_discount: money(row.int("discount_minor")?, currency)?,
        line_tax: money(row.int("tax_minor")?, currency)?,
        line_total: money(row.int("total_minor")?, currency)?,
        tax_class: parse("tax class", TaxClass::parse(&row.text("tax_class")?))?,
    })
}

/// The `shipping_address` column's text: see [`crate::stored`].
pub(crate) fn address(address: &Address) -> Result<String, StoreError> {
    stored::write_address(address)
}

pub(crate) const EVENT_COLUMNS: &str = "id, order_id, from_status, to_status, at, actor, note";

pub(crate) fn event(row: &impl Get) -> Result<OrderEvent, StoreError> {
    Ok(OrderEvent {
        id: EventId::new(to_u64("event id", row.int("id")?)?),
        order_id: parse("order id", OrderId::parse(&row.text("order_id")?))?,
        from: row
            .opt_text("from_status")?
            .map(|s| parse("status", OrderStatus::from_str(&s)))
            .transpose()?,
        to: parse("status", OrderStatus::from_str(&row.text("to_status")?))?,
        at: parse_ts("at", &row.text("at")?)?,
        actor: parse("actor", Actor::try_from(row.text("actor")?))?,
        note: row
            .opt_text("note")?
            .map(|n| parse("note", Note::parse(&n)))
            .transpose()?,
    })
}

/// The short products of a checkout, each once, in line order.
pub(crate) fn short_in_line_order(lines: &[OrderLine], short: &[String]) -> Vec<ProductId> {
    let mut out: Vec<ProductId> = Vec::new();
    for line in lines {
        if short.iter().any(|s| s == line.product_id.as_str()) && !out.contains(&line.product_id) {
            out.push(line.product_id.clone());
        }
    }
    out
}

/// Quantities per product of an order's lines (a product may repeat).
pub(crate) fn needed(lines: &[OrderLine]) -> Vec<(String, i64)> {
    let mut needed: Vec<(String, i64)> = Vec::new();
    for line in lines {
        let q = i64::from(line.quantity.get());
        match needed
            .iter_mut()
            .find(|(id, _)| id == line.product_id.as_str())
        {
            Some((_, total)) => *total += q,
            None => needed.push((line.product_id.as_str().to_owned(), q)),
        }
    }
    // Locks are taken in id order, so two checkouts never wait on each other
    // in a cycle.
    needed.sort();
    needed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_round_trip_to_the_nanosecond_and_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(a), "2026-01-02T03:04:05.123456789Z");
        assert_eq!(parse_ts("t", &ts(a)).unwrap(), a);
        let b = a + chrono::Duration::nanoseconds(1);
        assert!(ts(a) < ts(b));
        let whole = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(whole).len(), ts(a).len());
    }

    #[test]
    fn cursors_are_positive_integers() {
        assert_eq!(cursor_position(None), Ok(i64::MAX));
        assert_eq!(cursor_position(Some(&cursor(42))), Ok(42));
        for bad in [
            "",
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            "99999999999999999999",
            " 1",
        ] {
            assert_eq!(
                cursor_position(Some(&Cursor(bad.into()))),
                Err(StoreError::InvalidCursor),
                "{bad:?}"
            );
        }
    }
}
