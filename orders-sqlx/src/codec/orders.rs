//! Orders, their lines and their events from their rows.

use std::str::FromStr;

use orders_core::cart::Quantity;
use orders_core::catalogue::{ProductName, Sku, TaxClass};
use orders_core::checkout::{Address, CardBrand, Email, PaymentMethod};
use orders_core::discount::DiscountCode;
use orders_core::ids::{CustomerId, EventId, OrderId, ProductId};
use orders_core::money::Currency;
use orders_core::order::{
    Actor, EventKind, NextAction, Note, Order, OrderEvent, OrderLine, OrderNumber, OrderParts,
    OrderStatus, PaymentStatus, PaymentSummary, TrackingNumber,
};
use orders_core::ports::StoreError;
use orders_core::pricing::{ShippingMethodCode, Totals};

use super::{Get, currency, money, parse, parse_ts, to_u64};
use crate::stored;

pub(crate) const ORDER_COLUMNS: &str = "number, id, customer_id, status, currency, email, subtotal_minor, discount_minor, shipping_minor, tax_minor, total_minor, discount_code, shipping_address, shipping_method, payment_method, card_brand, card_last4, payment_status, payment_reference, tracking_number, created_at, updated_at, version, payment_authorized_minor, payment_captured_minor, payment_refunded_minor, payment_next_action";

pub(crate) const LINE_COLUMNS: &str = "order_id, position, product_id, sku, name, quantity, unit_price_minor, subtotal_minor, discount_minor, tax_minor, total_minor, tax_class";

/// An order's row without its lines.
pub(crate) fn order(
    row: &impl Get,
    lines: Vec<OrderLine>,
    aftersale: orders_core::order::Aftersale,
) -> Result<Order, StoreError> {
    let currency = currency(&row.text("currency")?)?;
    let method = parse(
        "payment method",
        PaymentMethod::from_str(&row.text("payment_method")?),
    )?;
    let address = stored::read_address(&row.text("shipping_address")?)?;
    let parts = OrderParts {
        id: parse("order id", OrderId::parse(&row.text("id")?))?,
        number: OrderNumber::new(to_u64("order number", row.int("number")?)?),
        customer_id: parse("customer id", CustomerId::parse(&row.text("customer_id")?))?,
        status: parse("status", OrderStatus::from_str(&row.text("status")?))?,
        currency,
        email: parse("email", Email::parse(&row.text("email")?))?,
        lines,
        totals: Totals {
            subtotal: money(row.int("subtotal_minor")?, currency)?,
            discount: money(row.int("discount_minor")?, currency)?,
            shipping: money(row.int("shipping_minor")?, currency)?,
            tax: money(row.int("tax_minor")?, currency)?,
            total: money(row.int("total_minor")?, currency)?,
        },
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
            authorized: money(row.int("payment_authorized_minor")?, currency)?,
            captured: money(row.int("payment_captured_minor")?, currency)?,
            refunded: money(row.int("payment_refunded_minor")?, currency)?,
            next_action: row
                .opt_text("payment_next_action")?
                .map(|a| parse("next action", serde_json::from_str::<NextAction>(&a)))
                .transpose()?,
            reference: row.opt_text("payment_reference")?,
        },
        tracking_number: row
            .opt_text("tracking_number")?
            .map(|t| parse("tracking number", TrackingNumber::parse(&t)))
            .transpose()?,
        aftersale,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
        updated_at: parse_ts("updated_at", &row.text("updated_at")?)?,
        version: to_u64("order version", row.int("version")?)?,
    };
    parse("order", Order::restore(parts))
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

/// The `payment_next_action` column's text: the action as API.md shows it
/// (`{"type": "redirect", "url": …}`), or NULL.
pub(crate) fn next_action(action: Option<&NextAction>) -> Result<Option<String>, StoreError> {
    action
        .map(|a| serde_json::to_string(a).map_err(|e| StoreError::Backend(e.to_string())))
        .transpose()
}

/// A change's restock as a JSON array of `{product_id, quantity}`.
pub(crate) fn restock_json(
    change: &orders_core::order::StatusChange,
) -> Result<String, StoreError> {
    serde_json::to_string(change.restock()).map_err(|e| StoreError::Backend(e.to_string()))
}

/// The `data` column's text of an event: its JSON, or NULL.
pub(crate) fn event_data(data: Option<&serde_json::Value>) -> Option<String> {
    data.map(serde_json::Value::to_string)
}

/// The `shipping_address` column's text: see [`crate::stored`].
pub(crate) fn address(address: &Address) -> Result<String, StoreError> {
    stored::write_address(address)
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, order_id, from_status, to_status, at, actor, note, kind, data";

pub(crate) fn event(row: &impl Get) -> Result<OrderEvent, StoreError> {
    Ok(OrderEvent {
        id: EventId::new(to_u64("event id", row.int("id")?)?),
        order_id: parse("order id", OrderId::parse(&row.text("order_id")?))?,
        kind: parse("event kind", EventKind::from_str(&row.text("kind")?))?,
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
        data: row
            .opt_text("data")?
            .map(|d| parse("event data", serde_json::from_str(&d)))
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
