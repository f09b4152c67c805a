//! The order lifecycle: the status table, the events it writes, and the
//! guards a host can add.
//!
//! [`OrderStatus::can_become`] is the only code that knows the legal moves.
//! A host that needs more rules (no refunds after 30 days, say) adds a
//! [`TransitionGuard`]: guards can refuse a move the table allows, never
//! allow one it refuses.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::aftersale::{ItemLine, Record};
pub(crate) use super::change::StatusChange;
pub(crate) use super::event::{EventKind, OrderEvent};
pub(crate) use super::payment_plan::{ProviderState, payment_as_reported};
use super::{Order, PaymentStatus};

use crate::ids::{CustomerId, RefundId};
use crate::text::text_type;

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrderStatus {
    /// Placed, not paid (cash on delivery).
    Pending,
    /// Placed, holding its stock while the customer completes the
    /// payment (3-D Secure); the payment moves it on.
    AwaitingPayment,
    /// Paid.
    Paid,
    /// Being prepared.
    Processing,
    /// Some of its units are with the carrier, others still to ship.
    PartiallyShipped,
    /// Every unit is with the carrier.
    Shipped,
    /// Received.
    Delivered,
    /// Cancelled; its stock went back.
    Cancelled,
    /// Money returned.
    Refunded,
}

/// The text is not a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown status; expected one of pending, awaiting_payment, paid, processing, partially_shipped, shipped, delivered, cancelled, refunded"
)]
pub struct UnknownStatus;

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [OrderStatus; 9] = [
        Self::Pending,
        Self::AwaitingPayment,
        Self::Paid,
        Self::Processing,
        Self::PartiallyShipped,
        Self::Shipped,
        Self::Delivered,
        Self::Cancelled,
        Self::Refunded,
    ];

    /// The names of [`OrderStatus::ALL`], as the API spells them.
    pub const NAMES: [&'static str; 9] = crate::form::names_of!(Self::ALL);

    /// The statuses an order in `self` may move to. This table is the
    /// lifecycle; nothing else decides it.
    ///
    /// | from | to |
    /// | --- | --- |
    /// | pending | paid, cancelled |
    /// | awaiting_payment | paid, cancelled |
    /// | paid | processing, partially_shipped, cancelled, refunded |
    /// | processing | partially_shipped, shipped, cancelled |
    /// | partially_shipped | shipped |
    /// | shipped | delivered |
    /// | delivered | refunded |
    pub const fn next(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending | AwaitingPayment => &[Paid, Cancelled],
            Paid => &[Processing, PartiallyShipped, Cancelled, Refunded],
            Processing => &[PartiallyShipped, Shipped, Cancelled],
            PartiallyShipped => &[Shipped],
            Shipped => &[Delivered],
            Delivered => &[Refunded],
            Cancelled | Refunded => &[],
        }
    }

    /// Whether the table allows `self -> to`.
    ///
    /// ```
    /// use orders_core::order::OrderStatus::*;
    /// assert!(Paid.can_become(Shipped) == false);
    /// assert!(Processing.can_become(Shipped));
    /// ```
    pub fn can_become(self, to: OrderStatus) -> bool {
        self.next().contains(&to)
    }

    /// Whether no move leaves it.
    pub fn is_final(self) -> bool {
        self.next().is_empty()
    }

    /// The status as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::AwaitingPayment => "awaiting_payment",
            Self::Paid => "paid",
            Self::Processing => "processing",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::Refunded => "refunded",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(UnknownStatus)
    }
}

/// Who made a change: `customer:ID`, `staff:ID` or `system`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

/// The text is not an actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an actor is customer:ID, staff:ID or system")]
pub struct InvalidActor;

impl Actor {
    /// The customer `id`.
    pub fn customer(id: &CustomerId) -> Self {
        Self(format!("customer:{id}"))
    }

    /// The staff member `id` (the host's user id).
    pub fn staff(id: &CustomerId) -> Self {
        Self(format!("staff:{id}"))
    }

    /// The engine itself.
    pub fn system() -> Self {
        Self("system".to_owned())
    }

    /// The actor as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Actor {
    type Error = InvalidActor;
    fn try_from(value: String) -> Result<Self, InvalidActor> {
        let ok = value == "system"
            || ["customer:", "staff:"].iter().any(|p| {
                value
                    .strip_prefix(p)
                    .is_some_and(|id| CustomerId::parse(id).is_ok())
            });
        if ok {
            Ok(Self(value))
        } else {
            Err(InvalidActor)
        }
    }
}

