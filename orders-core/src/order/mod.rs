//! Orders: the snapshot a checkout makes, and its lifecycle.
//!
//! An order copies everything it needs at checkout (names, SKUs, prices,
//! taxes, the address), so later catalogue changes never alter it.

mod aftersale;
mod aftersale_forms;
mod change;
mod event;
mod fulfilment;
mod lifecycle;
mod note;
mod payment;
mod payment_plan;
mod refund;
mod returns;
mod transition_form;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cart::Quantity;
use crate::catalogue::{ProductName, Sku, TaxClass};
use crate::checkout::{Address, Email};
use crate::discount::DiscountCode;
use crate::ids::{CustomerId, EventId, OrderId, ProductId};
use crate::money::{Currency, Money};
use crate::pricing::{ShippingMethodCode, Totals};

pub use aftersale::{
    Aftersale, Carrier, Fulfilment, FulfilmentState, FulfilmentStatus, InvalidAftersale, ItemLine,
    NoteText, OrderNote, Record, Refund, RefundStatus, Return, ReturnReason, ReturnStatus,
    UnknownValue, share,
};
pub use aftersale_forms::{
    FulfilmentForm, ItemLineForm, NoteForm, ReceiveForm, RefundForm, RejectForm, ReturnForm,
};
pub use change::StatusChange;
pub use event::{EventKind, OrderEvent, UnknownEventKind};
pub use fulfilment::{FulfilmentRequest, plan_delivery, plan_fulfilment};
pub use lifecycle::{
    Actor, InvalidActor, Note, OrderStatus, TrackingNumber, Transition, TransitionError,
    TransitionGuard, UnknownStatus, plan_transition,
};
pub use note::{NewNote, plan_note};
pub use payment::{CapturePolicy, NextAction, PaymentStatus, PaymentSummary, UnknownPaymentStatus};
pub use payment_plan::{ProviderState, plan_payment};
pub use refund::{
    RefundAmount, RefundRequest, plan_refund, plan_refund_failed, plan_refund_succeeded,
};
pub use returns::{ReturnMove, ReturnRequest, plan_return, plan_return_move};
pub use transition_form::{CancelForm, TransitionForm};

/// An order's human-facing number, assigned by the store in placement
/// order (1, 2, 3, ...). Serialised as a string, like every id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderNumber(u64);

impl OrderNumber {
    /// The number `n`.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for OrderNumber {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

impl Serialize for OrderNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for OrderNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One line of an order: a copy of the product as it was sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderLine {
    /// The product it was.
    pub product_id: ProductId,
    /// Its SKU at checkout.
    pub sku: Sku,
    /// Its name at checkout.
    pub name: ProductName,
    /// How many.
    pub quantity: Quantity,
    /// Unit price at checkout, tax exclusive.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_subtotal: Money,
    /// Its share of the order discount.
    pub line_discount: Money,
    /// Its tax.
    pub line_tax: Money,
    /// `line_subtotal − line_discount + line_tax`.
    pub line_total: Money,
    /// The tax class it was taxed as.
    #[serde(skip)]
    pub tax_class: TaxClass,
}

/// An order as stored.
///
/// Its fields are private: an order is a snapshot whose amounts add up to
/// the cent, and whose status moves only by a [`StatusChange`] that
/// [`plan_transition`] decided from the status table. It comes from
/// [`NewOrder::into_order`] at placement and from [`Order::restore`] when
/// a store reads it back.
///
/// ```compile_fail,E0616
/// use orders_core::order::{Order, OrderStatus};
/// fn reopen(order: &mut Order) {
///     order.status = OrderStatus::Pending; // private: only the state machine moves it
/// }
/// ```
///
/// ```compile_fail,E0616
/// use orders_core::order::Order;
/// fn free(order: &mut Order) {
///     order.totals.total = orders_core::money::Money::zero(order.currency());
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    id: OrderId,
    number: OrderNumber,
    #[serde(skip)]
    customer_id: CustomerId,
    status: OrderStatus,
    currency: Currency,
    email: Email,
    lines: Vec<OrderLine>,
    #[serde(flatten)]
    totals: Totals,
    discount_code: Option<DiscountCode>,
    shipping_address: Address,
    shipping_method: ShippingMethodCode,
    payment: PaymentSummary,
    tracking_number: Option<TrackingNumber>,
    #[serde(flatten)]
    aftersale: Aftersale,
    fulfilment_status: FulfilmentState,
    refunded_total: Money,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: u64,
}

