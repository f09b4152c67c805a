//! The checkout's writes on SQLite, in one batch of statements.

use orders_core::ports::{OrderPlacement, Placed, StoreError};

use super::inline::{Build, Stmt};
use crate::codec::{self, Get, ts};
use crate::error::Fail;
use crate::rows;
use crate::statements::Bind;

/// The checkout's writes, as one text of statements run inline by the
/// writer task (see `sqlite::inline`), inside the `BEGIN IMMEDIATE`
/// transaction of [`OrderStore::place_order`].
/// Each statement that can be refused reports what it did with a
/// `RETURNING` row (`what`, `value`); the batch runs to its end, and if a
/// row is missing (the cart was not open, a product was short, the discount
/// was used up, another order completed the idempotency key) the function
/// returns the refusal and the transaction is rolled back, so a refused
/// checkout leaves nothing behind. SQLite has one writer, so nothing can
/// change between the statements.
///
/// [`OrderStore::place_order`]: orders_core::ports::OrderStore::place_order
pub(super) fn place(conn: &rusqlite::Connection, p: &OrderPlacement) -> Result<Placed, Fail> {
    let o = &p.order;
    let now = ts(o.created_at);
    let needed = codec::needed(&o.lines);
    let mut q = Build::default();
    // 1. Close the cart.
    q.push("UPDATE orders_carts SET status = 'checked_out', version = version + 1, updated_at = ")
        .bind(now.clone())
        .push(" WHERE id = ")
        .bind(p.cart_id.as_str())
        .push(" AND status = 'open' RETURNING 'closed' AS what, NULL AS value;\n");
    // 2. Take the stock of every line in one conditional UPDATE, moving
    //    each product's version on (an edit opened before the sale is
    //    stale after it): a product whose stock is short is simply not
    //    updated, and not reported.
    if !needed.is_empty() {
        q.push("UPDATE orders_products SET stock = stock - w.column2, version = version + 1 FROM (VALUES ");
        for (i, (id, qty)) in needed.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .bind(id.as_str())
                .push(", ")
                .bind(*qty)
                .push(")");
        }
        q.push(
            ") AS w WHERE orders_products.id = w.column1 AND orders_products.stock >= w.column2
             RETURNING 'taken' AS what, orders_products.id AS value;\n",
        );
    }
    // 3. Count the discount's use (an enabled code with uses left), and,
    //    for a code limited per customer, the customer's use under its
    //    limit: `used` says whether the code has that limit, `mine` that
    //    the customer's use was counted.
    if let Some(code) = &p.discount_code {
        q.push("UPDATE orders_discounts SET uses = uses + 1 WHERE code = ")
            .bind(code.as_str())
            .push(
                " AND active = 1 AND (max_uses IS NULL OR uses < max_uses) \
                 RETURNING 'used' AS what, max_uses_per_customer IS NOT NULL AS value;\n",
            );
        q.push("INSERT INTO orders_discount_uses (code, customer_key, uses) SELECT code, ")
            .bind(orders_core::discount::use_key(
                &o.customer_id,
                o.email.as_str(),
            ))
            .push(", 1 FROM orders_discounts WHERE code = ")
            .bind(code.as_str())
            .push(
                " AND max_uses_per_customer IS NOT NULL \
                 ON CONFLICT (code, customer_key) DO UPDATE SET uses = uses + 1 \
                 WHERE orders_discount_uses.uses < (SELECT max_uses_per_customer \
                 FROM orders_discounts WHERE code = excluded.code) \
                 RETURNING 'mine' AS what, NULL AS value;\n",
            );
    }
    // 4. The order, numbered max + 1 under the write lock.
    q.push(
        "INSERT INTO orders_orders (number, id, customer_id, status, currency, email, email_lower, subtotal_minor,
         discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method,
         payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at,
         updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor,
         payment_next_action) VALUES ((SELECT COALESCE(MAX(number), 0) + 1 FROM orders_orders)",
    );
    q.next(o.id.as_str())
        .next(o.customer_id.as_str())
        .next(o.status.as_str())
        .next(o.currency.code())
        .next(o.email.as_str())
        .next(o.email.as_str().to_lowercase())
        .next(o.totals.subtotal.to_minor())
        .next(o.totals.discount.to_minor())
        .next(o.totals.shipping.to_minor())
        .next(o.totals.tax.to_minor())
        .next(o.totals.total.to_minor())
        .next(o.discount_code.as_ref().map(|c| c.as_str().to_owned()))
        .next(codec::address(&o.shipping_address)?)
        .next(o.shipping_method.as_str())
        .next(o.payment.method.as_str())
        .next(o.payment.brand.map(|b| b.as_str().to_owned()))
        .next(o.payment.last4.clone())
        .next(o.payment.status.as_str())
        .next(o.payment.reference.clone())
        .push(", NULL")
        .next(now.clone())
        .next(now.clone())
        .push(", 1")
        .next(o.payment.authorized.to_minor())
        .next(o.payment.captured.to_minor())
        .next(o.payment.refunded.to_minor())
        .next(codec::next_action(o.payment.next_action.as_ref())?);
    q.push(") RETURNING 'number' AS what, number AS value;\n");
    // 5. Its lines, in one statement.
    if !o.lines.is_empty() {
        q.push(
            "INSERT INTO orders_order_lines (order_id, position, product_id, sku, name, quantity, unit_price_minor,
             subtotal_minor, discount_minor, tax_minor, total_minor, tax_class) VALUES ",
        );
        for (i, l) in o.lines.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .bind(o.id.as_str())
                .next(i as i64)
                .next(l.product_id.as_str())
                .next(l.sku.as_str())
                .next(l.name.as_str())
                .next(i64::from(l.quantity.get()))
                .next(l.unit_price.to_minor())
                .next(l.line_subtotal.to_minor())
                .next(l.line_discount.to_minor())
                .next(l.line_tax.to_minor())
                .next(l.line_total.to_minor())
                .next(l.tax_class.as_str())
                .push(")");
        }
        q.push(";\n");
    }
    // 6. Its first event.
    q.push("INSERT INTO orders_order_events (order_id, from_status, to_status, at, actor, note) VALUES (")
        .bind(o.id.as_str())
        .push(", NULL")
        .next(o.status.as_str())
        .next(now.clone())
        .next(p.actor.as_str())
        .push(", NULL) RETURNING 'event' AS what, id AS value;\n");
    // 7. Complete the idempotency key, unless another order completed it.
    if let Some(claim) = &p.idempotency {
        q.push(
            "INSERT INTO orders_idempotency_keys (customer_id, key, fingerprint, started_at, order_id) VALUES (",
        )
        .bind(claim.customer_id.as_str())
        .next(claim.key.as_str())
        .next(claim.fingerprint.as_str())
        .next(now.clone())
        .next(o.id.as_str())
        .push(
            ") ON CONFLICT (customer_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
             started_at = excluded.started_at, order_id = excluded.order_id
             WHERE orders_idempotency_keys.order_id IS NULL RETURNING 'keyed' AS what, NULL AS value;\n",
        );
    }
    let rows = q.stmt().fetch_all(conn)?;

    let (mut closed, mut used, mut keyed) = (false, false, false);
    let (mut limited, mut mine) = (false, false);
    let (mut number, mut event_id) = (None, None);
    let mut taken: Vec<String> = Vec::with_capacity(needed.len());
    for row in &rows {
        match row.text("what")?.as_str() {
            "closed" => closed = true,
            "taken" => taken.push(row.text("value")?),
            "used" => {
                used = true;
                limited = row.int("value")? != 0;
            }
            "mine" => mine = true,
            "number" => number = Some(row.int("value")?),
            "event" => event_id = Some(row.int("value")?),
            "keyed" => keyed = true,
            other => return Err(StoreError::Backend(format!("unexpected row {other}")).into()),
        }
    }
    if !closed {
        let exists = Stmt::new("SELECT 1 FROM orders_carts WHERE id = ?")
            .text(p.cart_id.as_str())
            .fetch_optional(conn)?;
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
    if limited && !mine {
        return Err(StoreError::DiscountUsedUpByCustomer.into());
    }
    if p.idempotency.is_some() && !keyed {
        return Err(StoreError::IdempotencyKeyUsed.into());
    }
    Ok(rows::placed(p, number, event_id)?)
}
