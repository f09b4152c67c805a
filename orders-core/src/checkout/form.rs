//! The raw checkout request and its validation into [`CheckoutDetails`].
//!
//! Every field is checked and every mistake reported at once, keyed by dotted
//! path (`shipping_address.postal_code`, `payment.card.number`). A missing
//! required field, or one that is only whitespace, gets the message
//! `"required"`; an empty optional field (`line2`, `region`, `phone`) counts
//! as absent.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use super::address::{Address, Phone, PostalCode, normalise_postal_code};
use super::card::{
    CardDetails, CardExpiry, CardNumber, Cvc, PaymentMethod, check_month, check_year,
};
use super::country::Country;
use super::email::Email;
use super::payment::{PaymentDetails, PaymentToken};
use super::text::{AddressLine, CardHolder, City, FullName, Region};
use crate::validation::ValidationErrors;

/// The message for a missing required field.
pub const REQUIRED: &str = "required";

/// What validation needs from outside the request.
#[derive(Debug, Clone, Copy)]
pub struct FormContext<'a> {
    /// Today's date, for card expiry.
    pub today: NaiveDate,
    /// The codes of the configured shipping methods.
    pub shipping_methods: &'a [&'a str],
}

/// The checkout request as submitted. Missing fields deserialise as `None`;
/// [`validate`](Self::validate) turns it into [`CheckoutDetails`].
///
/// ```
/// use chrono::NaiveDate;
/// use orders_core::checkout::{CheckoutForm, FormContext};
///
/// let ctx = FormContext {
///     today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
///     shipping_methods: &["standard", "express"],
/// };
/// let errors = CheckoutForm { email: Some("nope".into()), ..CheckoutForm::default() }
///     .validate(&ctx)
///     .unwrap_err();
/// assert_eq!(errors.get("email"), Some(&["invalid email address".to_string()][..]));
/// assert_eq!(errors.get("payment"), Some(&["required".to_string()][..]));
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CheckoutForm {
    /// The customer's email address.
    pub email: Option<String>,
    /// Where to ship.
    pub shipping_address: Option<AddressForm>,
    /// The code of a configured shipping method.
    pub shipping_method: Option<String>,
    /// How to pay.
    pub payment: Option<PaymentForm>,
    /// The total the customer saw, passed through unparsed.
    pub expected_total: Option<String>,
}

/// A shipping address as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AddressForm {
    /// The recipient's name. Required.
    pub full_name: Option<String>,
    /// First address line. Required.
    pub line1: Option<String>,
    /// Second address line. Optional.
    pub line2: Option<String>,
    /// City. Required.
    pub city: Option<String>,
    /// State, province or county. Optional.
    pub region: Option<String>,
    /// Postal code, checked against the country. Required.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 code, either case. Required.
    pub country: Option<String>,
    /// Contact phone number. Optional.
    pub phone: Option<String>,
}

/// The payment choice as submitted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PaymentForm {
    /// `"card"` or `"cash_on_delivery"`. Required.
    pub method: Option<String>,
    /// For `method: card`: the provider's payment method token (the card
    /// itself never reaches the server). Exactly one of `token` and `card`.
    pub token: Option<String>,
    /// For `method: card` with the built-in test gateway only: a raw test
    /// card. Ignored for cash on delivery.
    pub card: Option<CardForm>,
}

/// A card as submitted. `Debug` masks the number and security code.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct CardForm {
    /// The card number; spaces and hyphens are allowed.
    pub number: Option<String>,
    /// Expiry month, 1 to 12.
    pub exp_month: Option<i64>,
    /// Expiry year, four digits.
    pub exp_year: Option<i64>,
    /// The 3- or 4-digit security code.
    pub cvc: Option<String>,
    /// The name on the card.
    pub holder: Option<String>,
}

impl fmt::Debug for CardForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = |value: &Option<String>| value.as_ref().map(|_| "***");
        f.debug_struct("CardForm")
            .field("number", &masked(&self.number))
            .field("exp_month", &self.exp_month)
            .field("exp_year", &self.exp_year)
            .field("cvc", &masked(&self.cvc))
            .field("holder", &self.holder)
            .finish()
    }
}