impl From<Actor> for String {
    fn from(value: Actor) -> Self {
        value.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_type!(
    /// A note on a status change: 1 to 1000 characters.
    Note,
    1000
);

text_type!(
    /// A carrier's tracking number: 1 to 64 characters.
    TrackingNumber,
    64
);

/// A requested move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The status to move to.
    pub to: OrderStatus,
    /// A note for the event.
    pub note: Option<Note>,
    /// The tracking number: required to ship.
    pub tracking_number: Option<TrackingNumber>,
}

impl Transition {
    /// A move to `to` with no note.
    pub fn to(to: OrderStatus) -> Self {
        Self {
            to,
            note: None,
            tracking_number: None,
        }
    }
}

/// Why a move was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The table does not allow it.
    #[error("an order cannot go from {from} to {to}")]
    Invalid {
        /// Current status.
        from: OrderStatus,
        /// Requested status.
        to: OrderStatus,
    },
    /// Shipping needs a tracking number.
    #[error("a tracking number is required to ship")]
    TrackingNumberRequired,
    /// A host guard refused it.
    #[error("{0}")]
    Refused(String),
    /// A fulfilment, return or refund cannot make this move.
    #[error("a {record} cannot go from {from} to {to}")]
    Record {
        /// `"fulfilment"`, `"return"`, `"refund"`.
        record: &'static str,
        /// Its current status.
        from: &'static str,
        /// The requested one.
        to: &'static str,
    },
}

impl TransitionError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } | Self::Record { .. } => "invalid_transition",
            Self::TrackingNumberRequired => "validation",
            Self::Refused(_) => "transition_refused",
        }
    }
}

/// A host's own rule on moves: return `Err(reason)` to refuse one the
/// table allows.
///
/// ```
/// use orders_core::order::{Actor, Order, OrderStatus, Transition, TransitionGuard};
///
/// struct NoRefundsOverAThousand;
/// impl TransitionGuard for NoRefundsOverAThousand {
///     fn check(&self, order: &Order, t: &Transition, _: &Actor) -> Result<(), String> {
///         if t.to == OrderStatus::Refunded && order.totals().total.to_minor() > 100_000 {
///             return Err("refunds over 1000 need a manager".into());
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait TransitionGuard: Send + Sync {
    /// Refuses `transition` of `order` by `actor` with a reason, or allows it.
    ///
    /// # Errors
    /// The reason to show.
    fn check(&self, order: &Order, transition: &Transition, actor: &Actor) -> Result<(), String>;
}

