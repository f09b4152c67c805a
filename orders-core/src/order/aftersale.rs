//! What happens to an order after the sale: its fulfilments, returns,
//! refunds and notes, the records a [`StatusChange`](super::StatusChange)
//! writes with its event, and the exact arithmetic of shares.
//!
//! Every record comes from a plan (`plan_fulfilment`, `plan_refund`, ...)
//! and reaches the order only through the change a store applies, so the
//! quantities and amounts below hold by construction; [`Order::restore`]
//! checks them again on what a store read back.
//!
//! Shares are exact: the first `k` of a line's `n` units are worth
//! `floor(line_total × k / n)`, so the share of `q` units after `k`
//! is the difference of two such floors. Whatever the steps, the shares of
//! a line add up to its total to the minor unit ([`share`]).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::lifecycle::{Actor, Note, TrackingNumber};
use super::{Order, OrderLine};
use crate::cart::Quantity;
use crate::ids::{FulfilmentId, NoteId, ProductId, RefundId, ReturnId};
use crate::money::Money;
use crate::text::text_type;

text_type!(
    /// A carrier's name: 1 to 64 characters.
    Carrier,
    64
);

text_type!(
    /// Why a customer returns something: 1 to 500 characters.
    ReturnReason,
    500
);

text_type!(
    /// The text of a note on an order: 1 to 2000 characters.
    NoteText,
    2000
);

/// Some units of one line of an order: what a fulfilment ships, a return
/// sends back, a refund pays back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemLine {
    /// The product of the order's line.
    pub product_id: ProductId,
    /// How many of its units.
    pub quantity: Quantity,
}

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident, $error:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The value as the API spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or(UnknownValue($error))
            }
        }
    };
}

/// The text is not one of the values of a record's status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {0}")]
pub struct UnknownValue(&'static str);

status_enum!(
    /// Where a fulfilment stands.
    FulfilmentStatus, "fulfilment status", {
        /// Handed to the carrier.
        Shipped = "shipped",
        /// Received by the customer.
        Delivered = "delivered",
    }
);

status_enum!(
    /// How much of an order has shipped (API.md's `fulfilment_status`).
    FulfilmentState, "fulfilment state", {
        /// Nothing yet.
        Unfulfilled = "unfulfilled",
        /// Some units, not all.
        Partial = "partial",
        /// Every unit.
        Fulfilled = "fulfilled",
    }
);

status_enum!(
    /// Where a return stands: `requested`, then `approved` or `rejected`;
    /// an approved return is `received`, then `refunded` by a refund naming it.
    ReturnStatus, "return status", {
        /// The customer asked.
        Requested = "requested",
        /// Staff accepted it; the customer sends the units.
        Approved = "approved",
        /// Staff refused it (final).
        Rejected = "rejected",
        /// The units came back.
        Received = "received",
        /// A refund paid for it (final).
        Refunded = "refunded",
    }
);

status_enum!(
    /// Where a refund stands: `pending` while the provider is asked (it
    /// counts against what is left to refund), then `succeeded`. A refund
    /// the provider refused is removed; only its event stays, `failed`.
    RefundStatus, "refund status", {
        /// Reserved; the provider is being asked.
        Pending = "pending",
        /// The money went back.
        Succeeded = "succeeded",
        /// The provider refused it (only in the event that says so).
        Failed = "failed",
    }
);

impl ReturnStatus {
    /// Whether a return may move from `self` to `to`.
    pub fn can_become(self, to: ReturnStatus) -> bool {
        use ReturnStatus::*;
        matches!(
            (self, to),
            (Requested, Approved | Rejected) | (Approved, Received) | (Received, Refunded)
        )
    }
}

/// Some units of an order handed to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fulfilment {
    /// Its id.
    pub id: FulfilmentId,
    /// What it ships.
    pub lines: Vec<ItemLine>,
    /// The carrier, if said.
    pub carrier: Option<Carrier>,
    /// The carrier's tracking number.
    pub tracking_number: TrackingNumber,
    /// Shipped or delivered.
    pub status: FulfilmentStatus,
    /// Its share of the order's total: what it captures under
    /// `on_shipment` (the first one carries shipping; all of them add up
    /// to the total).
    pub amount: Money,
    /// When it shipped.
    pub shipped_at: DateTime<Utc>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A customer's request to send units back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    /// Its id.
    pub id: ReturnId,
    /// Where it stands.
    pub status: ReturnStatus,
    /// What goes back.
    pub lines: Vec<ItemLine>,
    /// Why, in the customer's words.
    pub reason: ReturnReason,
    /// Staff's note on a rejection.
    pub note: Option<Note>,
    /// Whether the received units went back to stock.
    pub restocked: bool,
    /// When the customer asked.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Money given back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    /// Its id, also its idempotency key with the provider.
    pub id: RefundId,
    /// How much.
    pub amount: Money,
    /// The units it pays back (empty for a free amount or shipping only).
    pub lines: Vec<ItemLine>,
    /// Whether it pays back the shipping.
    pub shipping: bool,
    /// Pending or succeeded.
    pub status: RefundStatus,
    /// Why, if staff said.
    pub note: Option<Note>,
    /// The return it pays for, if any.
    pub return_id: Option<ReturnId>,
    /// When it was asked for.
    pub created_at: DateTime<Utc>,
}

