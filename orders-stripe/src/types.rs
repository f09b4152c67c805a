//! What Stripe answers, typed for the fields the payment lifecycle reads.
//! Each is a read-only snapshot of the provider's state: fields Stripe adds
//! later are ignored, and statuses this crate does not know are kept as
//! `Unknown` rather than refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{ClientSecret, PaymentIntentId, RefundId};

/// Where a PaymentIntent stands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PaymentIntentStatus {
    /// No payment method, or the last one failed (declined, or the customer
    /// failed 3-D Secure): nothing is authorised.
    RequiresPaymentMethod,
    /// Created without `confirm`; confirming authorises it.
    RequiresConfirmation,
    /// The customer must act (3-D Secure): see [`PaymentIntent::next_action`].
    RequiresAction,
    /// The provider is still working on it; a webhook will say the outcome.
    Processing,
    /// Authorised and not captured: capture or cancel it.
    RequiresCapture,
    /// Cancelled (voided): nothing is or will be captured.
    Canceled,
    /// Captured.
    Succeeded,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

/// What the customer must do before the payment can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextAction {
    /// Send the customer to `url`; Stripe sends them back to `return_url`.
    RedirectToUrl {
        /// The authentication page.
        url: String,
        /// Where the customer comes back.
        return_url: Option<String>,
    },
    /// Let Stripe.js handle it with the PaymentIntent's client secret.
    UseStripeSdk,
    /// Another kind of action, by Stripe's name for it.
    Other(String),
}

impl<'de> Deserialize<'de> for NextAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Redirect {
            url: String,
            return_url: Option<String>,
        }
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "type")]
            kind: String,
            redirect_to_url: Option<Redirect>,
        }
        let raw = Raw::deserialize(deserializer)?;
        Ok(match (raw.kind.as_str(), raw.redirect_to_url) {
            ("redirect_to_url", Some(redirect)) => NextAction::RedirectToUrl {
                url: redirect.url,
                return_url: redirect.return_url,
            },
            ("redirect_to_url", None) => {
                return Err(serde::de::Error::missing_field("redirect_to_url"));
            }
            ("use_stripe_sdk", _) => NextAction::UseStripeSdk,
            (other, _) => NextAction::Other(other.to_owned()),
        })
    }
}

/// Why the last attempt to pay failed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PaymentError {
    /// Stripe's error code (`card_declined`, `expired_card`,
    /// `payment_intent_authentication_failure`, …).
    pub code: Option<String>,
    /// The issuer's reason for a decline (`insufficient_funds`, …).
    pub decline_code: Option<String>,
    /// A message meant for the customer.
    pub message: Option<String>,
}

/// An id, or the object itself when it was expanded
/// (`expand[]=latest_charge`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    /// Only the id.
    Id(String),
    /// The whole object.
    Object(Box<T>),
}

impl<T> Expandable<T> {
    /// The object, when it was expanded.
    pub fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// The charge behind a PaymentIntent: what the card network was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Charge {
    /// `ch_…`.
    pub id: String,
    /// Authorised, in minor units.
    pub amount: u64,
    /// Captured, in minor units (absent on some fakes).
    #[serde(default)]
    pub amount_captured: Option<u64>,
    /// Refunded, in minor units; a partial capture refunds the rest.
    #[serde(default)]
    pub amount_refunded: u64,
    /// Whether it was captured.
    #[serde(default)]
    pub captured: bool,
    /// How it was paid: the card's brand and last four digits (Stripe
    /// sends them; some fakes do not).
    #[serde(default)]
    pub payment_method_details: Option<PaymentMethodDetails>,
    /// Its refunds, when the answer lists them (localstripe always does;
    /// Stripe only when `refunds` is expanded).
    #[serde(default)]
    pub refunds: Option<RefundList>,
}

/// How a charge was paid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PaymentMethodDetails {
    /// The card, for a card payment.
    #[serde(default)]
    pub card: Option<CardDetails>,
}

/// What a charge tells of the card that paid it: never its number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CardDetails {
    /// `visa`, `mastercard`, `amex`, `discover`, `jcb`, `diners`,
    /// `unionpay` or `unknown`.
    #[serde(default)]
    pub brand: Option<String>,
    /// The last four digits.
    #[serde(default)]
    pub last4: Option<String>,
}