/// A validated checkout request.
#[derive(Debug)]
pub struct CheckoutDetails {
    /// The customer's email address.
    pub email: Email,
    /// Where to ship.
    pub shipping_address: Address,
    /// The code of one of the configured shipping methods.
    pub shipping_method: String,
    /// How the customer pays.
    pub payment: PaymentDetails,
    /// The total the customer saw, unparsed: the caller parses it against the
    /// cart's currency.
    pub expected_total: Option<String>,
}

impl CheckoutDetails {
    /// The validated request as one JSON value, the same for every request
    /// that means the same (normalised values), without the card number
    /// and CVC ([`PaymentDetails::canonical`]). Every field is named (a
    /// new one does not compile until it is placed here), so the
    /// idempotency fingerprint made from it cannot miss one.
    pub fn canonical(&self) -> serde_json::Value {
        let Self {
            email,
            shipping_address,
            shipping_method,
            payment,
            expected_total,
        } = self;
        serde_json::json!({
            "email": email,
            "shipping_address": shipping_address,
            "shipping_method": shipping_method,
            "payment": payment.canonical(),
            "expected_total": expected_total,
        })
    }
}

/// Drops `None` and whitespace-only values.
pub(crate) fn present(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.trim().is_empty())
}

/// Parses a required field; missing or blank records `"required"`.
fn required<T, E: fmt::Display>(
    errors: &mut ValidationErrors,
    path: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<T> {
    match present(value) {
        Some(text) => errors.check(path, parse(&text)),
        None => {
            errors.add(path, REQUIRED);
            None
        }
    }
}

/// Parses an optional field; missing or blank is `None` and no error.
///
/// The outer `Option` is `None` when the field was present but invalid.
fn optional<T, E: fmt::Display>(
    errors: &mut ValidationErrors,
    path: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Option<Option<T>> {
    match present(value) {
        Some(text) => errors.check(path, parse(&text)).map(Some),
        None => Some(None),
    }
}

/// Records `"required"` when `value` is `None`.
fn require<T>(errors: &mut ValidationErrors, path: &str, value: Option<T>) -> Option<T> {
    if value.is_none() {
        errors.add(path, REQUIRED);
    }
    value
}

impl CheckoutForm {
    /// Validates every field, collecting every error.
    ///
    /// # Errors
    /// [`ValidationErrors`] keyed by dotted path, e.g. `email`,
    /// `shipping_address.postal_code`, `payment.card.exp_month`.
    pub fn validate(self, ctx: &FormContext<'_>) -> Result<CheckoutDetails, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let email = required(&mut errors, "email", self.email, Email::parse);
        let shipping_address = require(&mut errors, "shipping_address", self.shipping_address)
            .and_then(|form| {
                form.validate()
                    .map_err(|e| errors.merge("shipping_address", e))
                    .ok()
            });
        let shipping_method = required(
            &mut errors,
            "shipping_method",
            self.shipping_method,
            |code| {
                ctx.shipping_methods
                    .iter()
                    .find(|allowed| **allowed == code.trim())
                    .map(|allowed| (*allowed).to_owned())
                    .ok_or_else(|| match ctx.shipping_methods {
                        [] => "no shipping method is available".to_owned(),
                        allowed => format!("must be one of: {}", allowed.join(", ")),
                    })
            },
        );
        let payment = require(&mut errors, "payment", self.payment).and_then(|form| {
            form.validate(ctx.today)
                .map_err(|e| errors.merge("payment", e))
                .ok()
        });
        match (email, shipping_address, shipping_method, payment) {
            (Some(email), Some(shipping_address), Some(shipping_method), Some(payment))
                if errors.is_empty() =>
            {
                Ok(CheckoutDetails {
                    email,
                    shipping_address,
                    shipping_method,
                    payment,
                    expected_total: self.expected_total,
                })
            }
            _ => Err(errors),
        }
    }
}

impl AddressForm {
    /// Validates the address, collecting every error under paths relative to
    /// it (`postal_code`, `country`, ...).
    ///
    /// The postal code is checked against the country only when the country
    /// is valid; otherwise only its country-independent rules apply.
    ///
    /// # Errors
    /// [`ValidationErrors`] for every invalid field.
    pub fn validate(self) -> Result<Address, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let full_name = required(&mut errors, "full_name", self.full_name, FullName::parse);
        let line1 = required(&mut errors, "line1", self.line1, AddressLine::parse);
        let line2 = optional(&mut errors, "line2", self.line2, AddressLine::parse);
        let city = required(&mut errors, "city", self.city, City::parse);
        let region = optional(&mut errors, "region", self.region, Region::parse);
        let country = required(&mut errors, "country", self.country, Country::parse);
        let postal_code =
            required(
                &mut errors,
                "postal_code",
                self.postal_code,
                |text| match country {
                    Some(country) => PostalCode::parse(text, country).map(Some),
                    None => normalise_postal_code(text).map(|_| None),
                },
            )
            .flatten();
        let phone = optional(&mut errors, "phone", self.phone, Phone::parse);
        match (
            full_name,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
            phone,
        ) {
            (
                Some(full_name),
                Some(line1),
                Some(line2),
                Some(city),
                Some(region),
                Some(postal_code),
                Some(country),
                Some(phone),
            ) if errors.is_empty() => Ok(Address {
                full_name,
                line1,
                line2,
                city,
                region,
                postal_code,
                country,
                phone,
            }),
            _ => Err(errors),
        }
    }
}

impl PaymentForm {
    /// Validates the payment choice, with paths relative to it (`method`,
    /// `card`, `card.number`, ...). For cash on delivery a `card` is ignored.
    ///
    /// # Errors
    /// [`ValidationErrors`] for every invalid field.
    pub fn validate(self, today: NaiveDate) -> Result<PaymentDetails, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let method = required(
            &mut errors,
            "method",
            self.method,
            str::parse::<PaymentMethod>,
        );
        let token = self.token.filter(|t| !t.trim().is_empty());
        let payment = match (method, token, self.card) {
            (Some(PaymentMethod::CashOnDelivery), ..) => Some(PaymentDetails::CashOnDelivery),
            (Some(PaymentMethod::Card), Some(_), Some(_)) => {
                errors.add("token", "give a token or a card, not both");
                None
            }
            (Some(PaymentMethod::Card), Some(token), None) => errors
                .check("token", PaymentToken::parse(token.trim()))
                .map(PaymentDetails::Token),
            (Some(PaymentMethod::Card), None, Some(card)) => card
                .validate(today)
                .map(PaymentDetails::Card)
                .map_err(|e| errors.merge("card", e))
                .ok(),
            (Some(PaymentMethod::Card), None, None) => {
                errors.add("token", REQUIRED);
                None
            }
            (None, ..) => None,
        };
        match payment {
            Some(payment) if errors.is_empty() => Ok(payment),
            _ => Err(errors),
        }
    }
}