/// A note on an order, for staff only or for the customer too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNote {
    /// Its id.
    pub id: NoteId,
    /// What it says.
    pub text: NoteText,
    /// Whether the customer sees it; an internal note never reaches them.
    pub visible_to_customer: bool,
    /// Who wrote it.
    pub author: Actor,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// One record a change inserts or replaces (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record {
    /// A fulfilment.
    Fulfilment(Fulfilment),
    /// A return.
    Return(Return),
    /// A refund.
    Refund(Refund),
    /// A note.
    Note(OrderNote),
}

impl Record {
    /// The record as an event's `data`.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        match self {
            Self::Fulfilment(f) => serde_json::to_value(f),
            Self::Return(r) => serde_json::to_value(r),
            Self::Refund(r) => serde_json::to_value(r),
            Self::Note(n) => serde_json::to_value(n),
        }
        .ok()
    }
}

/// Everything after the sale an order carries, each list oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Aftersale {
    /// Its fulfilments.
    pub fulfilments: Vec<Fulfilment>,
    /// Its returns.
    pub returns: Vec<Return>,
    /// Its refunds (pending and succeeded).
    pub refunds: Vec<Refund>,
    /// Its notes (all of them: see [`Order::for_customer`]).
    pub notes: Vec<OrderNote>,
}

fn put<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool) {
    match list.iter_mut().find(|x| same(x)) {
        Some(slot) => *slot = item,
        None => list.push(item),
    }
}

impl Aftersale {
    /// Inserts `record`, or replaces the one with its id.
    pub fn put(&mut self, record: Record) {
        match record {
            Record::Fulfilment(f) => {
                let id = f.id.clone();
                put(&mut self.fulfilments, f, |x| x.id == id);
            }
            Record::Return(r) => {
                let id = r.id.clone();
                put(&mut self.returns, r, |x| x.id == id);
            }
            Record::Refund(r) => {
                let id = r.id.clone();
                put(&mut self.refunds, r, |x| x.id == id);
            }
            Record::Note(n) => {
                let id = n.id.clone();
                put(&mut self.notes, n, |x| x.id == id);
            }
        }
    }

    /// Removes the refund `id` (one the provider refused).
    pub fn remove_refund(&mut self, id: &RefundId) {
        self.refunds.retain(|r| &r.id != id);
    }
}

/// Units per product, summed over item lines.
pub(crate) fn units<'a>(lines: impl IntoIterator<Item = &'a ItemLine>) -> HashMap<ProductId, u32> {
    let mut out: HashMap<ProductId, u32> = HashMap::new();
    for line in lines {
        *out.entry(line.product_id.clone()).or_default() += line.quantity.get();
    }
    out
}

/// The share of `quantity` units of a line worth `total` minor units over
/// `of` units, when `before` of its units were counted already:
/// `floor(total × (before + quantity) / of) − floor(total × before / of)`.
/// The shares of every unit, in any steps, add up to `total` exactly.
///
/// ```
/// use orders_core::order::share;
/// // 10.00 over 3 units, one at a time: 3.33 + 3.33 + 3.34.
/// let steps: Vec<i64> = (0..3).map(|k| share(1000, 3, k, 1)).collect();
/// assert_eq!(steps, [333, 333, 334]);
/// assert_eq!(share(1000, 3, 0, 3), 1000);
/// ```
pub fn share(total: i64, of: u32, before: u32, quantity: u32) -> i64 {
    if of == 0 {
        return 0;
    }
    let cumulative = |k: u32| {
        let k = k.min(of);
        (i128::from(total) * i128::from(k)).div_euclid(i128::from(of))
    };
    let difference = cumulative(before.saturating_add(quantity)) - cumulative(before);
    i64::try_from(difference).unwrap_or(0)
}

