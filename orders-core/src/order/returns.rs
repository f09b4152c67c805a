//! Returns: a customer sends delivered units back within the return
//! window; staff approve or reject, then receive them, choosing whether
//! they go back to stock.

use chrono::{DateTime, Duration, Utc};

use super::aftersale::{
    FulfilmentStatus, ItemLine, Record, Return, ReturnReason, ReturnStatus, units,
};
use super::fulfilment::merged;
use super::lifecycle::{Actor, EventKind, Note, StatusChange, TransitionError};
use super::{Order, OrderStatus};
use crate::Error;
use crate::cart::Quantity;
use crate::ids::ReturnId;

/// A valid return request ([`super::ReturnForm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRequest {
    /// What goes back.
    pub lines: Vec<ItemLine>,
    /// Why.
    pub reason: ReturnReason,
}

/// What staff do with a return.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnMove {
    /// Accept it (from `requested`).
    Approve,
    /// Refuse it, saying why (from `requested`).
    Reject(Note),
    /// The units came back (from `approved`); with `restock`, exactly those
    /// units go back to their products' stock.
    Receive {
        /// Whether the units go back to stock.
        restock: bool,
    },
}

/// Decides a customer's return: the order must be `delivered` (else
/// `invalid_transition`), asked within `window` of its last delivery, and
/// for delivered units not already in a return that was not rejected
/// (field errors on `lines`).
///
/// # Errors
/// [`Error::Transition`], [`Error::Validation`] on `lines`.
pub fn plan_return(
    order: &Order,
    request: ReturnRequest,
    actor: Actor,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<StatusChange, Error> {
    if order.status != OrderStatus::Delivered {
        return Err(Error::Transition(TransitionError::Record {
            record: "return",
            from: order.status.as_str(),
            to: ReturnStatus::Requested.as_str(),
        }));
    }
    let delivered_fulfilments = || {
        order
            .aftersale
            .fulfilments
            .iter()
            .filter(|f| f.status == FulfilmentStatus::Delivered)
    };
    let last_delivery = delivered_fulfilments().filter_map(|f| f.delivered_at).max();
    match last_delivery {
        Some(at) if now <= at + window => {}
        Some(at) => {
            return Err(Error::field(
                "lines",
                format!(
                    "the return window closed on {}",
                    (at + window).format("%Y-%m-%d")
                ),
            ));
        }
        None => return Err(Error::field("lines", "nothing of this order was delivered")),
    }
    let delivered = units(delivered_fulfilments().flat_map(|f| &f.lines));
    let returned = units(
        order
            .aftersale
            .returns
            .iter()
            .filter(|r| r.status != ReturnStatus::Rejected)
            .flat_map(|r| &r.lines),
    );
    let mut lines = Vec::new();
    for (product, quantity) in merged(&request.lines) {
        let open = delivered
            .get(&product)
            .copied()
            .unwrap_or(0)
            .saturating_sub(returned.get(&product).copied().unwrap_or(0));
        if quantity > open {
            return Err(Error::field(
                "lines",
                format!("{product}: {quantity} to return, {open} returnable"),
            ));
        }
        let quantity = Quantity::new(quantity).map_err(|e| Error::field("lines", e.to_string()))?;
        lines.push(ItemLine {
            product_id: product,
            quantity,
        });
    }
    if lines.is_empty() {
        return Err(Error::field("lines", "return at least one unit"));
    }
    let record = Return {
        id: ReturnId::generate(),
        status: ReturnStatus::Requested,
        lines,
        reason: request.reason,
        note: None,
        restocked: false,
        created_at: now,
        updated_at: now,
    };
    Ok(StatusChange::with_record(
        order,
        order.status,
        EventKind::ReturnUpdated,
        Record::Return(record),
        actor,
        now,
    ))
}

/// Decides a staff move of the return `id`: approve or reject a requested
/// one, receive an approved one (restocking its units when asked).
///
/// # Errors
/// [`Error::NotFound`] (no such return on the order),
/// [`Error::Transition`] (`invalid_transition` from its status).
pub fn plan_return_move(
    order: &Order,
    id: &ReturnId,
    action: ReturnMove,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<StatusChange, Error> {
    let Some(found) = order.aftersale.returns.iter().find(|r| &r.id == id) else {
        return Err(Error::NotFound("return"));
    };
    let to = match &action {
        ReturnMove::Approve => ReturnStatus::Approved,
        ReturnMove::Reject(_) => ReturnStatus::Rejected,
        ReturnMove::Receive { .. } => ReturnStatus::Received,
    };
    if !found.status.can_become(to) {
        return Err(Error::Transition(TransitionError::Record {
            record: "return",
            from: found.status.as_str(),
            to: to.as_str(),
        }));
    }
    let mut after = found.clone();
    after.status = to;
    after.updated_at = now;
    let mut restock = Vec::new();
    match action {
        ReturnMove::Reject(note) => after.note = Some(note),
        ReturnMove::Receive { restock: true } => {
            after.restocked = true;
            restock.clone_from(&after.lines);
        }
        _ => {}
    }
    let mut change = StatusChange::with_record(
        order,
        order.status,
        EventKind::ReturnUpdated,
        Record::Return(after),
        actor,
        now,
    );
    change.restock = restock;
    Ok(change)
}