/// A page of refunds.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct RefundList {
    /// The refunds on this page.
    #[serde(default)]
    pub data: Vec<Refund>,
}

/// A PaymentIntent: one attempt to take one amount from one customer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PaymentIntent {
    /// `pi_…`.
    pub id: PaymentIntentId,
    /// Where it stands.
    pub status: PaymentIntentStatus,
    /// The amount asked for, in minor units.
    pub amount: u64,
    /// What can still be captured (Stripe sends it; some fakes do not).
    #[serde(default)]
    pub amount_capturable: Option<u64>,
    /// What was captured (Stripe sends it; some fakes do not).
    #[serde(default)]
    pub amount_received: Option<u64>,
    /// Lower-case ISO code.
    pub currency: String,
    /// `manual` for the intents this crate creates.
    #[serde(default)]
    pub capture_method: Option<String>,
    /// What the customer's client needs for Stripe.js.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// The payment method's id.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// The latest charge, an id unless expanded.
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    /// What the customer must do, when `status` is `requires_action`.
    #[serde(default)]
    pub next_action: Option<NextAction>,
    /// Why the last attempt failed, if it did.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    /// The metadata given at creation.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When it was created (Unix seconds).
    #[serde(default)]
    pub created: Option<i64>,
}

/// Where a refund stands.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefundStatus {
    /// Sent, not yet settled.
    Pending,
    /// The customer must act (some payment methods only).
    RequiresAction,
    /// Refunded.
    Succeeded,
    /// The refund failed.
    Failed,
    /// Cancelled before it settled.
    Canceled,
    /// A status this crate does not know.
    #[serde(other)]
    Unknown,
}

/// A refund of (part of) a captured payment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Refund {
    /// `re_…`.
    pub id: RefundId,
    /// Refunded, in minor units.
    pub amount: u64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Where it stands.
    pub status: RefundStatus,
    /// The PaymentIntent refunded, when it was refunded through one.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// The metadata given at creation.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_intent_reads_from_stripes_documented_shape() {
        let intent: PaymentIntent = serde_json::from_value(serde_json::json!({
            "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
            "object": "payment_intent",
            "amount": 2000,
            "amount_capturable": 2000,
            "amount_received": 0,
            "capture_method": "manual",
            "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
            "currency": "usd",
            "created": 1680800504,
            "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPb",
            "metadata": {"order_id": "6735"},
            "next_action": {"type": "redirect_to_url",
                            "redirect_to_url": {"url": "https://hooks.stripe.com/3d_secure/x",
                                                "return_url": "https://shop.example/r"}},
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds",
                                   "message": "Your card has insufficient funds.", "type": "card_error"},
            "payment_method": "pm_1MtwBwLkdIwHu7ixZ3E6zYQx",
            "status": "requires_action",
            "some_future_field": {"x": 1}
        }))
        .unwrap();
        assert_eq!(intent.status, PaymentIntentStatus::RequiresAction);
        assert_eq!(intent.amount_capturable, Some(2000));
        assert_eq!(
            intent.next_action,
            Some(NextAction::RedirectToUrl {
                url: "https://hooks.stripe.com/3d_secure/x".into(),
                return_url: Some("https://shop.example/r".into()),
            })
        );
        let error = intent.last_payment_error.unwrap();
        assert_eq!(error.decline_code.as_deref(), Some("insufficient_funds"));
        assert_eq!(
            intent.latest_charge,
            Some(Expandable::Id("ch_3MtwBwLkdIwHu7ix28a3tqPb".into()))
        );
        assert!(!format!("{:?}", intent.client_secret).contains("YrKJ"));
    }

    #[test]
    fn unknown_statuses_and_actions_are_kept_not_refused() {
        let status: PaymentIntentStatus = serde_json::from_str("\"requires_source\"").unwrap();
        assert_eq!(status, PaymentIntentStatus::Unknown);
        let action: NextAction =
            serde_json::from_str(r#"{"type": "verify_with_microdeposits"}"#).unwrap();
        assert_eq!(
            action,
            NextAction::Other("verify_with_microdeposits".into())
        );
        let action: NextAction =
            serde_json::from_str(r#"{"type": "use_stripe_sdk", "use_stripe_sdk": {}}"#).unwrap();
        assert_eq!(action, NextAction::UseStripeSdk);
    }
}
