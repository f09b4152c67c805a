//! Carts from their rows, and a cart read together with its products.

use orders_core::cart::{Cart, CartLine, CartParts, CartStatus};
use orders_core::catalogue::Product;
use orders_core::discount::DiscountCode;
use orders_core::guest::TokenHash;
use orders_core::ids::{CartId, CustomerId};
use orders_core::ports::StoreError;

use super::{
    Get, PRODUCT_COLUMNS, Prefixed, bad, currency, parse, parse_ts, product, qualified, to_u64,
};
use crate::stored;

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

pub(crate) const CART_COLUMNS: &str = "id, customer_id, currency, lines, discount_code, status, version, created_at, updated_at, token_hash";

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
    let parts = CartParts {
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
        token_hash: row
            .opt_text("token_hash")?
            .map(|h| parse("cart token hash", TokenHash::from_hex(&h)))
            .transpose()?,
    };
    parse("cart", Cart::restore(parts))
}
