//! What an order's events record: their kind, and the event itself.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, Note, OrderStatus};
use crate::ids::{EventId, OrderId};

/// What an event records (API.md's event `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The order was placed (`from` is `None`) or its status moved.
    StatusChanged,
    /// The payment changed (`data` is the payment); `from` and `to` differ
    /// when that moved the order too (`awaiting_payment` to `paid`).
    PaymentUpdated,
    /// Units were handed to a carrier (`data` is the fulfilment).
    FulfilmentCreated,
    /// A fulfilment was delivered (`data` is the fulfilment).
    FulfilmentDelivered,
    /// A return was requested or moved on (`data` is the return).
    ReturnUpdated,
    /// A refund was asked for (`data` is the refund, `pending`).
    RefundCreated,
    /// A refund went through (`data` is the refund, `succeeded`) or the
    /// provider refused it (`data` is the refund, `failed`; the refund
    /// itself is gone).
    RefundUpdated,
    /// A note was added (`data` is the note). Customers only get the
    /// events of notes `visible_to_customer`.
    NoteAdded,
}

/// The text is not an event type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type")]
pub struct UnknownEventKind;

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 8] = [
        Self::StatusChanged,
        Self::PaymentUpdated,
        Self::FulfilmentCreated,
        Self::FulfilmentDelivered,
        Self::ReturnUpdated,
        Self::RefundCreated,
        Self::RefundUpdated,
        Self::NoteAdded,
    ];

    /// The kind as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StatusChanged => "status_changed",
            Self::PaymentUpdated => "payment_updated",
            Self::FulfilmentCreated => "fulfilment_created",
            Self::FulfilmentDelivered => "fulfilment_delivered",
            Self::ReturnUpdated => "return_updated",
            Self::RefundCreated => "refund_created",
            Self::RefundUpdated => "refund_updated",
            Self::NoteAdded => "note_added",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = UnknownEventKind;
    fn from_str(s: &str) -> Result<Self, UnknownEventKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownEventKind)
    }
}

/// One change of an order: its status, its payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderEvent {
    /// Its place in the store's event sequence.
    pub id: EventId,
    /// The order.
    pub order_id: OrderId,
    /// What it records.
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// The status before; `None` for the order's creation.
    pub from: Option<OrderStatus>,
    /// The status after.
    pub to: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Why, if someone said.
    pub note: Option<Note>,
    /// What changed besides the status, by kind (the payment for
    /// `payment_updated`); `None` for a plain status change.
    pub data: Option<serde_json::Value>,
}

impl OrderEvent {
    /// Whether the order's customer may see this event: every event but
    /// the `note_added` of an internal note. Every read a customer makes
    /// (the order's events, its tracking websocket) keeps only these.
    pub fn visible_to_customer(&self) -> bool {
        self.kind != EventKind::NoteAdded
            || self
                .data
                .as_ref()
                .and_then(|d| d.get("visible_to_customer"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
    }
}
