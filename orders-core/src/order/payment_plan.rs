//! What the provider's answer changes on an order ([`plan_payment`]), and
//! the money a cancellation or refund gives back.

use chrono::{DateTime, Utc};

use super::aftersale::ItemLine;
use super::{Actor, EventKind, Order, OrderStatus, PaymentStatus, PaymentSummary, StatusChange};
use crate::checkout::PaymentMethod;

/// The payment after cancelling or refunding an order: what was captured
/// is given back in full; what is only held (or waits for the customer)
/// is voided. `None` when no money moves (cash on delivery, a payment
/// already settled).
pub(super) fn money_back(payment: &PaymentSummary) -> Option<PaymentSummary> {
    if payment.method != PaymentMethod::Card {
        return None;
    }
    let mut after = payment.clone();
    match payment.status {
        PaymentStatus::Captured | PaymentStatus::PartiallyRefunded => {
            after.status = PaymentStatus::Refunded;
            after.refunded = payment.captured;
        }
        PaymentStatus::Authorized | PaymentStatus::RequiresAction | PaymentStatus::Pending => {
            after.status = PaymentStatus::Voided;
            after.next_action = None;
        }
        PaymentStatus::Refunded | PaymentStatus::Voided | PaymentStatus::Failed => return None,
    }
    Some(after)
}

/// Decides what the provider's answer changes: the order's payment
/// becomes what the provider says (`status`, amounts, next action), and an
/// order `awaiting_payment` moves to `paid` once the payment is authorised
/// or captured, or to `cancelled` (stock back) once it failed or was
/// voided. `None` when nothing changes, so a second report of the same
/// state (the customer's return after the webhook, a replayed webhook)
/// writes nothing.
pub fn plan_payment(
    order: &Order,
    provider: &ProviderState,
    actor: Actor,
    now: DateTime<Utc>,
) -> Option<StatusChange> {
    let payment = payment_as_reported(&order.payment, provider);
    let from = order.status;
    let to = match from {
        OrderStatus::AwaitingPayment if provider.status.counts_as_paid() => OrderStatus::Paid,
        OrderStatus::AwaitingPayment if provider.status.is_settled() => OrderStatus::Cancelled,
        _ => from,
    };
    if to == from && payment == order.payment {
        return None;
    }
    Some(StatusChange {
        order_id: order.id.clone(),
        expected_version: order.version,
        from,
        to,
        tracking_number: None,
        payment: Some(payment),
        kind: EventKind::PaymentUpdated,
        restock: if to == OrderStatus::Cancelled && from != OrderStatus::Cancelled {
            order
                .lines
                .iter()
                .map(|l| ItemLine {
                    product_id: l.product_id.clone(),
                    quantity: l.quantity,
                })
                .collect()
        } else {
            Vec::new()
        },
        records: Vec::new(),
        removed_refund: None,
        event_data: None,
        at: now,
        actor,
        note: None,
    })
}

/// The order's payment as the provider reports it now.
pub(crate) fn payment_as_reported(
    current: &PaymentSummary,
    provider: &ProviderState,
) -> PaymentSummary {
    let mut payment = current.clone();
    payment.status = provider.status;
    payment.authorized = provider.authorized;
    payment.captured = provider.captured;
    payment.refunded = provider.refunded;
    payment.next_action = if provider.status == PaymentStatus::RequiresAction {
        provider.next_action.clone()
    } else {
        None
    };
    if payment.brand.is_none() {
        payment.brand = provider.brand;
    }
    if payment.last4.is_none() {
        payment.last4.clone_from(&provider.last4);
    }
    payment
}

/// The payment as its provider reports it, in the order's currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderState {
    /// Where it stands.
    pub status: PaymentStatus,
    /// Authorised (held or since taken).
    pub authorized: crate::money::Money,
    /// Taken.
    pub captured: crate::money::Money,
    /// Given back.
    pub refunded: crate::money::Money,
    /// What the customer must do, while `requires_action`.
    pub next_action: Option<super::NextAction>,
    /// The card's brand, when the provider tells it.
    pub brand: Option<crate::checkout::CardBrand>,
    /// The card's last four digits, when the provider tells them.
    pub last4: Option<String>,
}
