//! The validated payment choice, and the provider token a card payment
//! arrives as.

use std::fmt;

use super::card::{CardDetails, PaymentMethod};

/// A payment method reference made by the provider's client library in the
/// customer's browser (Stripe's `pm_…`, the test gateway's `test_visa`):
/// 1 to 255 ASCII letters, digits, `_` and `-`. It stands for a card the
/// server never sees.
///
/// ```
/// use orders_core::checkout::PaymentToken;
/// assert_eq!(PaymentToken::parse("pm_1Nv0").unwrap().as_str(), "pm_1Nv0");
/// assert!(PaymentToken::parse("4242 4242 4242 4242").is_err());
/// assert!(PaymentToken::parse("").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PaymentToken(String);

/// The text is not a payment token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 255 letters, digits, '_' or '-'")]
pub struct PaymentTokenError;

impl PaymentToken {
    /// The longest token accepted.
    pub const MAX_CHARS: usize = 255;
    /// The pattern of a token, as the form's JSON Schema states it.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{1,255}$";

    /// Parses a token.
    ///
    /// # Errors
    /// [`PaymentTokenError`] for an empty, long or odd one.
    pub fn parse(text: &str) -> Result<Self, PaymentTokenError> {
        let ok = !text.is_empty()
            && text.len() <= Self::MAX_CHARS
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(PaymentTokenError)
        }
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PaymentToken {
    /// Shows the token's kind only (`pm_…`): a token is not a secret, but
    /// logs need not carry it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.0.split('_').next().unwrap_or("");
        write!(f, "PaymentToken({kind}_…)")
    }
}

/// The validated payment: a provider token, a test card (the test gateway
/// only), or cash on delivery.
#[derive(Debug)]
#[non_exhaustive]
pub enum PaymentDetails {
    /// Pay by card, through a token from the provider's client library.
    Token(PaymentToken),
    /// Pay by a raw test card: only while the gateway is the test gateway.
    Card(CardDetails),
    /// Pay in cash on delivery.
    CashOnDelivery,
}

impl PaymentDetails {
    /// The payment as a request's fingerprint may see it (the card as
    /// [`CardDetails::canonical`]).
    pub fn canonical(&self) -> serde_json::Value {
        let (card, token) = match self {
            Self::Card(card) => (card.canonical(), serde_json::Value::Null),
            Self::Token(token) => (serde_json::Value::Null, token.as_str().into()),
            Self::CashOnDelivery => (serde_json::Value::Null, serde_json::Value::Null),
        };
        serde_json::json!({ "method": self.method(), "card": card, "token": token })
    }

    /// Which method this is.
    pub fn method(&self) -> PaymentMethod {
        match self {
            Self::Card(_) | Self::Token(_) => PaymentMethod::Card,
            Self::CashOnDelivery => PaymentMethod::CashOnDelivery,
        }
    }
}
