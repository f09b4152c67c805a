//! What an order keeps of its payment: where the money stands, the amounts
//! authorised, captured and refunded, and what the customer must still do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::checkout::{CardBrand, PaymentMethod};
use crate::money::{Currency, Money};

/// Where the money of an order stands (API.md's payment `status`).
///
/// ```
/// use orders_core::order::PaymentStatus;
/// assert_eq!("requires_action".parse(), Ok(PaymentStatus::RequiresAction));
/// assert!(PaymentStatus::Captured.counts_as_paid());
/// assert!(!PaymentStatus::RequiresAction.counts_as_paid());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentStatus {
    /// Nothing taken yet (cash on delivery, or a payment not yet asked for).
    Pending,
    /// The customer must act (3-D Secure) before it can be authorised.
    RequiresAction,
    /// Authorised: the money is held, not yet taken.
    Authorized,
    /// Taken (all or part of what was authorised).
    Captured,
    /// Part of what was captured was given back.
    PartiallyRefunded,
    /// Everything captured was given back.
    Refunded,
    /// The authorisation was released; nothing was taken.
    Voided,
    /// The authorisation or the customer's action failed.
    Failed,
}

/// The text is not a payment status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown payment status; expected one of pending, requires_action, authorized, captured, partially_refunded, refunded, voided, failed"
)]
pub struct UnknownPaymentStatus;

impl PaymentStatus {
    /// Every status.
    pub const ALL: [PaymentStatus; 8] = [
        Self::Pending,
        Self::RequiresAction,
        Self::Authorized,
        Self::Captured,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Voided,
        Self::Failed,
    ];

    /// The status as the API spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::RequiresAction => "requires_action",
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
            Self::Failed => "failed",
        }
    }

    /// Whether an order with this payment is `paid` (API.md: authorised or
    /// captured, including captured and then partly refunded).
    pub const fn counts_as_paid(self) -> bool {
        matches!(
            self,
            Self::Authorized | Self::Captured | Self::PartiallyRefunded
        )
    }

    /// Whether no further money moves can follow (nothing held, nothing
    /// left to give back).
    pub const fn is_settled(self) -> bool {
        matches!(self, Self::Refunded | Self::Voided | Self::Failed)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownPaymentStatus;
    fn from_str(s: &str) -> Result<Self, UnknownPaymentStatus> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or(UnknownPaymentStatus)
    }
}

/// What the customer must do before a payment can be authorised
/// (API.md's `payment.next_action`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum NextAction {
    /// Send the customer's browser to `url` (the bank's page); it comes
    /// back to the shop's return address.
    Redirect {
        /// Where to send the customer.
        url: String,
    },
    /// Let the provider's client library handle it with `client_secret`.
    UseSdk {
        /// The secret the provider's client library needs; only ever shown
        /// to the order's owner.
        client_secret: String,
    },
}

impl fmt::Debug for NextAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redirect { url } => f.debug_struct("Redirect").field("url", url).finish(),
            Self::UseSdk { .. } => f
                .debug_struct("UseSdk")
                .field("client_secret", &"***")
                .finish(),
        }
    }
}

/// What an order keeps of its payment: never the card number or CVC.
///
/// `authorized`, `captured` and `refunded` are in the order's currency and
/// serialise as money strings.
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
    /// How much is authorised (held or since taken).
    pub authorized: Money,
    /// How much was taken.
    pub captured: Money,
    /// How much was given back.
    pub refunded: Money,
    /// What the customer must do, while `status` is `requires_action`.
    pub next_action: Option<NextAction>,
    /// The provider's reference of the payment. Not shown to customers.
    #[serde(skip)]
    pub reference: Option<String>,
}

impl PaymentSummary {
    /// A payment with nothing authorised, captured or refunded yet.
    pub fn new(method: PaymentMethod, status: PaymentStatus, currency: Currency) -> Self {
        Self {
            method,
            brand: None,
            last4: None,
            status,
            authorized: Money::zero(currency),
            captured: Money::zero(currency),
            refunded: Money::zero(currency),
            next_action: None,
            reference: None,
        }
    }

    /// What is still captured and not given back (`captured - refunded`,
    /// never below zero).
    pub fn refundable(&self) -> Money {
        self.captured
            .checked_sub(self.refunded)
            .ok()
            .filter(|m| m.to_minor() >= 0)
            .unwrap_or_else(|| Money::zero(self.captured.currency()))
    }

    /// What is authorised and not yet captured (never below zero): with a
    /// provider that captures in several parts (fulfilments under
    /// `on_shipment`), what is left after the captures so far.
    pub fn capturable(&self) -> Money {
        if !matches!(
            self.status,
            PaymentStatus::Authorized
                | PaymentStatus::Captured
                | PaymentStatus::PartiallyRefunded
                | PaymentStatus::Refunded
        ) {
            return Money::zero(self.authorized.currency());
        }
        self.authorized
            .checked_sub(self.captured)
            .ok()
            .filter(|m| m.to_minor() >= 0)
            .unwrap_or_else(|| Money::zero(self.authorized.currency()))
    }
}

/// When a card payment is captured (store configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapturePolicy {
    /// At checkout, once the order (and its stock) is placed.
    #[default]
    OnCheckout,
    /// As the order ships: each fulfilment captures what it ships
    /// ([`Orders::capture_payment`](crate::Orders::capture_payment)).
    OnShipment,
}

impl CapturePolicy {
    /// The policy as configuration spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OnCheckout => "on_checkout",
            Self::OnShipment => "on_shipment",
        }
    }
}

impl FromStr for CapturePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "on_checkout" => Ok(Self::OnCheckout),
            "on_shipment" => Ok(Self::OnShipment),
            _ => Err("must be on_checkout or on_shipment".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_round_trips() {
        for s in PaymentStatus::ALL {
            assert_eq!(s.as_str().parse::<PaymentStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!("Paid".parse::<PaymentStatus>(), Err(UnknownPaymentStatus));
    }

    #[test]
    fn next_action_is_tagged_by_type_and_hides_its_secret() {
        let sdk = NextAction::UseSdk {
            client_secret: "pi_1_secret_2".into(),
        };
        assert_eq!(
            serde_json::to_value(&sdk).unwrap(),
            serde_json::json!({"type": "use_sdk", "client_secret": "pi_1_secret_2"})
        );
        assert!(!format!("{sdk:?}").contains("secret_2"));
        let redirect = NextAction::Redirect {
            url: "https://bank.example/3ds".into(),
        };
        assert_eq!(serde_json::to_value(&redirect).unwrap()["type"], "redirect");
    }

    #[test]
    fn refundable_and_capturable() {
        let eur = Currency::EUR;
        let m = |minor| Money::from_minor(minor, eur).unwrap();
        let mut p = PaymentSummary::new(PaymentMethod::Card, PaymentStatus::Authorized, eur);
        p.authorized = m(1000);
        assert_eq!(p.capturable(), m(1000));
        p.status = PaymentStatus::Captured;
        p.captured = m(600);
        p.refunded = m(100);
        // Several captures (fulfilments under on_shipment): what is left.
        assert_eq!(p.capturable(), m(400));
        assert_eq!(p.refundable(), m(500));
        p.status = PaymentStatus::Voided;
        assert_eq!(p.capturable(), m(0));
    }
}
