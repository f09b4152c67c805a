//! What the order page shows after the sale: what is left to ship and to
//! refund, the fulfilments, returns, refunds and notes, and who did what
//! (a staff member's label from the host, or "customer"), all formatted.

use std::collections::HashMap;

use orders_core::order::{
    Actor, FulfilmentStatus, ItemLine, Order, OrderStatus, RefundStatus, ReturnStatus,
};

use super::PanelState;
use super::views::{date, money};

/// Who acted, as the panel names them: "customer", "system", or a staff
/// member's label from the host ([`crate::Identify::label`]; their email
/// in the example server), else "staff" and their id.
#[derive(Debug, Default)]
pub(crate) struct Actors(HashMap<String, String>);

impl Actors {
    /// Labels for every staff member among `actors`, asked of the host once
    /// each.
    pub(crate) async fn of<'a>(
        state: &PanelState,
        actors: impl Iterator<Item = &'a Actor>,
    ) -> Self {
        let mut labels = HashMap::new();
        for actor in actors {
            let text = actor.as_str();
            let Some(id) = text.strip_prefix("staff:") else {
                continue;
            };
            if labels.contains_key(text) {
                continue;
            }
            let label = match id.parse() {
                Ok(id) => state.identify.label(&id).await.ok().flatten(),
                Err(_) => None,
            };
            labels.insert(
                text.to_owned(),
                label.unwrap_or_else(|| format!("staff {id}")),
            );
        }
        Self(labels)
    }

    /// The label of `actor`.
    pub(crate) fn name(&self, actor: &Actor) -> String {
        let text = actor.as_str();
        if text.starts_with("customer:") {
            return "customer".to_owned();
        }
        self.0.get(text).cloned().unwrap_or_else(|| text.to_owned())
    }
}

/// Units of one line: what is left to ship, or to refund.
pub(crate) struct UnitsLeft {
    pub(crate) product_id: String,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) left: u32,
}

/// A fulfilment, formatted.
pub(crate) struct FulfilmentView {
    pub(crate) id: String,
    pub(crate) lines: String,
    pub(crate) carrier: String,
    pub(crate) tracking: String,
    pub(crate) status: &'static str,
    pub(crate) shipped: String,
    pub(crate) delivered: String,
    pub(crate) can_deliver: bool,
}

/// A return, formatted, with what staff may do with it.
pub(crate) struct ReturnView {
    pub(crate) id: String,
    pub(crate) status: &'static str,
    pub(crate) lines: String,
    pub(crate) reason: String,
    pub(crate) note: String,
    pub(crate) restocked: bool,
    pub(crate) created: String,
    pub(crate) can_decide: bool,
    pub(crate) can_receive: bool,
    /// A received return not refunded yet: its units, for the refund form.
    pub(crate) refund_lines: Vec<(String, u32)>,
}

/// A refund, formatted.
pub(crate) struct RefundView {
    pub(crate) amount: String,
    pub(crate) lines: String,
    pub(crate) status: &'static str,
    pub(crate) note: String,
    pub(crate) created: String,
}

/// A note, formatted.
pub(crate) struct NoteView {
    pub(crate) text: String,
    pub(crate) visible: bool,
    pub(crate) author: String,
    pub(crate) created: String,
}

/// Everything after the sale on one order's page.
pub(crate) struct AftersaleView {
    pub(crate) can_fulfil: bool,
    pub(crate) unshipped: Vec<UnitsLeft>,
    pub(crate) fulfilment_status: &'static str,
    pub(crate) fulfilments: Vec<FulfilmentView>,
    pub(crate) returns: Vec<ReturnView>,
    pub(crate) can_refund: bool,
    pub(crate) refundable: Vec<UnitsLeft>,
    pub(crate) refunds: Vec<RefundView>,
    pub(crate) refunded_total: String,
    pub(crate) left_to_refund: String,
    pub(crate) notes: Vec<NoteView>,
}

/// Units per product of `lines`.
fn counts<'a>(lines: impl Iterator<Item = &'a ItemLine>) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for line in lines {
        *out.entry(line.product_id.as_str().to_owned()).or_default() += line.quantity.get();
    }
    out
}