/// An order as a store keeps it, field by field: what [`Order::restore`]
/// checks and rebuilds an order from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderParts {
    /// Its id.
    pub id: OrderId,
    /// Its human-facing number.
    pub number: OrderNumber,
    /// Whose it is.
    pub customer_id: CustomerId,
    /// Where it stands.
    pub status: OrderStatus,
    /// The currency of every amount.
    pub currency: Currency,
    /// The customer's email at checkout.
    pub email: Email,
    /// The lines, in cart order.
    pub lines: Vec<OrderLine>,
    /// Subtotal, discount, shipping, tax and what the customer pays.
    pub totals: Totals,
    /// The discount code used, if any.
    pub discount_code: Option<DiscountCode>,
    /// Where it goes.
    pub shipping_address: Address,
    /// How it goes.
    pub shipping_method: ShippingMethodCode,
    /// Payment method, brand, last four digits, status.
    pub payment: PaymentSummary,
    /// The carrier's tracking number, once shipped.
    pub tracking_number: Option<TrackingNumber>,
    /// Its fulfilments, returns, refunds and notes, each oldest first.
    pub aftersale: Aftersale,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Rises by one on every change; status changes compare-and-set on it.
    pub version: u64,
}

/// Why stored parts do not make an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidOrder {
    /// No line, or more than [`crate::cart::MAX_LINES`].
    #[error("{0} lines; an order has 1 to 100")]
    LineCount(usize),
    /// A line's amounts do not add up, or are in another currency.
    #[error("line {0} does not add up")]
    Line(usize),
    /// The totals do not add up, or do not match the lines.
    #[error("the totals do not add up")]
    Totals,
    /// Version 0: every order starts at 1.
    #[error("version 0")]
    VersionZero,
    /// Its fulfilments, returns or refunds do not fit its lines.
    #[error(transparent)]
    Aftersale(#[from] InvalidAftersale),
}

impl Order {
    /// The order a store kept, checked: every line adds up
    /// (`line_subtotal = unit_price × quantity`,
    /// `line_total = line_subtotal − line_discount + line_tax`), the totals
    /// are the sums of the lines (tax: at least, shipping's tax is on no
    /// line) and add up, all in the order's currency.
    ///
    /// # Errors
    /// [`InvalidOrder`] saying which rule the parts break.
    pub fn restore(parts: OrderParts) -> Result<Self, InvalidOrder> {
        check_amounts(parts.currency, &parts.lines, &parts.totals)?;
        if parts.version == 0 {
            return Err(InvalidOrder::VersionZero);
        }
        let currency = parts.currency;
        let mut order = Self {
            id: parts.id,
            number: parts.number,
            customer_id: parts.customer_id,
            status: parts.status,
            currency: parts.currency,
            email: parts.email,
            lines: parts.lines,
            totals: parts.totals,
            discount_code: parts.discount_code,
            shipping_address: parts.shipping_address,
            shipping_method: parts.shipping_method,
            payment: parts.payment,
            tracking_number: parts.tracking_number,
            aftersale: parts.aftersale,
            fulfilment_status: FulfilmentState::Unfulfilled,
            refunded_total: Money::zero(currency),
            created_at: parts.created_at,
            updated_at: parts.updated_at,
            version: parts.version,
        };
        aftersale::check(&order)?;
        order.derive();
        Ok(order)
    }

    /// Works out the fields that follow from the records.
    fn derive(&mut self) {
        self.fulfilment_status = aftersale::fulfilment_state(self);
        self.refunded_total = Money::from_minor(aftersale::refunded_minor(self), self.currency)
            .unwrap_or_else(|_| Money::zero(self.currency));
    }

    /// The order as its customer may see it: without internal notes.
    /// Every customer-facing read of [`crate::Orders`] returns this.
    #[must_use]
    pub fn for_customer(mut self) -> Self {
        self.aftersale.notes.retain(|n| n.visible_to_customer);
        self
    }

    /// Its fulfilments, oldest first.
    pub fn fulfilments(&self) -> &[Fulfilment] {
        &self.aftersale.fulfilments
    }

    /// How much of it has shipped.
    pub fn fulfilment_status(&self) -> FulfilmentState {
        self.fulfilment_status
    }

    /// Its returns, oldest first.
    pub fn returns(&self) -> &[Return] {
        &self.aftersale.returns
    }

    /// Its refunds (pending and succeeded), oldest first.
    pub fn refunds(&self) -> &[Refund] {
        &self.aftersale.refunds
    }

    /// What its succeeded refunds add up to.
    pub fn refunded_total(&self) -> Money {
        self.refunded_total
    }

    /// Its notes, internal ones included, oldest first.
    pub fn notes(&self) -> &[OrderNote] {
        &self.aftersale.notes
    }

    /// Its fulfilments, returns, refunds and notes.
    pub fn aftersale(&self) -> &Aftersale {
        &self.aftersale
    }

    /// Its fields, as a store keeps them.
    pub fn into_parts(self) -> OrderParts {
        OrderParts {
            id: self.id,
            number: self.number,
            customer_id: self.customer_id,
            status: self.status,
            currency: self.currency,
            email: self.email,
            lines: self.lines,
            totals: self.totals,
            discount_code: self.discount_code,
            shipping_address: self.shipping_address,
            shipping_method: self.shipping_method,
            payment: self.payment,
            tracking_number: self.tracking_number,
            aftersale: self.aftersale,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        }
    }

