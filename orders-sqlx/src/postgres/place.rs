//! The checkout on PostgreSQL: one call of the `orders_place` function.
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
//! # The capture's record, without a read
//!
//! A card checkout captures after this call committed, then records the
//! capture as a status change of the order the placement returned
//! (`change_status_of`), without reading it back. That write is one
//! statement, a compare-and-set: `UPDATE … WHERE id = $id AND version =
//! $expected AND status IS NOT DISTINCT FROM $from` (the same as `=` on a
//! status, which is never null, but served by no index, so the order is
//! always found by its id). Under `READ COMMITTED` an `UPDATE` that
//! finds its row changed by a concurrent transaction waits for it and then
//! re-evaluates its `WHERE` on the row's newest committed version, so it
//! matches only if nobody moved the order past the version the placement
//! wrote; then the stored order *is* the returned one (every write of an
//! order raises its version), and the change applied to it is what is
//! stored. If it matches nothing, nothing is written and the order is read
//! to tell a conflict from an unknown order, as `change_status` does. The
//! record commits synchronously before the checkout answers, as the
//! placement does.

use orders_core::discount::DiscountCode;
use orders_core::ports::{OrderPlacement, Placed, StoreError};
use sqlx::Postgres;

use crate::codec::{self, Get, ts};
use crate::error::{self, Fail};
use crate::lease::Conns;
use crate::rows;

/// A whole checkout in one call of `orders_place` (migration
/// `0002_place_function.sql`, last replaced by `0013_discount_limits.sql`),
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
    $17, $18, $19, $20, $21::jsonb, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33)";

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
pub(super) async fn place(conns: &Conns<Postgres>, p: &OrderPlacement) -> Result<Placed, Fail> {
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
        .bind(o.totals.subtotal.to_minor())
        .bind(o.totals.discount.to_minor())
        .bind(o.totals.shipping.to_minor())
        .bind(o.totals.tax.to_minor())
        .bind(o.totals.total.to_minor())
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
        .bind(p.discount_code.as_ref().map(DiscountCode::as_str))
        .bind(o.payment.authorized.to_minor())
        .bind(o.payment.captured.to_minor())
        .bind(o.payment.refunded.to_minor())
        .bind(codec::next_action(o.payment.next_action.as_ref())?);
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
                } else if p.discount_code.is_some()
                    && let discounted = sqlx::Row::try_get::<Option<bool>, _>(&row, "discounted")
                        .map_err(error::decode)?
                    && discounted != Some(true)
                {
                    match discounted {
                        // NULL: the customer's own uses reached the limit.
                        None => StoreError::DiscountUsedUpByCustomer,
                        Some(_) => StoreError::DiscountUnavailable,
                    }
                } else {
                    StoreError::IdempotencyKeyUsed
                }
            }
        }
        .into());
    }
    Ok(rows::placed(
        p,
        row.opt_int("number")?,
        row.opt_int("event_id")?,
    )?)
}