/// `2 × MUG, 1 × TEE` of `lines`, by the order's SKUs.
fn describe(order: &Order, lines: &[ItemLine]) -> String {
    lines
        .iter()
        .map(|l| {
            let sku = order
                .lines()
                .iter()
                .find(|o| o.product_id == l.product_id)
                .map_or_else(
                    || l.product_id.as_str().to_owned(),
                    |o| o.sku.as_str().to_owned(),
                );
            format!("{} × {sku}", l.quantity)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is left of each line once `done` units are taken off.
fn left(order: &Order, done: &HashMap<String, u32>) -> Vec<UnitsLeft> {
    order
        .lines()
        .iter()
        .filter_map(|l| {
            let id = l.product_id.as_str();
            let left = l
                .quantity
                .get()
                .saturating_sub(done.get(id).copied().unwrap_or(0));
            (left > 0).then(|| UnitsLeft {
                product_id: id.to_owned(),
                sku: l.sku.as_str().to_owned(),
                name: l.name.as_str().to_owned(),
                left,
            })
        })
        .collect()
}

impl AftersaleView {
    pub(crate) fn new(order: &Order, actors: &Actors) -> Self {
        let shipped = counts(order.fulfilments().iter().flat_map(|f| &f.lines));
        let refunded = counts(order.refunds().iter().flat_map(|r| &r.lines));
        let unshipped = left(order, &shipped);
        let can_fulfil = !unshipped.is_empty()
            && matches!(
                order.status(),
                OrderStatus::Paid | OrderStatus::Processing | OrderStatus::PartiallyShipped
            );
        let reserved: i64 = order.refunds().iter().map(|r| r.amount.to_minor()).sum();
        let captured = order.payment().captured;
        let left_minor = (captured.to_minor() - reserved).max(0);
        let left_to_refund = orders_core::money::Money::from_minor(left_minor, order.currency())
            .map(|m| money(&m))
            .unwrap_or_default();
        let refunded_by_return: Vec<_> = order
            .refunds()
            .iter()
            .filter_map(|r| r.return_id.clone())
            .collect();
        Self {
            can_fulfil,
            unshipped,
            fulfilment_status: order.fulfilment_status().as_str(),
            fulfilments: order
                .fulfilments()
                .iter()
                .map(|f| FulfilmentView {
                    id: f.id.as_str().to_owned(),
                    lines: describe(order, &f.lines),
                    carrier: f
                        .carrier
                        .as_ref()
                        .map(|c| c.as_str().to_owned())
                        .unwrap_or_default(),
                    tracking: f.tracking_number.as_str().to_owned(),
                    status: f.status.as_str(),
                    shipped: date(&f.shipped_at),
                    delivered: f.delivered_at.as_ref().map(date).unwrap_or_default(),
                    can_deliver: f.status == FulfilmentStatus::Shipped,
                })
                .collect(),
            returns: order
                .returns()
                .iter()
                .map(|r| ReturnView {
                    id: r.id.as_str().to_owned(),
                    status: r.status.as_str(),
                    lines: describe(order, &r.lines),
                    reason: r.reason.as_str().to_owned(),
                    note: r
                        .note
                        .as_ref()
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    restocked: r.restocked,
                    created: date(&r.created_at),
                    can_decide: r.status == ReturnStatus::Requested,
                    can_receive: r.status == ReturnStatus::Approved,
                    refund_lines: if r.status == ReturnStatus::Received
                        && !refunded_by_return.contains(&r.id)
                    {
                        r.lines
                            .iter()
                            .map(|l| (l.product_id.as_str().to_owned(), l.quantity.get()))
                            .collect()
                    } else {
                        Vec::new()
                    },
                })
                .collect(),
            can_refund: left_minor > 0,
            refundable: left(order, &refunded),
            refunds: order
                .refunds()
                .iter()
                .map(|r| RefundView {
                    amount: money(&r.amount),
                    lines: if r.lines.is_empty() {
                        String::new()
                    } else {
                        describe(order, &r.lines)
                    },
                    status: match r.status {
                        RefundStatus::Pending => "pending",
                        RefundStatus::Succeeded => "succeeded",
                        _ => "failed",
                    },
                    note: r
                        .note
                        .as_ref()
                        .map(|n| n.as_str().to_owned())
                        .unwrap_or_default(),
                    created: date(&r.created_at),
                })
                .collect(),
            refunded_total: money(&order.refunded_total()),
            left_to_refund,
            notes: order
                .notes()
                .iter()
                .map(|n| NoteView {
                    text: n.text.as_str().to_owned(),
                    visible: n.visible_to_customer,
                    author: actors.name(&n.author),
                    created: date(&n.created_at),
                })
                .collect(),
        }
    }
}
