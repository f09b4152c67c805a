//! Fulfilments: shipping some units of an order, and their delivery. The
//! order's status follows from them through the status table.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::aftersale::{self, Carrier, Fulfilment, FulfilmentStatus, ItemLine, Record, units};
use super::lifecycle::{
    Actor, EventKind, StatusChange, TrackingNumber, Transition, TransitionError, TransitionGuard,
};
use super::{Order, OrderStatus};
use crate::Error;
use crate::cart::Quantity;
use crate::ids::{FulfilmentId, ProductId};
use crate::money::Money;

/// A valid request to ship some units ([`super::FulfilmentForm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentRequest {
    /// What ships: each product once, at least one unit.
    pub lines: Vec<ItemLine>,
    /// The carrier, if said.
    pub carrier: Option<Carrier>,
    /// The carrier's tracking number.
    pub tracking_number: TrackingNumber,
}

/// The units of each line not shipped yet, in line order.
pub(crate) fn remaining(order: &Order) -> Vec<ItemLine> {
    let shipped = units(order.aftersale.fulfilments.iter().flat_map(|f| &f.lines));
    order
        .lines
        .iter()
        .filter_map(|l| {
            let done = shipped.get(&l.product_id).copied().unwrap_or(0);
            let left = l.quantity.get().saturating_sub(done);
            Quantity::new(left).ok().map(|quantity| ItemLine {
                product_id: l.product_id.clone(),
                quantity,
            })
        })
        .collect()
}

/// A fulfilment of `lines` (which fit what remains), with its share of the
/// order's total: each line's share of its units after those shipped
/// before ([`aftersale::share`]), plus shipping on the first fulfilment.
/// So the fulfilments of the whole order add up to its total exactly.
pub(crate) fn new_fulfilment(
    order: &Order,
    lines: Vec<ItemLine>,
    carrier: Option<Carrier>,
    tracking_number: TrackingNumber,
    now: DateTime<Utc>,
) -> Fulfilment {
    let shipped = units(order.aftersale.fulfilments.iter().flat_map(|f| &f.lines));
    let mut amount: i64 = lines
        .iter()
        .filter_map(|item| {
            let line = aftersale::line_of(order, &item.product_id)?;
            let before = shipped.get(&item.product_id).copied().unwrap_or(0);
            Some(aftersale::share(
                line.line_total.to_minor(),
                line.quantity.get(),
                before,
                item.quantity.get(),
            ))
        })
        .sum();
    if order.aftersale.fulfilments.is_empty() {
        amount += aftersale::shipping_part(order);
    }
    Fulfilment {
        id: FulfilmentId::generate(),
        lines,
        carrier,
        tracking_number,
        status: FulfilmentStatus::Shipped,
        amount: Money::from_minor(amount, order.currency)
            .unwrap_or_else(|_| Money::zero(order.currency)),
        shipped_at: now,
        delivered_at: None,
    }
}

/// Merges the lines of one product, keeping the first one's place.
pub(crate) fn merged(lines: &[ItemLine]) -> Vec<(ProductId, u32)> {
    let mut out: Vec<(ProductId, u32)> = Vec::new();
    for line in lines {
        match out.iter_mut().find(|(p, _)| *p == line.product_id) {
            Some((_, n)) => *n += line.quantity.get(),
            None => out.push((line.product_id.clone(), line.quantity.get())),
        }
    }
    out
}

