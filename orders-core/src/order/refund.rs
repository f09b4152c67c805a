//! Refunds: by lines and units (each unit's exact share of its line's
//! total, discount and tax included), shipping, or a free amount; never
//! more than was captured and not yet given back.
//!
//! A refund is reserved first (`pending`, compare-and-set on the order's
//! version, so two staff refunding at once cannot both pass the limit),
//! then asked of the provider with the refund's id as idempotency key,
//! then recorded `succeeded` with the payment as the provider reports it,
//! or removed if the provider refused (only the event saying so stays).

use chrono::{DateTime, Utc};

use super::aftersale::{
    self, ItemLine, Record, Refund, RefundStatus, ReturnStatus, shipping_part, units,
};
use super::fulfilment::merged;
use super::lifecycle::{
    Actor, EventKind, Note, ProviderState, StatusChange, TransitionError, payment_as_reported,
};
use super::{Order, OrderStatus};
use crate::Error;
use crate::cart::Quantity;
use crate::ids::{RefundId, ReturnId};
use crate::money::Money;

/// What a refund pays back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefundAmount {
    /// Units of lines (their exact shares), and the shipping when
    /// `shipping`.
    Lines {
        /// The units.
        lines: Vec<ItemLine>,
        /// Whether the shipping (with its tax) goes back too.
        shipping: bool,
    },
    /// A free amount.
    Free(Money),
}

/// A valid refund request ([`super::RefundForm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// What it pays back.
    pub amount: RefundAmount,
    /// Why.
    pub note: Option<Note>,
    /// The received return it pays for, if any (it becomes `refunded`).
    pub return_id: Option<ReturnId>,
}

/// What is left to refund: captured, minus refunded, minus refunds still
/// pending, in minor units.
fn left_to_refund(order: &Order) -> i64 {
    let pending: i64 = order
        .aftersale
        .refunds
        .iter()
        .filter(|r| r.status == RefundStatus::Pending)
        .map(|r| r.amount.to_minor())
        .sum();
    order.payment.captured.to_minor() - order.payment.refunded.to_minor() - pending
}

