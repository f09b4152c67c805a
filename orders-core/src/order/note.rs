//! Notes on an order: internal to staff, or visible to the customer, said
//! explicitly each time.

use chrono::{DateTime, Utc};

use super::Order;
use super::aftersale::{NoteText, OrderNote, Record};
use super::lifecycle::{Actor, EventKind, StatusChange};
use crate::ids::NoteId;

/// A valid note ([`super::NoteForm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    /// What it says.
    pub text: NoteText,
    /// Whether the customer sees it.
    pub visible_to_customer: bool,
}

/// Decides a note: written by `author`, on an order in any status.
pub fn plan_note(order: &Order, note: NewNote, author: Actor, now: DateTime<Utc>) -> StatusChange {
    let record = OrderNote {
        id: NoteId::generate(),
        text: note.text,
        visible_to_customer: note.visible_to_customer,
        author: author.clone(),
        created_at: now,
    };
    StatusChange::with_record(
        order,
        order.status,
        EventKind::NoteAdded,
        Record::Note(record),
        author,
        now,
    )
}