/// Decides a fulfilment: only from `paid`, `processing` or
/// `partially_shipped` (else `invalid_transition`), and no more of a line
/// than was ordered and not shipped yet (a field error on `lines`). The
/// order becomes `shipped` when every unit has shipped (from `paid`, by
/// way of `partially_shipped`, as the table goes), `partially_shipped`
/// otherwise. The host's guards see the move as a transition with the
/// tracking number.
///
/// # Errors
/// [`Error::Transition`], [`Error::Validation`] on `lines`.
pub fn plan_fulfilment(
    order: &Order,
    request: FulfilmentRequest,
    actor: Actor,
    guards: &[Arc<dyn TransitionGuard>],
    now: DateTime<Utc>,
) -> Result<StatusChange, Error> {
    let from = order.status;
    if !matches!(
        from,
        OrderStatus::Paid | OrderStatus::Processing | OrderStatus::PartiallyShipped
    ) {
        return Err(Error::Transition(TransitionError::Invalid {
            from,
            to: OrderStatus::PartiallyShipped,
        }));
    }
    let left = remaining(order);
    let mut lines = Vec::new();
    for (product, quantity) in merged(&request.lines) {
        let Some(line) = aftersale::line_of(order, &product) else {
            return Err(Error::field(
                "lines",
                format!("product {product} is not in this order"),
            ));
        };
        let open = left
            .iter()
            .find(|l| l.product_id == product)
            .map_or(0, |l| l.quantity.get());
        if quantity > open {
            return Err(Error::field(
                "lines",
                format!(
                    "{} ({product}): {quantity} to ship, {open} left unshipped",
                    line.sku
                ),
            ));
        }
        let quantity = Quantity::new(quantity).map_err(|e| Error::field("lines", e.to_string()))?;
        lines.push(ItemLine {
            product_id: product,
            quantity,
        });
    }
    if lines.is_empty() {
        return Err(Error::field("lines", "ship at least one unit"));
    }
    let fulfilment = new_fulfilment(
        order,
        lines,
        request.carrier,
        request.tracking_number.clone(),
        now,
    );
    let mut after = order.aftersale.fulfilments.clone();
    after.push(fulfilment.clone());
    let all_shipped = {
        let shipped = units(after.iter().flat_map(|f| &f.lines));
        order
            .lines
            .iter()
            .all(|l| shipped.get(&l.product_id).copied().unwrap_or(0) >= l.quantity.get())
    };
    let to = if all_shipped {
        OrderStatus::Shipped
    } else {
        OrderStatus::PartiallyShipped
    };
    let allowed = from == to
        || from.can_become(to)
        || (from.can_become(OrderStatus::PartiallyShipped)
            && OrderStatus::PartiallyShipped.can_become(to));
    if !allowed {
        return Err(Error::Transition(TransitionError::Invalid { from, to }));
    }
    let transition = Transition {
        to,
        note: None,
        tracking_number: Some(request.tracking_number.clone()),
    };
    for guard in guards {
        guard
            .check(order, &transition, &actor)
            .map_err(|reason| Error::Transition(TransitionError::Refused(reason)))?;
    }
    let mut change = StatusChange::with_record(
        order,
        to,
        EventKind::FulfilmentCreated,
        Record::Fulfilment(fulfilment),
        actor,
        now,
    );
    change.tracking_number = Some(request.tracking_number);
    Ok(change)
}

/// Decides the delivery of the fulfilment `id`: it must be `shipped`
/// (else `invalid_transition`). The order becomes `delivered` when every
/// unit has shipped and every fulfilment is delivered.
///
/// # Errors
/// [`Error::NotFound`] (no such fulfilment on the order),
/// [`Error::Transition`].
pub fn plan_delivery(
    order: &Order,
    id: &FulfilmentId,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<StatusChange, Error> {
    let Some(found) = order.aftersale.fulfilments.iter().find(|f| &f.id == id) else {
        return Err(Error::NotFound("fulfilment"));
    };
    if found.status != FulfilmentStatus::Shipped {
        return Err(Error::Transition(TransitionError::Record {
            record: "fulfilment",
            from: found.status.as_str(),
            to: FulfilmentStatus::Delivered.as_str(),
        }));
    }
    let mut delivered = found.clone();
    delivered.status = FulfilmentStatus::Delivered;
    delivered.delivered_at = Some(now);
    let others_delivered = order
        .aftersale
        .fulfilments
        .iter()
        .filter(|f| &f.id != id)
        .all(|f| f.status == FulfilmentStatus::Delivered);
    let from = order.status;
    let to = if from == OrderStatus::Shipped
        && others_delivered
        && from.can_become(OrderStatus::Delivered)
    {
        OrderStatus::Delivered
    } else {
        from
    };
    Ok(StatusChange::with_record(
        order,
        to,
        EventKind::FulfilmentDelivered,
        Record::Fulfilment(delivered),
        actor,
        now,
    ))
}
