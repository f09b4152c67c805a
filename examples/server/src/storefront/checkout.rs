//! The checkout form.
//!
//! The form's inputs are named by the API's dotted paths
//! (`shipping_address.postal_code`). A submit is turned into the JSON body
//! the API takes ([`body_of`]: dotted names become nested objects, the
//! expiry month and year become numbers when they are numbers) and goes
//! through the API's own body parsing ([`orders_axum::parse_body`]) into
//! the core's [`CheckoutForm`], then [`Orders::checkout`](orders_core::Orders::checkout):
//! every field error the page shows is the core's, on the same path as in
//! the API, and nothing here re-checks a field.
//!
//! The core validates every field at once before it tries the card, so a
//! bad postal code and a declined card come back in two rounds: the field
//! errors first, then, once the fields are valid, the decline (an error on
//! `payment.card.number`). Trying the card while the address is invalid
//! would mean charging for an order that cannot be placed.
//!
//! Each rendering of the form carries a fresh idempotency key, sent as the
//! checkout's `Idempotency-Key`: a double submit of one form places one
//! order, and the second submit lands on the same order page.
//!
//! The total shown is the total charged: the page is priced for the chosen
//! country and shipping method ([`super::quote`]), each method shows its
//! price, and the form posts the total it showed as `expected_total`. A
//! total that changed since (a price, the country changed without a
//! review) is the core's 409 `price_changed`: the page comes back priced
//! afresh, saying so, and nothing is charged. The "Review total" button
//! re-renders the page priced for the form's choices (the path without
//! scripts; with scripts the summary follows every change at once).
//! A checkout refused for stock lists each short line with what is left
//! and a one-click form that reduces the line to it.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use orders_axum::ApiError;
use orders_axum::Caller;
use orders_axum::metrics::CheckoutOutcome;
use orders_core::checkout::{CheckoutForm, PaymentMethod};
use orders_core::form::Form;
use orders_core::ids::CartId;
use orders_core::validation::ValidationErrors;
use orders_core::{Error, words};
use serde_json::Value;

use super::Storefront;
use super::assets;
use super::cart::open_cart;
use super::posted;
use super::quote::{Quote, quote, shipping_price};
use super::request::{Post, Visit, cart_cookie, see_other, with_cookie};
use super::stock::{StockLine, short_lines};
use super::templates::{
    CartView, CheckoutPage, Choice, CountryOption, ErrorItem, Field, Radios, money,
};

/// The hidden field with the form's idempotency key.
pub(super) const IDEMPOTENCY_FIELD: &str = "idempotency_key";

/// Fields that come back empty after a failed submit.
const SECRET: &[&str] = &["payment.card.number", "payment.card.cvc"];

/// A text input of the form: path, label, type, autocomplete, inputmode.
/// Whether it is required, and every rule of its value, is the core's
/// description of the checkout form ([`required`]).
type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const CONTACT: &[Spec] = &[("email", "Email", "email", "email", "")];
const ADDRESS: &[Spec] = &[
    (
        "shipping_address.full_name",
        "Full name",
        "text",
        "name",
        "",
    ),
    (
        "shipping_address.line1",
        "Address",
        "text",
        "address-line1",
        "",
    ),
    (
        "shipping_address.line2",
        "Apartment, suite, etc. (optional)",
        "text",
        "address-line2",
        "",
    ),
    (
        "shipping_address.city",
        "City",
        "text",
        "address-level2",
        "",
    ),
    (
        "shipping_address.region",
        "State, province or county (optional)",
        "text",
        "address-level1",
        "",
    ),
    (
        "shipping_address.postal_code",
        "Postal code",
        "text",
        "postal-code",
        "",
    ),
    (
        "shipping_address.phone",
        "Phone (optional)",
        "tel",
        "tel",
        "tel",
    ),
];
const COUNTRY: Spec = ("shipping_address.country", "Country", "text", "country", "");
const CARD: &[Spec] = &[
    (
        "payment.card.number",
        "Card number",
        "text",
        "cc-number",
        "numeric",
    ),
    (
        "payment.card.exp_month",
        "Expiry month (MM)",
        "text",
        "cc-exp-month",
        "numeric",
    ),
    (
        "payment.card.exp_year",
        "Expiry year (YYYY)",
        "text",
        "cc-exp-year",
        "numeric",
    ),
    (
        "payment.card.cvc",
        "Security code (CVC)",
        "text",
        "cc-csc",
        "numeric",
    ),
    ("payment.card.holder", "Name on card", "text", "cc-name", ""),
];