    /// Its id.
    pub fn id(&self) -> &OrderId {
        &self.id
    }

    /// Its human-facing number.
    pub fn number(&self) -> OrderNumber {
        self.number
    }

    /// Whose it is.
    pub fn customer_id(&self) -> &CustomerId {
        &self.customer_id
    }

    /// Where it stands.
    pub fn status(&self) -> OrderStatus {
        self.status
    }

    /// The currency of every amount.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The customer's email at checkout.
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The lines, in cart order.
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }

    /// Subtotal, discount, shipping, tax and what the customer pays.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The discount code used, if any.
    pub fn discount_code(&self) -> Option<&DiscountCode> {
        self.discount_code.as_ref()
    }

    /// Where it goes.
    pub fn shipping_address(&self) -> &Address {
        &self.shipping_address
    }

    /// How it goes.
    pub fn shipping_method(&self) -> &ShippingMethodCode {
        &self.shipping_method
    }

    /// Payment method, brand, last four digits, status.
    pub fn payment(&self) -> &PaymentSummary {
        &self.payment
    }

    /// The carrier's tracking number, once shipped.
    pub fn tracking_number(&self) -> Option<&TrackingNumber> {
        self.tracking_number.as_ref()
    }

    /// When it was placed.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// When it last changed.
    pub fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }

    /// Rises by one on every change; status changes compare-and-set on it.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// The rules of an order's amounts (see [`Order::restore`]).
fn check_amounts(
    currency: Currency,
    lines: &[OrderLine],
    totals: &Totals,
) -> Result<(), InvalidOrder> {
    if lines.is_empty() || lines.len() > crate::cart::MAX_LINES {
        return Err(InvalidOrder::LineCount(lines.len()));
    }
    let minor = |m: Money| (m.currency() == currency).then(|| i128::from(m.to_minor()));
    let (mut subtotal, mut discount, mut tax) = (0_i128, 0_i128, 0_i128);
    for (index, line) in lines.iter().enumerate() {
        let amounts = (
            minor(line.unit_price),
            minor(line.line_subtotal),
            minor(line.line_discount),
            minor(line.line_tax),
            minor(line.line_total),
        );
        let (Some(unit), Some(sub), Some(off), Some(line_tax), Some(total)) = amounts else {
            return Err(InvalidOrder::Line(index));
        };
        let adds_up = sub == unit * i128::from(line.quantity.get())
            && (0..=sub).contains(&off)
            && line_tax >= 0
            && total == sub - off + line_tax;
        if !adds_up {
            return Err(InvalidOrder::Line(index));
        }
        subtotal += sub;
        discount += off;
        tax += line_tax;
    }
    let matches = totals.reconciles()
        && totals.currency() == currency
        && minor(totals.subtotal) == Some(subtotal)
        && minor(totals.discount) == Some(discount)
        && minor(totals.tax).is_some_and(|t| t >= tax);
    if matches {
        Ok(())
    } else {
        Err(InvalidOrder::Totals)
    }
}

/// An order before the store gives it a number: what checkout hands to
/// [`crate::ports::OrderStore::place_order`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// Its id.
    pub id: OrderId,
    /// Whose it is.
    pub customer_id: CustomerId,
    /// `paid` for a captured card, `pending` for cash on delivery.
    pub status: OrderStatus,
    /// Currency.
    pub currency: Currency,
    /// Email.
    pub email: Email,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Subtotal, discount, shipping, tax and total.
    pub totals: Totals,
    /// Discount code used.
    pub discount_code: Option<DiscountCode>,
    /// Address.
    pub shipping_address: Address,
    /// Shipping method.
    pub shipping_method: ShippingMethodCode,
    /// Payment summary.
    pub payment: PaymentSummary,
    /// When it is placed.
    pub created_at: DateTime<Utc>,
}

impl NewOrder {
    /// The stored order once numbered: version 1, no tracking number.
    pub fn into_order(self, number: OrderNumber) -> Order {
        Order {
            id: self.id,
            number,
            customer_id: self.customer_id,
            status: self.status,
            currency: self.currency,
            email: self.email,
            lines: self.lines,
            totals: self.totals,
            discount_code: self.discount_code,
            shipping_address: self.shipping_address,
            shipping_method: self.shipping_method,
            payment: self.payment,
            tracking_number: None,
            aftersale: Aftersale::default(),
            fulfilment_status: FulfilmentState::Unfulfilled,
            refunded_total: Money::zero(self.currency),
            created_at: self.created_at,
            updated_at: self.created_at,
            version: 1,
        }
    }

    /// The first event of the order, `null -> status`; the store gives it
    /// its id.
    pub fn first_event(&self, id: EventId, actor: Actor) -> OrderEvent {
        OrderEvent {
            id,
            order_id: self.id.clone(),
            kind: EventKind::StatusChanged,
            from: None,
            to: self.status,
            at: self.created_at,
            actor,
            note: None,
            data: None,
        }
    }
}
