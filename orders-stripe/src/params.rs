//! What the calls take, each checked when it is built, so that a request the
//! client sends is one Stripe can accept: a positive amount in minor units,
//! an ISO currency, a payment method, metadata within Stripe's limits and an
//! idempotency key that fits in a header.

use std::collections::BTreeMap;

use crate::form::Form;

/// Why a parameter was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ParamError {
    /// The parameter, as Stripe names it (`amount`, `metadata[order_id]`, …).
    pub field: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

fn refuse(field: impl Into<String>, reason: &'static str) -> ParamError {
    ParamError {
        field: field.into(),
        reason,
    }
}

/// A three-letter ISO 4217 currency code, kept in lower case as Stripe
/// writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Currency(String);

impl Currency {
    /// Takes `"eur"`, `"EUR"`, `"usd"`…
    ///
    /// # Errors
    /// A [`ParamError`] on `currency` unless the code is three ASCII letters.
    pub fn new(code: &str) -> Result<Self, ParamError> {
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
            Ok(Self(code.to_ascii_lowercase()))
        } else {
            Err(refuse("currency", "three ASCII letters (ISO 4217)"))
        }
    }

    /// The code in lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The caller's idempotency key for one mutating call. Stripe answers a
/// retry that carries the same key with the first call's result instead of
/// acting twice, for 24 hours; the same key with other parameters is an
/// [`StripeError::IdempotencyConflict`](crate::StripeError::IdempotencyConflict).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Takes a key of 1 to 255 visible ASCII characters.
    ///
    /// # Errors
    /// A [`ParamError`] on `Idempotency-Key` otherwise.
    pub fn new(key: impl Into<String>) -> Result<Self, ParamError> {
        let key = key.into();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(refuse(
                "Idempotency-Key",
                "1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(key))
    }

    /// The key as sent in the header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Stripe's metadata: at most 50 keys of up to 40 characters (no square
/// brackets), values of up to 500.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Metadata(BTreeMap<String, String>);

impl Metadata {
    fn insert(&mut self, key: &str, value: &str) -> Result<(), ParamError> {
        let field = || format!("metadata[{key}]");
        if key.is_empty() || key.chars().count() > 40 || key.contains(['[', ']']) {
            return Err(refuse(field(), "a key of 1 to 40 characters, no [ or ]"));
        }
        if value.chars().count() > 500 {
            return Err(refuse(field(), "a value of at most 500 characters"));
        }
        if !self.0.contains_key(key) && self.0.len() == 50 {
            return Err(refuse(field(), "at most 50 keys"));
        }
        self.0.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

fn payment_method_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A PaymentIntent to create with `capture_method=manual`: the card is
/// authorised (and, with `confirm`, at once) but nothing is captured until
/// [`StripeClient::capture_payment_intent`](crate::StripeClient::capture_payment_intent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePaymentIntent {
    amount: u64,
    currency: Currency,
    payment_method: String,
    confirm: bool,
    return_url: Option<String>,
    metadata: Metadata,
}

impl CreatePaymentIntent {
    /// An authorisation of `amount` minor units (cents for EUR) of
    /// `currency` on `payment_method` (a `pm_…` id made by Stripe.js, or a
    /// test id such as `pm_card_visa`), confirmed at once.
    ///
    /// # Errors
    /// A [`ParamError`] on `amount` when it is 0, on `payment_method` when
    /// it is empty or holds anything but ASCII letters, digits and `_`.
    pub fn new(amount: u64, currency: Currency, payment_method: &str) -> Result<Self, ParamError> {
        if amount == 0 {
            return Err(refuse("amount", "at least 1 minor unit"));
        }
        if !payment_method_ok(payment_method) {
            return Err(refuse("payment_method", "a payment method id"));
        }
        Ok(Self {
            amount,
            currency,
            payment_method: payment_method.to_owned(),
            confirm: true,
            return_url: None,
            metadata: Metadata::default(),
        })
    }

    /// Whether Stripe confirms (authorises) at creation: `true` unless
    /// changed; `false` leaves it `requires_confirmation` for
    /// [`StripeClient::confirm_payment_intent`](crate::StripeClient::confirm_payment_intent).
    pub fn confirm(mut self, confirm: bool) -> Self {
        self.confirm = confirm;
        self
    }

    /// Where Stripe sends the customer back after a redirect-based action
    /// (3-D Secure outside Stripe.js).
    ///
    /// # Errors
    /// A [`ParamError`] on `return_url` unless it is an http(s) URL.
    pub fn return_url(mut self, url: &str) -> Result<Self, ParamError> {
        self.return_url = Some(checked_return_url(url)?);
        Ok(self)
    }

    /// Adds a metadata entry (our order or cart id, say), which Stripe
    /// keeps and sends back in every webhook of this PaymentIntent.
    ///
    /// # Errors
    /// A [`ParamError`] on `metadata[key]` past Stripe's limits (50 keys,
    /// keys of 40 characters without brackets, values of 500).
    pub fn metadata(mut self, key: &str, value: &str) -> Result<Self, ParamError> {
        self.metadata.insert(key, value)?;
        Ok(self)
    }

    /// The amount, in minor units.
    pub fn amount(&self) -> u64 {
        self.amount
    }

    pub(crate) fn to_form(&self) -> String {
        let mut form = Form::new();
        form.field("amount", &self.amount.to_string())
            .field("currency", self.currency.as_str())
            .field("payment_method", &self.payment_method)
            .field("payment_method_types[0]", "card")
            .field("capture_method", "manual")
            .metadata(&self.metadata.0);
        if self.confirm {
            form.field("confirm", "true");
        }
        if let Some(url) = &self.return_url {
            form.field("return_url", url);
        }
        form.finish()
    }
}

pub(crate) fn checked_return_url(url: &str) -> Result<String, ParamError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && url.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(url.to_owned())
    } else {
        Err(refuse("return_url", "an http(s) URL"))
    }
}

/// Parameters of a confirmation; none are needed for a PaymentIntent
/// created with its payment method.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmPaymentIntent {
    return_url: Option<String>,
}