/// The card as a provider token (Stripe.js's card fields make it in the
/// browser; the page posts it hidden).
const TOKEN: Spec = ("payment.token", "Card", "hidden", "", "");

/// The fields of the form that are choices, not text inputs.
const CHOICES: &[&str] = &["shipping_method", "payment.method"];

/// The submit button's name that asks for the priced page, not an order.
const REVIEW: &str = "review";

/// Whether the core's description requires the field at `path` always (a
/// card's fields are required only for a card, which the page cannot mark).
fn required(path: &str) -> bool {
    let form = CheckoutForm::DESCRIPTION;
    let parents_required = path
        .match_indices('.')
        .all(|(end, _)| form.find(&path[..end]).is_some_and(|field| field.required));
    parents_required && form.find(path).is_some_and(|field| field.required)
}

/// `field-` or `error-` + the path with dots as dashes.
fn dom_id(prefix: &str, path: &str) -> String {
    format!("{prefix}-{}", path.replace('.', "-"))
}

/// Converts the submitted fields into the API's JSON checkout body
/// ([`posted::body_of`] by the checkout form's description); for cash on
/// delivery the card is left out, as the core ignores it. Other fields (the
/// CSRF token, the idempotency key) are not part of the body.
pub(super) fn body_of(fields: &[(String, String)]) -> Value {
    let mut root = posted::body_of(CheckoutForm::DESCRIPTION, fields, &[]);
    if root
        .get("expected_total")
        .and_then(Value::as_str)
        .is_some_and(|t| t.trim().is_empty())
    {
        root.remove("expected_total");
    }
    if let Some(Value::Object(payment)) = root.get_mut("payment")
        && payment.get("method").and_then(Value::as_str) == Some("cash_on_delivery")
    {
        payment.remove("card");
        payment.remove("token");
    }
    Value::Object(root)
}

/// A fresh idempotency key for one rendering of the form.
fn idempotency_key() -> String {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the form shows: the values and the errors.
struct FormState<'a> {
    values: HashMap<&'a str, &'a str>,
    errors: ValidationErrors,
    /// Errors that are no field's (out of stock, price changed, ...).
    general: Vec<String>,
    /// After a submit: the card number and CVC come back empty.
    submitted: bool,
    /// Lines a checkout found short of stock, with what is left.
    stock: Vec<StockLine>,
    /// A note that is no error (after "Review total").
    notice: Option<String>,
}

impl FormState<'_> {
    fn value(&self, path: &str) -> String {
        if self.submitted && SECRET.contains(&path) {
            return String::new();
        }
        self.values
            .get(path)
            .copied()
            .unwrap_or_default()
            .to_owned()
    }

    fn error(&self, path: &str) -> Option<String> {
        self.errors.get(path).map(|messages| messages.join("; "))
    }

    fn field(&self, spec: &Spec) -> Field {
        let (path, label, kind, autocomplete, inputmode) = *spec;
        Field {
            path,
            id: dom_id("field", path),
            error_id: dom_id("error", path),
            label,
            kind,
            autocomplete,
            inputmode,
            required: required(path),
            value: self.value(path),
            error: self.error(path),
        }
    }

    fn radios(
        &self,
        path: &'static str,
        legend: &'static str,
        choices: &[(String, String, String)],
    ) -> Radios {
        let chosen = self.value(path);
        Radios {
            path,
            error_id: dom_id("error", path),
            legend,
            choices: choices
                .iter()
                .map(|(value, label, note)| Choice {
                    id: format!("{}-{value}", dom_id("field", path)),
                    checked: *value == chosen,
                    value: value.clone(),
                    label: label.clone(),
                    note: note.clone(),
                })
                .collect(),
            error: self.error(path),
        }
    }
}

/// A label for an error's path, and the id of the input to jump to.
fn describe(path: &str, shipping: &Radios, payment: &Radios) -> (String, Option<String>) {
    let texts = CONTACT
        .iter()
        .chain(ADDRESS)
        .chain(CARD)
        .chain([&COUNTRY, &TOKEN]);
    if path == TOKEN.0 {
        return (TOKEN.1.to_owned(), Some("card-element".to_owned()));
    }
    if path == "payment.card" {
        // A raw card where only a token is taken (a hand-made form).
        return (TOKEN.1.to_owned(), None);
    }
    if let Some((p, label, ..)) = texts.into_iter().find(|s| s.0 == path) {
        return ((*label).to_owned(), Some(dom_id("field", p)));
    }
    for radios in [shipping, payment] {
        if radios.path == path {
            let target = radios.choices.first().map(|c| c.id.clone());
            return (radios.legend.to_owned(), target);
        }
    }
    (path.to_owned(), None)
}