impl CardForm {
    /// Validates the card, with paths relative to it (`number`, `exp_month`,
    /// `exp_year`, `cvc`, `holder`).
    ///
    /// An expiry in the past is reported on `exp_month` when the year is the
    /// current one (only the month is wrong) and on `exp_year` otherwise.
    ///
    /// # Errors
    /// [`ValidationErrors`] for every invalid field.
    pub fn validate(self, today: NaiveDate) -> Result<CardDetails, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let number = required(&mut errors, "number", self.number, CardNumber::parse);
        let month = require(&mut errors, "exp_month", self.exp_month)
            .and_then(|month| errors.check("exp_month", check_month(month)));
        let year = require(&mut errors, "exp_year", self.exp_year)
            .and_then(|year| errors.check("exp_year", check_year(year, today)));
        let expiry = month.zip(year).and_then(|(month, year)| {
            let path = if i32::from(year) == today.year() {
                "exp_month"
            } else {
                "exp_year"
            };
            errors.check(path, CardExpiry::parse(month.into(), year.into(), today))
        });
        let cvc = required(&mut errors, "cvc", self.cvc, Cvc::parse);
        let holder = required(&mut errors, "holder", self.holder, CardHolder::parse);
        match (number, expiry, cvc, holder) {
            (Some(number), Some(expiry), Some(cvc), Some(holder)) if errors.is_empty() => {
                Ok(CardDetails::new(number, expiry, cvc, holder))
            }
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
#[path = "form_tests.rs"]
mod tests;
