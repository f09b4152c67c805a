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

use super::address::{
    Address, MAX_POSTAL_CODE_CHARS, POSTAL_CODE_PATTERN, Phone, PostalCode, normalise_postal_code,
};
use super::card::{
    CardDetails, CardExpiry, CardNumber, Cvc, EXPIRY_MONTHS, EXPIRY_YEARS, PaymentDetails,
    PaymentMethod, check_month, check_year,
};
use super::country::{CODES as COUNTRY_CODES, Country};
use super::email::{Email, MAX_EMAIL_CHARS};
use super::text::{AddressLine, CardHolder, City, FullName, MAX_TEXT_CHARS, Region};
use crate::form::{Description, Field, Form};
use crate::money::Money;
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
    /// The card, required when `method` is `"card"` and ignored otherwise.
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

impl Form for CheckoutForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CheckoutRequest",
        doc: "The checkout form. Every field is validated and every error reported at once under its dotted path.",
        fields: &[
            Field::text("email", "The customer's email address: one `@`, a domain with a dot.")
                .required()
                .chars(1, MAX_EMAIL_CHARS)
                .format("email")
                .example("ada@example.com"),
            Field::object("shipping_address", "Where to ship.", AddressForm::DESCRIPTION)
                .required(),
            Field::text("shipping_method", "The code of a configured shipping method.")
                .required()
                .pattern(crate::text::LINE_PATTERN)
                .example("standard"),
            Field::object("payment", "How to pay.", PaymentForm::DESCRIPTION).required(),
            Field::text(
                "expected_total",
                "The total the customer saw; a different repriced total answers 409 `price_changed`.",
            )
            .pattern(Money::PRICE_PATTERN)
            .example("42.50"),
        ],
    };
}

/// A single line of free text of at most [`MAX_TEXT_CHARS`] characters.
const fn line(name: &'static str, doc: &'static str) -> Field {
    Field::text(name, doc)
        .chars(1, MAX_TEXT_CHARS)
        .pattern(crate::text::LINE_PATTERN)
}

/// An optional line that may be blank (blank is absent).
const fn blank_line(name: &'static str, doc: &'static str) -> Field {
    Field::text(name, doc)
        .chars(0, MAX_TEXT_CHARS)
        .pattern(crate::text::BLANK_LINE_PATTERN)
}

impl Form for AddressForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "AddressInput",
        doc: "A shipping address as submitted at checkout.",
        fields: &[
            line("full_name", "The recipient's name.").required(),
            line("line1", "First address line.").required(),
            blank_line("line2", "Second address line."),
            line("city", "City.").required(),
            blank_line("region", "State, province or county."),
            Field::text("postal_code", "Postal code, checked against the country.")
                .required()
                .chars(1, MAX_POSTAL_CODE_CHARS)
                .pattern(POSTAL_CODE_PATTERN)
                .example("SW1Y 4JH"),
            Field::text("country", "ISO 3166-1 alpha-2 code.")
                .required()
                .one_of(&COUNTRY_CODES)
                .example("GB"),
            Field::text(
                "phone",
                "Contact phone number: an optional `+`, 7 to 15 digits.",
            )
            .pattern(Phone::PATTERN)
            .example("+44 20 7946 0958"),
        ],
    };
}

impl Form for PaymentForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "PaymentInput",
        doc: "How the customer pays; `card` is required for `method: card`.",
        fields: &[
            Field::text("method", "How the customer pays.")
                .required()
                .one_of(&PaymentMethod::NAMES),
            Field::object(
                "card",
                "The card, for `method: card`.",
                CardForm::DESCRIPTION,
            )
            .required_when("method", PaymentMethod::NAMES[0]),
        ],
    };
}