fn form_page(
    shop: &Storefront,
    visit: &Visit,
    state: &FormState<'_>,
    quote: &Quote,
) -> CheckoutPage {
    let config = shop.orders().config();
    let cart = &quote.cart;
    let shipping_choices: Vec<(String, String, String)> = quote
        .shipping
        .iter()
        .map(|(code, price)| {
            let name = words::shipping_method(config, code, cart.currency);
            (code.clone(), name, shipping_price(*price))
        })
        .collect();
    let payment_choices: Vec<(String, String, String)> = PaymentMethod::ALL
        .iter()
        .map(|method| {
            (
                method.as_str().to_owned(),
                words::payment_method(*method).to_owned(),
                String::new(),
            )
        })
        .collect();
    let shipping = state.radios("shipping_method", "Shipping", &shipping_choices);
    let payment = state.radios("payment.method", "Payment", &payment_choices);
    // The summary lists the errors in the order of the form's fields.
    let order: Vec<&str> = CONTACT
        .iter()
        .chain(ADDRESS)
        .chain(std::iter::once(&COUNTRY))
        .map(|s| s.0)
        .chain(CHOICES.iter().copied())
        .chain(std::iter::once(TOKEN.0))
        .chain(CARD.iter().map(|s| s.0))
        .collect();
    let mut paths: Vec<(&str, &[String])> = state.errors.iter().collect();
    paths.sort_by_key(|(path, _)| order.iter().position(|p| p == path).unwrap_or(order.len()));
    let mut errors: Vec<ErrorItem> = paths
        .into_iter()
        .map(|(path, messages)| {
            let (label, target) = describe(path, &shipping, &payment);
            ErrorItem {
                target,
                label,
                message: messages.join("; "),
            }
        })
        .collect();
    errors.extend(state.general.iter().map(|message| ErrorItem {
        target: None,
        label: String::new(),
        message: message.clone(),
    }));
    let stripe = shop.stripe_js();
    let layout = visit.layout("Checkout");
    let (layout, card) = match stripe {
        // Stripe's card fields replace the page's own: no card input of
        // this page is ever posted.
        Some(stripe) => (layout.with_stripe(&stripe.js_url), Vec::new()),
        None => (layout, CARD.iter().map(|s| state.field(s)).collect()),
    };
    CheckoutPage {
        layout,
        contact: CONTACT.iter().map(|s| state.field(s)).collect(),
        address: ADDRESS.iter().map(|s| state.field(s)).collect(),
        country: state.field(&COUNTRY),
        countries: words::countries_by_name()
            .into_iter()
            .map(|(code, name)| CountryOption { code, name })
            .collect(),
        shipping,
        payment,
        card,
        stripe_key: stripe.map(|s| s.publishable_key.clone()),
        token: state.field(&TOKEN),
        errors,
        idempotency_key: idempotency_key(),
        summary: CartView::of(cart),
        expected_total: quote.expected_total(),
        due: money(cart.totals.total),
        due_for: quote.due_for(shop),
        stock: state.stock.clone(),
        notice: state.notice.clone(),
        checkout_js: assets::checkout_js_url(),
    }
}

/// The page's form priced for its own choices of country and method.
async fn priced_page(
    shop: &Storefront,
    visit: &Visit,
    state: &FormState<'_>,
    caller: &Caller,
    cart_id: &CartId,
) -> Result<CheckoutPage, Error> {
    let country = state.values.get(COUNTRY.0).copied();
    let method = state.values.get("shipping_method").copied();
    let quote = quote(shop, caller, cart_id, country, method).await?;
    Ok(form_page(shop, visit, state, &quote))
}

