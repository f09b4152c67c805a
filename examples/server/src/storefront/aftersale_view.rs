//! What the customer's order page shows after the sale: shipments with
//! their tracking numbers, returns, refunds and the notes meant for them
//! (the engine already left the internal ones out), and what they may
//! still do: cancel while nothing has shipped, return delivered units.

use std::collections::HashMap;

use orders_core::order::{FulfilmentStatus, ItemLine, Order, OrderStatus, ReturnStatus};

use orders_core::words;

use super::templates::{money, when};

/// A shipment.
pub(super) struct ShipmentView {
    pub lines: String,
    pub carrier: Option<String>,
    pub tracking: String,
    pub status: &'static str,
    /// The status in words.
    pub status_words: &'static str,
    pub shipped: String,
    pub delivered: Option<String>,
}

/// A return the customer asked for.
pub(super) struct ReturnView {
    pub lines: String,
    pub status: &'static str,
    /// The status in words.
    pub status_words: &'static str,
    pub reason: String,
    pub note: Option<String>,
}

/// A refund.
pub(super) struct RefundView {
    pub amount: String,
    pub lines: String,
    pub status: &'static str,
    /// The status in words.
    pub status_words: &'static str,
    pub at: String,
}

/// A note staff left for the customer.
pub(super) struct NoteView {
    pub text: String,
    pub at: String,
}

/// Units of a delivered line the customer may still send back.
pub(super) struct Returnable {
    pub product_id: String,
    pub name: String,
    pub left: u32,
}

/// Everything after the sale on the order page.
pub(super) struct AftersaleView {
    pub shipments: Vec<ShipmentView>,
    pub returns: Vec<ReturnView>,
    pub refunds: Vec<RefundView>,
    pub refunded_total: Option<String>,
    pub notes: Vec<NoteView>,
    pub can_cancel: bool,
    pub returnable: Vec<Returnable>,
    /// Why the last return request was refused, shown beside its form.
    pub return_error: Option<String>,
}

fn counts<'a>(lines: impl Iterator<Item = &'a ItemLine>) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for line in lines {
        *out.entry(line.product_id.to_string()).or_default() += line.quantity.get();
    }
    out
}

/// `2 × Mug, 1 × Tee`.
fn describe(order: &Order, lines: &[ItemLine]) -> String {
    lines
        .iter()
        .map(|l| {
            let name = order
                .lines()
                .iter()
                .find(|o| o.product_id == l.product_id)
                .map_or_else(|| l.product_id.to_string(), |o| o.name.to_string());
            format!("{} × {name}", l.quantity)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl AftersaleView {
    pub(super) fn of(order: &Order, return_error: Option<String>) -> Self {
        let delivered = counts(
            order
                .fulfilments()
                .iter()
                .filter(|f| f.status == FulfilmentStatus::Delivered)
                .flat_map(|f| &f.lines),
        );
        let returned = counts(
            order
                .returns()
                .iter()
                .filter(|r| r.status != ReturnStatus::Rejected)
                .flat_map(|r| &r.lines),
        );
        let returnable = if order.status() == OrderStatus::Delivered {
            order
                .lines()
                .iter()
                .filter_map(|l| {
                    let id = l.product_id.to_string();
                    let left = delivered
                        .get(&id)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(returned.get(&id).copied().unwrap_or(0));
                    (left > 0).then(|| Returnable {
                        product_id: id,
                        name: l.name.to_string(),
                        left,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let can_cancel = order.fulfilments().is_empty()
            && matches!(
                order.status(),
                OrderStatus::Pending
                    | OrderStatus::AwaitingPayment
                    | OrderStatus::Paid
                    | OrderStatus::Processing
            );
        Self {
            shipments: order
                .fulfilments()
                .iter()
                .map(|f| ShipmentView {
                    lines: describe(order, &f.lines),
                    carrier: f.carrier.as_ref().map(ToString::to_string),
                    tracking: f.tracking_number.to_string(),
                    status: f.status.as_str(),
                    status_words: words::fulfilment_status(f.status),
                    shipped: when(f.shipped_at),
                    delivered: f.delivered_at.map(when),
                })
                .collect(),
            returns: order
                .returns()
                .iter()
                .map(|r| ReturnView {
                    lines: describe(order, &r.lines),
                    status: r.status.as_str(),
                    status_words: words::return_status(r.status),
                    reason: r.reason.to_string(),
                    note: r.note.as_ref().map(ToString::to_string),
                })
                .collect(),
            refunds: order
                .refunds()
                .iter()
                .map(|r| RefundView {
                    amount: money(r.amount),
                    lines: describe(order, &r.lines),
                    status: r.status.as_str(),
                    status_words: words::refund_status(r.status),
                    at: when(r.created_at),
                })
                .collect(),
            refunded_total: (!order.refunded_total().is_zero())
                .then(|| money(order.refunded_total())),
            notes: order
                .notes()
                .iter()
                .filter(|n| n.visible_to_customer)
                .map(|n| NoteView {
                    text: n.text.to_string(),
                    at: when(n.created_at),
                })
                .collect(),
            can_cancel,
            returnable,
            return_error,
        }
    }
}