impl ConfirmPaymentIntent {
    /// A confirmation with no parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Where Stripe sends the customer back after a redirect.
    ///
    /// # Errors
    /// A [`ParamError`] on `return_url` unless it is an http(s) URL.
    pub fn return_url(mut self, url: &str) -> Result<Self, ParamError> {
        self.return_url = Some(checked_return_url(url)?);
        Ok(self)
    }

    pub(crate) fn to_form(&self) -> String {
        let mut form = Form::new();
        if let Some(url) = &self.return_url {
            form.field("return_url", url);
        }
        form.finish()
    }
}

/// A refund of a captured PaymentIntent: all of what is left, or part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRefund {
    payment_intent: crate::PaymentIntentId,
    amount: Option<u64>,
    metadata: Metadata,
}

impl CreateRefund {
    /// A refund of everything captured and not yet refunded.
    pub fn full(payment_intent: crate::PaymentIntentId) -> Self {
        Self {
            payment_intent,
            amount: None,
            metadata: Metadata::default(),
        }
    }

    /// A refund of `amount` minor units.
    ///
    /// # Errors
    /// A [`ParamError`] on `amount` when it is 0.
    pub fn partial(
        payment_intent: crate::PaymentIntentId,
        amount: u64,
    ) -> Result<Self, ParamError> {
        if amount == 0 {
            return Err(refuse("amount", "at least 1 minor unit"));
        }
        Ok(Self {
            payment_intent,
            amount: Some(amount),
            metadata: Metadata::default(),
        })
    }

    /// Adds a metadata entry.
    ///
    /// # Errors
    /// A [`ParamError`] on `metadata[key]` past Stripe's limits.
    pub fn metadata(mut self, key: &str, value: &str) -> Result<Self, ParamError> {
        self.metadata.insert(key, value)?;
        Ok(self)
    }

    pub(crate) fn to_form(&self) -> String {
        let mut form = Form::new();
        form.field("payment_intent", self.payment_intent.as_str())
            .metadata(&self.metadata.0);
        if let Some(amount) = self.amount {
            form.field("amount", &amount.to_string());
        }
        form.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_capture_intent_is_encoded_as_stripe_takes_it() {
        let params = CreatePaymentIntent::new(4250, Currency::new("EUR").unwrap(), "pm_card_visa")
            .unwrap()
            .metadata("order_id", "42")
            .unwrap()
            .return_url("https://shop.example/return?o=42")
            .unwrap();
        assert_eq!(
            params.to_form(),
            "amount=4250&currency=eur&payment_method=pm_card_visa\
             &payment_method_types%5B0%5D=card&capture_method=manual\
             &metadata%5Border_id%5D=42&confirm=true\
             &return_url=https%3A%2F%2Fshop.example%2Freturn%3Fo%3D42"
        );
    }

    #[test]
    fn bad_parameters_are_refused_with_their_field() {
        let eur = Currency::new("eur").unwrap();
        assert_eq!(Currency::new("euro").unwrap_err().field, "currency");
        assert_eq!(
            CreatePaymentIntent::new(0, eur.clone(), "pm_x")
                .unwrap_err()
                .field,
            "amount"
        );
        assert_eq!(
            CreatePaymentIntent::new(1, eur.clone(), "pm_x&amount=1")
                .unwrap_err()
                .field,
            "payment_method"
        );
        let intent = CreatePaymentIntent::new(1, eur, "pm_x").unwrap();
        assert_eq!(
            intent.clone().metadata("a[b]", "c").unwrap_err().field,
            "metadata[a[b]]"
        );
        assert_eq!(
            intent
                .clone()
                .metadata("k", &"v".repeat(501))
                .unwrap_err()
                .field,
            "metadata[k]"
        );
        assert!(intent.return_url("javascript:alert(1)").is_err());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("k".repeat(256)).is_err());
        assert!(IdempotencyKey::new("k".repeat(255)).is_ok());
    }

    #[test]
    fn metadata_holds_at_most_fifty_keys() {
        let mut intent =
            CreatePaymentIntent::new(1, Currency::new("usd").unwrap(), "pm_x").unwrap();
        for i in 0..50 {
            intent = intent.metadata(&format!("k{i}"), "v").unwrap();
        }
        assert!(intent.clone().metadata("k0", "again").is_ok());
        assert_eq!(
            intent.metadata("k50", "v").unwrap_err().reason,
            "at most 50 keys"
        );
    }
}