/// `GET /checkout`: the form, for the open cart (an empty cart goes back to
/// `/cart`), with the account's email, the shop's country, the default
/// shipping method and card payment chosen.
pub(super) async fn show(State(shop): State<Storefront>, visit: Visit) -> Response {
    let Some(caller) = visit.shopper() else {
        return see_other("/cart");
    };
    let cart = match open_cart(&shop, caller, &visit).await {
        Ok(Some(cart)) if !cart.lines.is_empty() => cart,
        Ok(_) => return see_other("/cart"),
        Err(error) => return visit.error(&error),
    };
    let config = shop.orders().config();
    let method = config
        .default_shipping_method(cart.currency)
        .map(|m| m.code.to_string())
        .unwrap_or_default();
    let defaults = [
        ("email", caller.email.clone()),
        (
            "shipping_address.country",
            config.default_country.code().to_owned(),
        ),
        ("shipping_method", method),
        ("payment.method", "card".to_owned()),
    ];
    let state = FormState {
        values: defaults.iter().map(|(k, v)| (*k, v.as_str())).collect(),
        errors: ValidationErrors::new(),
        general: Vec::new(),
        submitted: false,
        stock: Vec::new(),
        notice: None,
    };
    match priced_page(&shop, &visit, &state, caller, &cart.id).await {
        Ok(page) => visit.render(StatusCode::OK, &page),
        Err(error) => visit.error(&error),
    }
}

/// `POST /checkout`: places the order and answers 303 to its page, or
/// shows the form again (422) with every error beside its field and every
/// value kept but the card number and CVC.
pub(super) async fn submit(State(shop): State<Storefront>, post: Post) -> Response {
    let visit = &post.visit;
    let Some(caller) = visit.shopper().cloned() else {
        return see_other("/cart");
    };
    // The cart of the cookie even if it is closed: a second submit of the
    // same form must reach the core, which answers with the order the
    // first one placed.
    let Some(cart_id) = visit.cart_id.clone() else {
        return see_other("/cart");
    };
    let values: HashMap<&str, &str> = post
        .fields
        .iter()
        .rev()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if post.get(REVIEW).is_some() {
        let state = FormState {
            values,
            errors: ValidationErrors::new(),
            general: Vec::new(),
            submitted: true,
            stock: Vec::new(),
            notice: Some(
                "Here is your total for this address and shipping method. \
                 Nothing is charged until you place the order."
                    .to_owned(),
            ),
        };
        return match priced_page(&shop, visit, &state, &caller, &cart_id).await {
            Ok(page) => visit.render(StatusCode::OK, &page),
            Err(Error::NotFound(_)) => see_other("/cart"),
            Err(error) => visit.error(&error),
        };
    }
    let key = post
        .get(IDEMPOTENCY_FIELD)
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let body = body_of(&post.fields);
    let parsed = serde_json::to_vec(&body)
        .map_err(|e| ApiError::internal(e.to_string()))
        .and_then(|bytes| orders_axum::parse_body::<CheckoutForm>(&bytes));
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let mut stock = Vec::new();
    let (status, errors, general) = match parsed {
        Err(error) => {
            shop.record_checkout(CheckoutOutcome::Validation);
            (
                unprocessable,
                error.errors().cloned().unwrap_or_default(),
                Vec::new(),
            )
        }
        Ok(form) => {
            let result = shop
                .orders()
                .checkout(&caller.id, &cart_id, form, key.as_deref())
                .await;
            shop.record_checkout(match &result {
                Ok(outcome) if outcome.created => CheckoutOutcome::Placed,
                Ok(_) => CheckoutOutcome::Replayed,
                Err(error) => CheckoutOutcome::of_error(error),
            });
            match result {
                Ok(outcome) => {
                    let to = see_other(&super::guests::placed_path(&shop, &outcome.order));
                    return with_cookie(to, cart_cookie(None, visit.secure));
                }
                Err(error) => match error.field_errors() {
                    Some(errors) => (unprocessable, errors, Vec::new()),
                    None => match error {
                        Error::CartClosed | Error::CartEmpty | Error::NotFound(_) => {
                            return see_other("/cart");
                        }
                        Error::IdempotencyInProgress => return see_other("/orders"),
                        Error::Unavailable | Error::Storage(_) => return visit.error(&error),
                        Error::InsufficientStock(ids) => {
                            stock = match short_lines(&shop, &caller, &cart_id, &ids).await {
                                Ok(lines) => lines,
                                Err(error) => return visit.error(&error),
                            };
                            (
                                StatusCode::CONFLICT,
                                ValidationErrors::new(),
                                vec![general_message(&Error::InsufficientStock(ids))],
                            )
                        }
                        other => (
                            ApiError::from(other.clone()).status(),
                            ValidationErrors::new(),
                            vec![general_message(&other)],
                        ),
                    },
                },
            }
        }
    };
    let state = FormState {
        values,
        errors,
        general,
        submitted: true,
        stock,
        notice: None,
    };
    match priced_page(&shop, visit, &state, &caller, &cart_id).await {
        Ok(page) => visit.render(status, &page),
        Err(Error::NotFound(_)) => see_other("/cart"),
        Err(error) => visit.error(&error),
    }
}

