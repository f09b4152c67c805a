//! Orders: the snapshot a checkout makes, and its lifecycle.
//!
//! An order copies everything it needs at checkout (names, SKUs, prices,
//! taxes, the address), so later catalogue changes never alter it.

mod lifecycle;
mod transition_form;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cart::Quantity;
use crate::catalogue::{ProductName, Sku, TaxClass};
use crate::checkout::{Address, CardBrand, Email, PaymentMethod};
use crate::discount::DiscountCode;
use crate::ids::{CustomerId, EventId, OrderId, ProductId};
use crate::money::{Currency, Money};
use crate::pricing::{ShippingMethodCode, Totals};

pub use lifecycle::{
    Actor, InvalidActor, Note, OrderEvent, OrderStatus, StatusChange, TrackingNumber, Transition,
    TransitionError, TransitionGuard, UnknownStatus, plan_transition,
};
pub use transition_form::TransitionForm;

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

/// Where the money of an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentStatus {
    /// Nothing taken yet (cash on delivery).
    Pending,
    /// Authorised and captured.
    Captured,
    /// Given back.
    Refunded,
}

impl PaymentStatus {
    /// The status as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Captured => "captured",
            Self::Refunded => "refunded",
        }
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        match s {
            "pending" => Ok(Self::Pending),
            "captured" => Ok(Self::Captured),
            "refunded" => Ok(Self::Refunded),
            _ => Err(UnknownStatus),
        }
    }
}

/// What an order keeps of its payment: never the card number or CVC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentSummary {
    /// Card or cash on delivery.
    pub method: PaymentMethod,
    /// The card's brand, for a card.
    pub brand: Option<CardBrand>,
    /// The card's last four digits, for a card.
    pub last4: Option<String>,
    /// Where the money stands.
    pub status: PaymentStatus,
    /// The gateway's reference of the charge, to refund it. Not shown to
    /// customers.
    #[serde(skip)]
    pub reference: Option<String>,
}

/// An order as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// Its human-facing number.
    pub number: OrderNumber,
    /// Whose it is.
    #[serde(skip)]
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
    #[serde(flatten)]
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
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Rises by one on every change; status changes compare-and-set on it.
    pub version: u64,
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
            from: None,
            to: self.status,
            at: self.created_at,
            actor,
            note: None,
        }
    }
}