/// What the order charges beyond its lines: shipping and its tax
/// (`total − Σ line totals`), in minor units.
pub(crate) fn shipping_part(order: &Order) -> i64 {
    let lines: i64 = order.lines.iter().map(|l| l.line_total.to_minor()).sum();
    order.totals.total.to_minor() - lines
}

/// The line of `order` for `product`.
pub(crate) fn line_of<'a>(order: &'a Order, product: &ProductId) -> Option<&'a OrderLine> {
    order.lines.iter().find(|l| &l.product_id == product)
}

/// Why stored after-sale records do not fit their order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("after-sale records do not fit the order: {0}")]
pub struct InvalidAftersale(pub String);

/// Checks stored records against the order's lines: every product is a
/// line's, no more units shipped or refunded than ordered, amounts in the
/// order's currency and not above what the order is worth.
pub(crate) fn check(order: &Order) -> Result<(), InvalidAftersale> {
    let bad = |what: &str| Err(InvalidAftersale(what.to_owned()));
    let a = &order.aftersale;
    let ordered: HashMap<&ProductId, u32> = order
        .lines
        .iter()
        .map(|l| (&l.product_id, l.quantity.get()))
        .collect();
    let within = |counts: HashMap<ProductId, u32>| {
        counts
            .iter()
            .all(|(p, n)| ordered.get(p).is_some_and(|max| n <= max))
    };
    if !within(units(a.fulfilments.iter().flat_map(|f| &f.lines))) {
        return bad("more shipped than ordered");
    }
    if !within(units(a.refunds.iter().flat_map(|r| &r.lines))) {
        return bad("more refunded than ordered");
    }
    if !within(units(
        a.returns
            .iter()
            .filter(|r| r.status != ReturnStatus::Rejected)
            .flat_map(|r| &r.lines),
    )) {
        return bad("more returned than ordered");
    }
    let currency = order.currency;
    let amounts = a
        .fulfilments
        .iter()
        .map(|f| f.amount)
        .chain(a.refunds.iter().map(|r| r.amount));
    let mut shipped = 0_i64;
    for amount in amounts.clone() {
        if amount.currency() != currency || amount.is_negative() {
            return bad("an amount in another currency, or negative");
        }
    }
    for f in &a.fulfilments {
        shipped += f.amount.to_minor();
    }
    let refunded: i64 = a.refunds.iter().map(|r| r.amount.to_minor()).sum();
    let total = order.totals.total.to_minor();
    if shipped > total || refunded > total {
        return bad("amounts above the order's total");
    }
    Ok(())
}

/// The order's fulfilment state from its fulfilments.
pub(crate) fn fulfilment_state(order: &Order) -> FulfilmentState {
    let shipped = units(order.aftersale.fulfilments.iter().flat_map(|f| &f.lines));
    let all = order
        .lines
        .iter()
        .all(|l| shipped.get(&l.product_id).copied().unwrap_or(0) >= l.quantity.get());
    if shipped.values().all(|n| *n == 0) {
        FulfilmentState::Unfulfilled
    } else if all {
        FulfilmentState::Fulfilled
    } else {
        FulfilmentState::Partial
    }
}

/// What the order's succeeded refunds add up to, in minor units.
pub(crate) fn refunded_minor(order: &Order) -> i64 {
    order
        .aftersale
        .refunds
        .iter()
        .filter(|r| r.status == RefundStatus::Succeeded)
        .map(|r| r.amount.to_minor())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_in_any_steps() {
        for total in [0_i64, 1, 7, 999, 1000, 123_457] {
            for of in 1..=7_u32 {
                let mut before = 0;
                let mut sum = 0;
                for step in [2_u32, 1, 3, 1, 5] {
                    let q = step.min(of - before);
                    sum += share(total, of, before, q);
                    before += q;
                    if before == of {
                        break;
                    }
                }
                sum += share(total, of, before, of - before);
                assert_eq!(sum, total, "{total} over {of}");
            }
        }
    }
}
