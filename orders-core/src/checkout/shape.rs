//! The shape of the checkout form, stated once: the description every
//! reader of a checkout body (the JSON API, the storefront, the OpenAPI
//! document) takes its fields, types and limits from.

use super::address::{MAX_POSTAL_CODE_CHARS, POSTAL_CODE_PATTERN, Phone};
use super::card::{CardNumber, Cvc, EXPIRY_MONTHS, EXPIRY_YEARS, PaymentMethod};
use super::country::CODES as COUNTRY_CODES;
use super::email::MAX_EMAIL_CHARS;
use super::form::{AddressForm, CardForm, CheckoutForm, PaymentForm};
use super::payment::PaymentToken;
use super::text::MAX_TEXT_CHARS;
use crate::form::{Description, Field, Form};
use crate::money::Money;

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
        doc: "How the customer pays. For `method: card`, exactly one of `token` (a payment method from the provider's client library) and `card` (a raw test card, accepted only while the payment provider is the built-in test gateway).",
        fields: &[
            Field::text("method", "How the customer pays.")
                .required()
                .one_of(&PaymentMethod::NAMES),
            Field::text(
                "token",
                "For `method: card`: the payment method token from the provider's client library (`test_visa`, `test_declined`, `test_requires_action`, `test_requires_action_fails` with the test gateway).",
            )
            .pattern(PaymentToken::PATTERN)
            .example("test_visa"),
            Field::object(
                "card",
                "For `method: card` with the test gateway only: a raw test card.",
                CardForm::DESCRIPTION,
            ),
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