/// What to tell the customer about a refusal that is no field's.
fn general_message(error: &Error) -> String {
    match error {
        Error::InsufficientStock(_) => {
            "Some items are no longer in stock in the quantity you chose \
             (see each below). Nothing was charged."
                .to_owned()
        }
        Error::PriceChanged { total } => format!(
            "The total changed: it is now {}, as shown below (shipping and tax for \
             your address and shipping method). Nothing was charged; check it and \
             place your order again.",
            money(*total)
        ),
        Error::ProductUnavailable(_) => {
            "Some items are no longer on sale. Nothing was charged; please update your cart."
                .to_owned()
        }
        Error::PaymentUnavailable => {
            "The payment provider did not answer. Nothing was charged; please try again.".to_owned()
        }
        other => format!("{other}. Nothing was charged."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn dotted_names_become_the_api_body() {
        let body = body_of(&pairs(&[
            ("csrf_token", "x"),
            ("idempotency_key", "k"),
            ("email", "ada@example.com"),
            ("shipping_address.postal_code", "SW1Y 4JH"),
            ("shipping_address.country", "GB"),
            ("payment.method", "card"),
            ("payment.card.number", "4242 4242 4242 4242"),
            ("payment.card.exp_month", " 12 "),
            ("payment.card.exp_year", "20x0"),
            ("payment.card.cvc", ""),
            ("expected_total", "1.00"),
            ("unknown", "y"),
        ]));
        assert_eq!(
            body,
            json!({
                "expected_total": "1.00",
                "email": "ada@example.com",
                "shipping_address": {"postal_code": "SW1Y 4JH", "country": "GB"},
                "payment": {"method": "card", "card": {
                    "number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": "20x0", "cvc": ""}}
            })
        );
        let submitted =
            orders_axum::parse_body::<CheckoutForm>(body.to_string().as_bytes()).unwrap();
        let errors = submitted.type_errors;
        assert!(errors.contains("payment.card.exp_year"), "{errors}");
        assert_eq!(errors.len(), 1, "{errors}");
    }

    #[test]
    fn a_token_is_the_card_of_the_body() {
        let body = body_of(&pairs(&[
            ("payment.method", "card"),
            ("payment.token", "card_1ABC"),
        ]));
        assert_eq!(
            body,
            json!({"payment": {"method": "card", "token": "card_1ABC"}})
        );
    }

    #[test]
    fn cash_on_delivery_leaves_the_card_out() {
        let body = body_of(&pairs(&[
            ("payment.method", "cash_on_delivery"),
            ("payment.card.exp_month", "soon"),
            ("payment.token", ""),
        ]));
        assert_eq!(body, json!({"payment": {"method": "cash_on_delivery"}}));
    }

    #[test]
    fn the_page_shows_every_described_field() {
        let shown: Vec<&str> = CONTACT
            .iter()
            .chain(ADDRESS)
            .chain(CARD)
            .chain([&COUNTRY, &TOKEN])
            .map(|spec| spec.0)
            .chain(CHOICES.iter().copied())
            // Hidden: the total shown, posted back as `expected_total`.
            .chain(["expected_total"])
            .collect();
        for (path, _) in CheckoutForm::DESCRIPTION.leaves() {
            assert!(shown.contains(&path.as_str()), "{path} is not on the page");
        }
        assert!(required("shipping_address.city") && !required("shipping_address.line2"));
        assert!(!required("payment.card.number"), "only for a card");
    }

    #[test]
    fn ids_follow_the_contract() {
        assert_eq!(
            dom_id("field", "shipping_address.postal_code"),
            "field-shipping_address-postal_code"
        );
        assert_eq!(
            dom_id("error", "payment.card.number"),
            "error-payment-card-number"
        );
        assert_ne!(idempotency_key(), idempotency_key());
    }
}