/// Decides a refund and reserves it (`pending`, event `refund_created`):
/// line units not refunded yet, the shipping once, or a free amount, never
/// more than is left to refund (field errors on `lines`, `shipping` or
/// `amount`). With `return_id`, the return must be `received`. Units
/// whose share rounds to zero make a refund of zero, which the engine
/// records without asking the provider.
///
/// # Errors
/// [`Error::Validation`], [`Error::NotFound`] (no such return),
/// [`Error::Transition`] (the return is not received).
pub fn plan_refund(
    order: &Order,
    request: RefundRequest,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<StatusChange, Error> {
    if let Some(id) = &request.return_id {
        let found = order
            .aftersale
            .returns
            .iter()
            .find(|r| &r.id == id)
            .ok_or(Error::NotFound("return"))?;
        if found.status != ReturnStatus::Received {
            return Err(Error::Transition(TransitionError::Record {
                record: "return",
                from: found.status.as_str(),
                to: ReturnStatus::Refunded.as_str(),
            }));
        }
    }
    let (amount, lines, shipping, field) = match request.amount {
        RefundAmount::Free(amount) => {
            if amount.currency() != order.currency {
                return Err(Error::field(
                    "amount",
                    format!("must be in {}", order.currency),
                ));
            }
            if amount.to_minor() <= 0 {
                return Err(Error::field("amount", "must be more than zero"));
            }
            (amount.to_minor(), Vec::new(), false, "amount")
        }
        RefundAmount::Lines { lines, shipping } => {
            let (minor, lines) = line_shares(order, &lines)?;
            let mut minor = minor;
            if shipping {
                if order.aftersale.refunds.iter().any(|r| r.shipping) {
                    return Err(Error::field(
                        "shipping",
                        "the shipping was refunded already",
                    ));
                }
                minor += shipping_part(order);
            }
            // Units whose exact share rounds to nothing (a cent over three
            // units: 0, 0, 1) are still refunded, for nothing: so the next
            // unit's share comes after them and the line adds up.
            if lines.is_empty() && minor <= 0 {
                return Err(Error::field("lines", "nothing to refund"));
            }
            (minor, lines, shipping, "lines")
        }
    };
    let left = left_to_refund(order).max(0);
    if amount > left {
        let show = |m: i64| {
            Money::from_minor(m, order.currency).map_or_else(|_| m.to_string(), |m| m.to_string())
        };
        return Err(Error::field(
            field,
            format!(
                "{} is more than is left to refund ({})",
                show(amount),
                show(left)
            ),
        ));
    }
    let refund = Refund {
        id: RefundId::generate(),
        amount: Money::from_minor(amount, order.currency)
            .map_err(|e| Error::field(field, e.to_string()))?,
        lines,
        shipping,
        status: RefundStatus::Pending,
        note: request.note,
        return_id: request.return_id,
        created_at: now,
    };
    Ok(StatusChange::with_record(
        order,
        order.status,
        EventKind::RefundCreated,
        Record::Refund(refund),
        actor,
        now,
    ))
}

/// The exact shares of `lines` (units not refunded yet), and the lines
/// merged by product.
fn line_shares(order: &Order, lines: &[ItemLine]) -> Result<(i64, Vec<ItemLine>), Error> {
    let refunded = units(order.aftersale.refunds.iter().flat_map(|r| &r.lines));
    let mut minor = 0_i64;
    let mut out = Vec::new();
    for (product, quantity) in merged(lines) {
        let Some(line) = aftersale::line_of(order, &product) else {
            return Err(Error::field(
                "lines",
                format!("product {product} is not in this order"),
            ));
        };
        let before = refunded.get(&product).copied().unwrap_or(0);
        let open = line.quantity.get().saturating_sub(before);
        if quantity > open {
            return Err(Error::field(
                "lines",
                format!(
                    "{}: {quantity} to refund, {open} not refunded yet",
                    line.sku
                ),
            ));
        }
        minor += aftersale::share(
            line.line_total.to_minor(),
            line.quantity.get(),
            before,
            quantity,
        );
        out.push(ItemLine {
            product_id: product,
            quantity: Quantity::new(quantity).map_err(|e| Error::field("lines", e.to_string()))?,
        });
    }
    Ok((minor, out))
}

/// Records that the provider gave the pending refund `id` back: the
/// refund `succeeded`, the payment as `provider` reports it, its return
/// `refunded`, and the order `refunded` once every cent of it is (when the
/// table allows it from its status). `None` if the refund is not pending
/// on the order (recorded already).
pub fn plan_refund_succeeded(
    order: &Order,
    id: &RefundId,
    provider: &ProviderState,
    actor: Actor,
    now: DateTime<Utc>,
) -> Option<StatusChange> {
    let found = order
        .aftersale
        .refunds
        .iter()
        .find(|r| &r.id == id && r.status == RefundStatus::Pending)?;
    let mut refund = found.clone();
    refund.status = RefundStatus::Succeeded;
    let refunded_after = aftersale::refunded_minor(order) + refund.amount.to_minor();
    let from = order.status;
    let to = if refunded_after >= order.totals.total.to_minor()
        && from.can_become(OrderStatus::Refunded)
    {
        OrderStatus::Refunded
    } else {
        from
    };
    let mut records = Vec::new();
    if let Some(return_id) = &refund.return_id
        && let Some(ret) = order
            .aftersale
            .returns
            .iter()
            .find(|r| &r.id == return_id && r.status == ReturnStatus::Received)
    {
        let mut ret = ret.clone();
        ret.status = ReturnStatus::Refunded;
        ret.updated_at = now;
        records.push(Record::Return(ret));
    }
    records.insert(0, Record::Refund(refund));
    let mut change = StatusChange::with_record(
        order,
        to,
        EventKind::RefundUpdated,
        records.remove(0),
        actor,
        now,
    );
    change.records.extend(records);
    change.payment = Some(payment_as_reported(&order.payment, provider));
    Some(change)
}

/// Records that the provider refused the pending refund `id`: the refund
/// is removed, and the event (`refund_updated`) carries it with status
/// `failed` and the provider's `reason`. `None` if it is not pending.
pub fn plan_refund_failed(
    order: &Order,
    id: &RefundId,
    reason: &str,
    actor: Actor,
    now: DateTime<Utc>,
) -> Option<StatusChange> {
    let found = order
        .aftersale
        .refunds
        .iter()
        .find(|r| &r.id == id && r.status == RefundStatus::Pending)?;
    let mut failed = found.clone();
    failed.status = RefundStatus::Failed;
    let mut data = serde_json::to_value(&failed).ok()?;
    data["reason"] = serde_json::Value::String(reason.to_owned());
    Some(StatusChange {
        order_id: order.id.clone(),
        expected_version: order.version,
        from: order.status,
        to: order.status,
        tracking_number: None,
        payment: None,
        kind: EventKind::RefundUpdated,
        restock: Vec::new(),
        records: Vec::new(),
        removed_refund: Some(id.clone()),
        event_data: Some(data),
        at: now,
        actor,
        note: None,
    })
}
