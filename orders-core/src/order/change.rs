//! The change a store applies for one move of an order: its status, its
//! payment, its after-sale records, the stock that goes back, and the
//! event, compare-and-set on the order's version.

use chrono::{DateTime, Utc};

use super::aftersale::{ItemLine, Record};
use super::lifecycle::{Actor, EventKind, Note, OrderEvent, OrderStatus, TrackingNumber};
use super::{Order, PaymentSummary};
use crate::ids::{EventId, OrderId, RefundId};
/// What a store applies for one move, in one transaction, compare-and-set
/// on `expected_version`.
///
/// Only [`plan_transition`] makes one, after the status table, the
/// tracking number and the guards allowed the move; a store reads it
/// through its accessors. Its fields are private, so no one outside the
/// crate can make a move the table refuses:
///
/// ```compile_fail,E0451
/// use orders_core::order::{Actor, OrderStatus, StatusChange};
/// fn reopen(order_id: orders_core::ids::OrderId) -> StatusChange {
///     StatusChange {
///         order_id,
///         expected_version: 1,
///         from: OrderStatus::Cancelled,
///         to: OrderStatus::Paid,
///         tracking_number: None,
///         payment: None,
///         kind: orders_core::order::EventKind::StatusChanged,
///         restock: Vec::new(),
///         at: chrono::Utc::now(),
///         actor: Actor::system(),
///         note: None,
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The order.
    pub(crate) order_id: OrderId,
    /// The version the decision was made on.
    pub(crate) expected_version: u64,
    /// Current status.
    pub(crate) from: OrderStatus,
    /// New status.
    pub(crate) to: OrderStatus,
    /// A tracking number to record, if any.
    pub(crate) tracking_number: Option<TrackingNumber>,
    /// The payment after the change, if the change touches it.
    pub(crate) payment: Option<PaymentSummary>,
    /// What the event records.
    pub(crate) kind: EventKind,
    /// The units that go back to their products' stock (every line when
    /// cancelling, a received return's lines with restock).
    pub(crate) restock: Vec<ItemLine>,
    /// The records to insert or replace (by id), the event's `data` the
    /// first one's.
    pub(crate) records: Vec<Record>,
    /// A refund to remove (the provider refused it).
    pub(crate) removed_refund: Option<RefundId>,
    /// The event's `data` when it is not the first record's nor the
    /// payment (a refused refund).
    pub(crate) event_data: Option<serde_json::Value>,
    /// When.
    pub(crate) at: DateTime<Utc>,
    /// Who.
    pub(crate) actor: Actor,
    /// Why.
    pub(crate) note: Option<Note>,
}

impl StatusChange {
    /// The order.
    pub fn order_id(&self) -> &OrderId {
        &self.order_id
    }

    /// The version the decision was made on.
    pub fn expected_version(&self) -> u64 {
        self.expected_version
    }

    /// Whether `order` is the order this change was planned on: its id,
    /// at the version and in the status the change expects. A store may
    /// trust such an order instead of reading it
    /// ([`OrderStore::change_status_of`](crate::ports::OrderStore::change_status_of)).
    #[must_use]
    pub fn planned_on(&self, order: &Order) -> bool {
        order.id() == &self.order_id
            && order.version() == self.expected_version
            && order.status() == self.from
    }

    /// Current status.
    pub fn from(&self) -> OrderStatus {
        self.from
    }

    /// New status.
    pub fn to(&self) -> OrderStatus {
        self.to
    }

    /// A tracking number to record, if any.
    pub fn tracking_number(&self) -> Option<&TrackingNumber> {
        self.tracking_number.as_ref()
    }

    /// The whole payment after the change (status, amounts, next action),
    /// if the change touches it: a store writes every payment field from it.
    pub fn payment(&self) -> Option<&PaymentSummary> {
        self.payment.as_ref()
    }

    /// What the event records.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The event's `data`: the record the change writes (fulfilment,
    /// return, refund, note), else the payment, for a change that touches
    /// it. The payment's `next_action` keeps only its `type`: events reach
    /// staff streams and webhooks, and a `client_secret` is for the order's
    /// owner alone.
    pub fn data(&self) -> Option<serde_json::Value> {
        if let Some(data) = &self.event_data {
            return Some(data.clone());
        }
        if self.kind != EventKind::StatusChanged
            && let Some(record) = self.records.first()
        {
            return record.to_json();
        }
        let mut data = serde_json::to_value(self.payment.as_ref()?).ok()?;
        if let Some(action) = data.get_mut("next_action").filter(|a| !a.is_null()) {
            *action = serde_json::json!({ "type": action["type"].clone() });
        }
        Some(data)
    }

    /// The units that go back to their products' stock, each raising its
    /// product's version: every line when cancelling, a received return's
    /// lines when staff restock them; empty otherwise.
    pub fn restock(&self) -> &[ItemLine] {
        &self.restock
    }

    /// The after-sale records the change inserts, or replaces by id
    /// (fulfilments, returns, refunds, notes).
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The refund the change removes (the provider refused it), if any.
    pub fn removed_refund(&self) -> Option<&RefundId> {
        self.removed_refund.as_ref()
    }

    /// When.
    pub fn at(&self) -> DateTime<Utc> {
        self.at
    }

    /// Who.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Why.
    pub fn note(&self) -> Option<&Note> {
        self.note.as_ref()
    }

    /// Applies the change to `order` (what the store then saves), giving the
    /// event its id.
    pub fn apply(&self, order: &mut Order, event_id: EventId) -> OrderEvent {
        order.status = self.to;
        if let Some(tracking) = &self.tracking_number {
            order.tracking_number = Some(tracking.clone());
        }
        if let Some(payment) = &self.payment {
            order.payment = payment.clone();
        }
        for record in &self.records {
            order.aftersale.put(record.clone());
        }
        if let Some(id) = &self.removed_refund {
            order.aftersale.remove_refund(id);
        }
        order.derive();
        order.version += 1;
        order.updated_at = self.at;
        OrderEvent {
            id: event_id,
            order_id: self.order_id.clone(),
            kind: self.kind,
            from: Some(self.from),
            to: self.to,
            at: self.at,
            actor: self.actor.clone(),
            note: self.note.clone(),
            data: self.data(),
        }
    }
}

impl StatusChange {
    /// A change of `order` that writes `record` with an event of `kind`,
    /// moving the order to `to` (its status, when `to` is the same).
    pub(crate) fn with_record(
        order: &Order,
        to: OrderStatus,
        kind: EventKind,
        record: Record,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            order_id: order.id.clone(),
            expected_version: order.version,
            from: order.status,
            to,
            tracking_number: None,
            payment: None,
            kind,
            restock: Vec::new(),
            records: vec![record],
            removed_refund: None,
            event_data: None,
            at: now,
            actor,
            note: None,
        }
    }
}