/// Decides a move: checks the table, the tracking number and the guards,
/// and works out its effects (stock back on cancel; the payment refunded
/// when a captured card payment is cancelled or refunded).
///
/// # Errors
/// [`TransitionError`].
pub fn plan_transition(
    order: &Order,
    transition: Transition,
    actor: Actor,
    guards: &[std::sync::Arc<dyn TransitionGuard>],
    now: DateTime<Utc>,
) -> Result<StatusChange, TransitionError> {
    let from = order.status;
    let to = transition.to;
    // Only the payment moves an order out of `awaiting_payment` to `paid`
    // (`plan_payment`): nobody can mark a payment made that the provider
    // has not confirmed.
    // Nor does anyone mark an order partly shipped: its fulfilments do
    // (`plan_fulfilment`).
    if !from.can_become(to)
        || (from == OrderStatus::AwaitingPayment && to == OrderStatus::Paid)
        || to == OrderStatus::PartiallyShipped
    {
        return Err(TransitionError::Invalid { from, to });
    }
    if to == OrderStatus::Shipped && transition.tracking_number.is_none() {
        return Err(TransitionError::TrackingNumberRequired);
    }
    for guard in guards {
        guard
            .check(order, &transition, &actor)
            .map_err(TransitionError::Refused)?;
    }
    let payment = matches!(to, OrderStatus::Cancelled | OrderStatus::Refunded)
        .then(|| super::payment_plan::money_back(&order.payment))
        .flatten();
    let restock = if to == OrderStatus::Cancelled {
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
    };
    let mut change = StatusChange {
        order_id: order.id.clone(),
        expected_version: order.version,
        from,
        to,
        tracking_number: transition.tracking_number.clone(),
        payment,
        kind: EventKind::StatusChanged,
        restock,
        records: Vec::new(),
        removed_refund: None,
        event_data: None,
        at: now,
        actor,
        note: transition.note,
    };
    // Money given back by the move is a refund of the order like any
    // other, so `refunded_total` says it.
    if let Some(after) = &change.payment
        && after.status == PaymentStatus::Refunded
        && !order.payment.refundable().is_zero()
    {
        change.records.push(Record::Refund(super::Refund {
            id: RefundId::generate(),
            amount: order.payment.refundable(),
            lines: Vec::new(),
            shipping: false,
            status: super::RefundStatus::Succeeded,
            note: change.note.clone(),
            return_id: None,
            created_at: now,
        }));
    }
    match to {
        // Shipping with a tracking number ships every remaining unit in
        // one fulfilment.
        OrderStatus::Shipped => {
            if let Some(tracking) = transition.tracking_number {
                let lines = super::fulfilment::remaining(order);
                if !lines.is_empty() {
                    let fulfilment =
                        super::fulfilment::new_fulfilment(order, lines, None, tracking, now);
                    change.kind = EventKind::FulfilmentCreated;
                    change.records.push(Record::Fulfilment(fulfilment));
                }
            }
        }
        // Delivering the order delivers every fulfilment still on its way.
        OrderStatus::Delivered => {
            for f in &order.aftersale.fulfilments {
                if f.status == super::FulfilmentStatus::Shipped {
                    let mut f = f.clone();
                    f.status = super::FulfilmentStatus::Delivered;
                    f.delivered_at = Some(now);
                    change.records.push(Record::Fulfilment(f));
                }
            }
        }
        _ => {}
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::super::PaymentSummary;
    use super::*;
    use crate::checkout::PaymentMethod;
    use crate::ids::OrderId;

    #[test]
    fn the_table_of_api_md() {
        use OrderStatus::*;
        let allowed = [
            (Pending, Paid),
            (Pending, Cancelled),
            (AwaitingPayment, Paid),
            (AwaitingPayment, Cancelled),
            (Paid, Processing),
            (Paid, PartiallyShipped),
            (Paid, Cancelled),
            (Paid, Refunded),
            (Processing, PartiallyShipped),
            (Processing, Shipped),
            (Processing, Cancelled),
            (PartiallyShipped, Shipped),
            (Shipped, Delivered),
            (Delivered, Refunded),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        assert!(Cancelled.is_final() && Refunded.is_final() && !Shipped.is_final());
    }

    #[test]
    fn status_text_round_trips() {
        for s in OrderStatus::ALL {
            assert_eq!(s.as_str().parse::<OrderStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("Paid".parse::<OrderStatus>(), Err(UnknownStatus));
    }

    #[test]
    fn an_events_data_never_carries_a_client_secret() {
        use crate::money::Currency;
        let mut payment = PaymentSummary::new(
            PaymentMethod::Card,
            PaymentStatus::RequiresAction,
            Currency::EUR,
        );
        payment.next_action = Some(super::super::NextAction::UseSdk {
            client_secret: "pi_1_secret_xyz".into(),
        });
        let change = StatusChange {
            order_id: OrderId::parse("o1").unwrap(),
            expected_version: 1,
            from: OrderStatus::AwaitingPayment,
            to: OrderStatus::AwaitingPayment,
            tracking_number: None,
            payment: Some(payment),
            kind: EventKind::PaymentUpdated,
            restock: Vec::new(),
            records: Vec::new(),
            removed_refund: None,
            event_data: None,
            at: Utc::now(),
            actor: Actor::system(),
            note: None,
        };
        let data = change.data().unwrap();
        assert_eq!(data["next_action"], serde_json::json!({"type": "use_sdk"}));
        assert!(!data.to_string().contains("secret_xyz"));
    }

    #[test]
    fn actors() {
        let id = CustomerId::parse("u1").unwrap();
        assert_eq!(Actor::customer(&id).as_str(), "customer:u1");
        assert_eq!(Actor::staff(&id).as_str(), "staff:u1");
        assert!(Actor::try_from("system".to_owned()).is_ok());
        assert!(Actor::try_from("staff:".to_owned()).is_err());
        assert!(Actor::try_from("root".to_owned()).is_err());
    }
}
