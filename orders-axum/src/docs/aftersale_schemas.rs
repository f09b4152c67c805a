//! Mirrors of the after-sale records an order carries and its events hold
//! (fulfilments, returns, refunds, notes), for the document's schemas.

use utoipa::ToSchema;

use super::Payment;

/// Some units of one line of the order.
#[derive(ToSchema)]
pub(crate) struct ItemLine {
    product_id: String,
    #[schema(minimum = 1, maximum = 999)]
    quantity: u32,
}

/// Where a fulfilment stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FulfilmentStatus {
    /// Handed to the carrier.
    Shipped,
    /// Received by the customer.
    Delivered,
}

/// How much of an order has shipped.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FulfilmentState {
    /// Nothing yet.
    Unfulfilled,
    /// Some units, not all.
    Partial,
    /// Every unit.
    Fulfilled,
}

/// Some units of an order handed to a carrier.
#[derive(ToSchema)]
pub(crate) struct Fulfilment {
    id: String,
    lines: Vec<ItemLine>,
    carrier: Option<String>,
    tracking_number: String,
    status: FulfilmentStatus,
    /// Its share of the order's total (the first one carries shipping; all
    /// of them add up to the total): what it captures under capture on
    /// shipment.
    #[schema(example = "10.00")]
    amount: String,
    #[schema(format = DateTime)]
    shipped_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

/// Where a return stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReturnStatus {
    /// The customer asked.
    Requested,
    /// Staff accepted it; the customer sends the units.
    Approved,
    /// Staff refused it (final).
    Rejected,
    /// The units came back.
    Received,
    /// A refund paid for it (final).
    Refunded,
}

/// A customer's request to send units back.
#[derive(ToSchema)]
pub(crate) struct Return {
    id: String,
    status: ReturnStatus,
    lines: Vec<ItemLine>,
    /// Why, in the customer's words.
    reason: String,
    /// Staff's note on a rejection.
    note: Option<String>,
    /// Whether the received units went back to stock.
    restocked: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// Where a refund stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RefundStatus {
    /// Reserved; the provider is being asked (it counts against what is
    /// left to refund).
    Pending,
    /// The money went back.
    Succeeded,
    /// The provider refused it: only in the `refund_updated` event that
    /// says so; the refund itself is gone.
    Failed,
}

/// Money given back.
#[derive(ToSchema)]
pub(crate) struct Refund {
    /// Also its idempotency key with the provider.
    id: String,
    #[schema(example = "3.33")]
    amount: String,
    /// The units it pays back (empty for a free amount or shipping only).
    lines: Vec<ItemLine>,
    /// Whether it pays back the shipping.
    shipping: bool,
    status: RefundStatus,
    note: Option<String>,
    /// The return it pays for, if any.
    return_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

/// A note on an order. Customers only ever see those
/// `visible_to_customer`.
#[derive(ToSchema)]
pub(crate) struct OrderNote {
    id: String,
    text: String,
    visible_to_customer: bool,
    /// `staff:ID` (or `customer:ID`, `system`).
    author: String,
    #[schema(format = DateTime)]
    created_at: String,
}

/// What an event's `data` holds, by its `type`: the payment
/// (`payment_updated`), the fulfilment (`fulfilment_created`,
/// `fulfilment_delivered`), the return (`return_updated`), the refund
/// (`refund_created`, `refund_updated`) or the note (`note_added`).
#[derive(ToSchema)]
#[serde(untagged)]
pub(crate) enum EventData {
    Payment(Payment),
    Fulfilment(Fulfilment),
    Return(Return),
    Refund(Refund),
    Note(OrderNote),
}