impl Form for CardForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CardInput",
        doc: "A card as submitted: never stored, never logged.",
        fields: &[
            Field::text("number", "The card number; spaces and hyphens are allowed.")
                .required()
                .pattern(CardNumber::PATTERN)
                .example("4242424242424242"),
            Field::integer(
                "exp_month",
                "Expiry month.",
                Some(EXPIRY_MONTHS.0),
                Some(EXPIRY_MONTHS.1),
            )
            .required(),
            Field::integer(
                "exp_year",
                "Expiry year, four digits, not past and at most 20 years ahead.",
                Some(EXPIRY_YEARS.0),
                Some(EXPIRY_YEARS.1),
            )
            .required(),
            Field::text("cvc", "The 3- or 4-digit security code.")
                .required()
                .pattern(Cvc::PATTERN),
            line("holder", "The name on the card.").required(),
        ],
    };
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
        let payment = match method {
            Some(PaymentMethod::CashOnDelivery) => Some(PaymentDetails::CashOnDelivery),
            Some(PaymentMethod::Card) => require(&mut errors, "card", self.card).and_then(|card| {
                card.validate(today)
                    .map(PaymentDetails::Card)
                    .map_err(|e| errors.merge("card", e))
                    .ok()
            }),
            None => None,
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"{"email":"ada@example.com","shipping_address":{"full_name":"Ada Lovelace","line1":"12 St James's Square","line2":null,"city":"London","region":null,"postal_code":"SW1Y 4JH","country":"GB","phone":"+44 20 7946 0958"},"shipping_method":"standard","payment":{"method":"card","card":{"number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123","holder":"Ada Lovelace"}}}"#;

    const METHODS: &[&str] = &["standard", "express"];

    fn ctx() -> FormContext<'static> {
        FormContext {
            today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            shipping_methods: METHODS,
        }
    }

    fn example() -> serde_json::Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn validate(body: serde_json::Value) -> Result<CheckoutDetails, ValidationErrors> {
        serde_json::from_value::<CheckoutForm>(body)
            .unwrap()
            .validate(&ctx())
    }

    fn messages(errors: &ValidationErrors) -> Vec<(String, String)> {
        errors
            .iter()
            .flat_map(|(path, messages)| messages.iter().map(move |m| (path.to_owned(), m.clone())))
            .collect()
    }

    #[test]
    fn example_body_passes() {
        let form: CheckoutForm = serde_json::from_str(EXAMPLE).unwrap();
        let details = form.validate(&ctx()).unwrap();
        assert_eq!(details.email.as_str(), "ada@example.com");
        let address = &details.shipping_address;
        assert_eq!(address.full_name().as_str(), "Ada Lovelace");
        assert_eq!(address.postal_code().as_str(), "SW1Y 4JH");
        assert_eq!(address.country().code(), "GB");
        assert_eq!(address.phone().map(Phone::as_str), Some("+44 20 7946 0958"));
        assert!(address.line2().is_none() && address.region().is_none());
        assert_eq!(details.shipping_method, "standard");
        assert_eq!(details.expected_total, None);
        let PaymentDetails::Card(card) = &details.payment else {
            panic!("expected a card payment");
        };
        assert_eq!(card.brand(), crate::checkout::CardBrand::Visa);
        assert_eq!(card.last4(), "4242");
        assert_eq!((card.expiry().month(), card.expiry().year()), (12, 2030));
        assert_eq!(card.number().expose_digits(), "4242424242424242");
        let debug = format!("{details:?}");
        assert!(!debug.contains("4242424242424242"), "{debug}");
        assert!(
            !debug.contains("\"123\"") && !debug.contains("cvc: 123"),
            "{debug}"
        );
        assert!(
            debug.contains("**** 4242") && debug.contains("***"),
            "{debug}"
        );
    }

    #[test]
    fn reports_every_bad_field_at_once() {
        let body = serde_json::json!({
            "email": "ada@",
            "shipping_address": {
                "full_name": " ",
                "line1": "12\u{202E} Square",
                "line2": "x".repeat(201),
                "region": "",
                "postal_code": "12345",
                "country": "GB",
                "phone": "12",
            },
            "shipping_method": "teleport",
            "payment": {
                "method": "card",
                "card": {
                    "number": "4242424242424241",
                    "exp_month": 13,
                    "exp_year": 30,
                    "cvc": "12",
                    "holder": "\u{0}",
                },
            },
        });
        let errors = validate(body).unwrap_err();
        assert_eq!(
            messages(&errors),
            [
                ("email", "invalid email address"),
                ("payment.card.cvc", "must be 3 or 4 digits"),
                ("payment.card.exp_month", "must be between 1 and 12"),
                ("payment.card.exp_year", "must be a 4-digit year"),
                (
                    "payment.card.holder",
                    "must not contain control or direction-changing characters"
                ),
                ("payment.card.number", "invalid card number"),
                ("shipping_address.city", "required"),
                ("shipping_address.full_name", "required"),
                (
                    "shipping_address.line1",
                    "must not contain control or direction-changing characters"
                ),
                ("shipping_address.line2", "must be at most 200 characters"),
                ("shipping_address.phone", "must have 7 to 15 digits"),
                ("shipping_address.postal_code", "invalid postal code for GB"),
                ("shipping_method", "must be one of: standard, express"),
            ]
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn empty_body_reports_the_top_level_fields() {
        let errors = validate(serde_json::json!({})).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|(path, _)| path).collect();
        assert_eq!(
            paths,
            ["email", "payment", "shipping_address", "shipping_method"]
        );
        assert!(errors.iter().all(|(_, m)| m == [REQUIRED]));
    }

    #[test]
    fn missing_nested_fields_are_required() {
        let body = serde_json::json!({
            "email": "ada@example.com",
            "shipping_address": {},
            "shipping_method": "express",
            "payment": {"method": "card", "card": {}},
        });
        let errors = validate(body).unwrap_err();
        let paths: Vec<_> = errors.iter().map(|(path, _)| path).collect();
        assert_eq!(
            paths,
            [
                "payment.card.cvc",
                "payment.card.exp_month",
                "payment.card.exp_year",
                "payment.card.holder",
                "payment.card.number",
                "shipping_address.city",
                "shipping_address.country",
                "shipping_address.full_name",
                "shipping_address.line1",
                "shipping_address.postal_code",
            ]
        );
        assert!(errors.iter().all(|(_, m)| m == [REQUIRED]));

        let mut body = example();
        body["payment"] = serde_json::json!({"card": null});
        assert_eq!(
            messages(&validate(body).unwrap_err()),
            [("payment.method".into(), REQUIRED.into())]
        );
        let mut body = example();
        body["payment"] = serde_json::json!({"method": "card"});
        assert_eq!(
            messages(&validate(body).unwrap_err()),
            [("payment.card".into(), REQUIRED.into())]
        );
    }

    #[test]
    fn unknown_country_skips_the_national_postal_format() {
        let mut body = example();
        body["shipping_address"]["country"] = "XX".into();
        body["shipping_address"]["postal_code"] = "12345".into();
        let errors = validate(body.clone()).unwrap_err();
        assert_eq!(
            messages(&errors),
            [(
                "shipping_address.country".into(),
                "unknown country code".into()
            )]
        );
        // The generic rules still apply.
        body["shipping_address"]["postal_code"] = "12_345".into();
        let errors = validate(body).unwrap_err();
        assert_eq!(
            errors.get("shipping_address.postal_code"),
            Some(&["invalid postal code".to_owned()][..])
        );
    }

    #[test]
    fn expired_card_message_placement() {
        let mut body = example();
        body["payment"]["card"]["exp_month"] = 10.into();
        body["payment"]["card"]["exp_year"] = 2026.into();
        assert_eq!(
            messages(&validate(body.clone()).unwrap_err()),
            [("payment.card.exp_month".into(), "card has expired".into())]
        );
        body["payment"]["card"]["exp_year"] = 2025.into();
        assert_eq!(
            messages(&validate(body.clone()).unwrap_err()),
            [("payment.card.exp_year".into(), "card has expired".into())]
        );
        body["payment"]["card"]["exp_year"] = 2047.into();
        assert_eq!(
            messages(&validate(body).unwrap_err()),
            [(
                "payment.card.exp_year".into(),
                "too far in the future".into()
            )]
        );
    }

    #[test]
    fn cash_on_delivery_ignores_the_card_and_blank_optionals_are_absent() {
        let mut body = example();
        body["payment"]["method"] = "cash_on_delivery".into();
        body["payment"]["card"]["number"] = "garbage".into();
        body["shipping_address"]["line2"] = "   ".into();
        body["shipping_address"]["region"] = "".into();
        body["shipping_address"]["phone"] = " ".into();
        body["shipping_method"] = " express ".into();
        body["expected_total"] = "12.50".into();
        let details = validate(body).unwrap();
        assert_eq!(details.payment.method(), PaymentMethod::CashOnDelivery);
        assert!(details.shipping_address.phone().is_none());
        assert!(details.shipping_address.line2().is_none());
        assert_eq!(details.shipping_method, "express");
        assert_eq!(details.expected_total.as_deref(), Some("12.50"));
    }

    #[test]
    fn unknown_payment_method_lists_the_allowed_ones() {
        let mut body = example();
        body["payment"]["method"] = "cheque".into();
        assert_eq!(
            messages(&validate(body).unwrap_err()),
            [(
                "payment.method".into(),
                "must be one of: card, cash_on_delivery".into()
            )]
        );
    }

    #[test]
    fn no_configured_shipping_methods() {
        let form: CheckoutForm = serde_json::from_str(EXAMPLE).unwrap();
        let ctx = FormContext {
            shipping_methods: &[],
            ..ctx()
        };
        let errors = form.validate(&ctx).unwrap_err();
        assert_eq!(
            errors.get("shipping_method"),
            Some(&["no shipping method is available".to_owned()][..])
        );
    }

    #[test]
    fn card_form_debug_is_masked() {
        let form: CheckoutForm = serde_json::from_str(EXAMPLE).unwrap();
        let debug = format!("{form:?}");
        assert!(
            !debug.contains("4242424242424242") && !debug.contains("\"123\""),
            "{debug}"
        );
        assert!(debug.contains("Ada Lovelace"));
    }

    fn text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 @.+()-]{0,20}",
            Just("GB".to_owned()),
            Just("4242424242424242".to_owned()),
            Just("card".to_owned()),
            Just("standard".to_owned()),
        ])
    }

    fn address() -> impl Strategy<Value = Option<AddressForm>> {
        proptest::option::of(
            (
                text(),
                text(),
                text(),
                text(),
                text(),
                text(),
                text(),
                text(),
            )
                .prop_map(
                    |(full_name, line1, line2, city, region, postal_code, country, phone)| {
                        AddressForm {
                            full_name,
                            line1,
                            line2,
                            city,
                            region,
                            postal_code,
                            country,
                            phone,
                        }
                    },
                ),
        )
    }

    fn payment() -> impl Strategy<Value = Option<PaymentForm>> {
        let number = proptest::option::of(any::<i64>());
        let card = proptest::option::of((text(), number.clone(), number, text(), text()).prop_map(
            |(number, exp_month, exp_year, cvc, holder)| CardForm {
                number,
                exp_month,
                exp_year,
                cvc,
                holder,
            },
        ));
        proptest::option::of((text(), card).prop_map(|(method, card)| PaymentForm { method, card }))
    }

    proptest! {
        #[test]
        fn validate_never_panics(
            email in text(),
            shipping_address in address(),
            shipping_method in text(),
            payment in payment(),
            expected_total in text(),
        ) {
            let form = CheckoutForm { email, shipping_address, shipping_method, payment, expected_total };
            if let Err(errors) = form.validate(&ctx()) {
                prop_assert!(!errors.is_empty());
            }
        }
    }
}
