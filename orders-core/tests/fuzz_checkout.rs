//! Fuzzing the checkout form by proptest (cargo-fuzz needs a nightly
//! toolchain, CI runs stable): arbitrary JSON documents and arbitrary text
//! go through the same path as a request body, `serde_json` into
//! [`CheckoutForm`] and then [`CheckoutForm::validate`].
//!
//! The in-crate property (`validate_never_panics` in `checkout/form.rs`)
//! builds forms field by field; this one starts from bytes and JSON values,
//! and checks that a mistake is reported where it was made and nowhere else.
//!
//! The default case count keeps CI at a few seconds; a longer run:
//! `PROPTEST_CASES=100000 cargo test -p orders-core --all-features --test fuzz_checkout`.

use chrono::NaiveDate;
use orders_core::checkout::{CheckoutForm, FormContext};
use proptest::prelude::*;
use serde_json::{Value, json};

fn ctx() -> FormContext<'static> {
    FormContext {
        today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        shipping_methods: &["standard", "express"],
    }
}

/// A valid checkout body (API.md's example).
fn example() -> Value {
    json!({
        "email": "ada@example.com",
        "shipping_address": {"full_name": "Ada Lovelace", "line1": "12 St James's Square", "line2": null,
                             "city": "London", "region": null, "postal_code": "SW1Y 4JH", "country": "GB",
                             "phone": "+44 20 7946 0958"},
        "shipping_method": "standard",
        "payment": {"method": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                    "exp_year": 2030, "cvc": "123", "holder": "Ada Lovelace"}}
    })
}

/// Leaves whose validity does not depend on another field, by dotted path.
const INDEPENDENT_LEAVES: &[&str] = &[
    "email",
    "shipping_address.full_name",
    "shipping_address.line1",
    "shipping_address.line2",
    "shipping_address.city",
    "shipping_address.region",
    "shipping_address.phone",
    "shipping_method",
    "payment.card.number",
    "payment.card.cvc",
    "payment.card.holder",
];

/// Any JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        any::<String>().prop_map(Value::String),
        "[a-zA-Z0-9 @.+'-]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names, mostly the form's own so that the values reach validation.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "email",
            "shipping_address",
            "full_name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "shipping_method",
            "payment",
            "method",
            "card",
            "number",
            "exp_month",
            "exp_year",
            "cvc",
            "holder",
            "expected_total",
        ])
        .prop_map(str::to_owned),
        any::<String>(),
    ]
}

/// A string or a JSON value, for a leaf.
fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        json_value(),
    ]
}

fn set(body: &mut Value, path: &str, value: Value) {
    let mut target = body;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        if keys.peek().is_none() {
            target[key] = value;
            return;
        }
        target = &mut target[key];
    }
}

fn get<'a>(body: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(body, |v, key| &v[key])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2000)
    ))]

    /// Any text as a body: parsing and validation never panic, and a refused
    /// form always says why.
    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![any::<String>(), "[\\[\\]{}\":,a-z0-9 ]{0,64}"]) {
        if let Ok(form) = serde_json::from_str::<CheckoutForm>(&text)
            && let Err(errors) = form.validate(&ctx())
        {
            prop_assert!(!errors.is_empty());
        }
    }

    /// Any JSON document: the same.
    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        if let Ok(form) = serde_json::from_value::<CheckoutForm>(value)
            && let Err(errors) = form.validate(&ctx())
        {
            prop_assert!(!errors.is_empty());
        }
    }

    /// One leaf of a valid body replaced by anything: the form is either
    /// refused by serde (a wrong JSON type), refused with errors on that
    /// field only, or accepted, and then the value kept is the one sent
    /// (trimmed), never another field's.
    #[test]
    fn a_bad_leaf_is_reported_on_its_own_path(
        path in prop::sample::select(INDEPENDENT_LEAVES),
        value in leaf_value(),
    ) {
        let mut body = example();
        set(&mut body, path, value.clone());
        prop_assert_eq!(get(&body, path), &value);
        let Ok(form) = serde_json::from_value::<CheckoutForm>(body) else {
            // Only a wrong JSON type is refused before validation.
            prop_assert!(!value.is_string() && !value.is_null(), "{:?} refused by serde", value);
            return Ok(());
        };
        match form.validate(&ctx()) {
            Err(errors) => {
                for (field, messages) in errors.iter() {
                    prop_assert_eq!(field, path, "{:?}: {:?}", value, messages);
                    prop_assert!(!messages.is_empty());
                }
                prop_assert!(!errors.is_empty());
            }
            Ok(details) => {
                let text = value.as_str().map(str::trim).unwrap_or_default();
                let address = &details.shipping_address;
                let kept = match path {
                    "email" => Some(details.email.as_str().to_owned()),
                    "shipping_address.full_name" => Some(address.full_name().as_str().to_owned()),
                    "shipping_address.line1" => Some(address.line1().as_str().to_owned()),
                    "shipping_address.city" => Some(address.city().as_str().to_owned()),
                    "shipping_address.line2" => address.line2().map(|l| l.as_str().to_owned()),
                    "shipping_address.region" => address.region().map(|r| r.as_str().to_owned()),
                    "shipping_method" => Some(details.shipping_method.clone()),
                    _ => None, // normalised (phone, card digits) or masked
                };
                if let Some(kept) = kept
                    && path != "email"
                {
                    prop_assert_eq!(kept.as_str(), text);
                }
                // A required text field accepted means something was sent.
                if ["email", "shipping_address.full_name", "shipping_address.line1",
                    "shipping_address.city", "shipping_method"].contains(&path)
                {
                    prop_assert!(!text.is_empty(), "{} accepted {:?}", path, value);
                }
            }
        }
    }

    /// Card expiry at and past every bound: accepted exactly when the month
    /// is 1 to 12 and not before this month, else an error on the expiry
    /// fields only.
    #[test]
    fn card_expiry_bounds(month in prop_oneof![-2_i64..15, any::<i64>()], year in prop_oneof![2020_i64..2100, any::<i64>()]) {
        let mut body = example();
        body["payment"]["card"]["exp_month"] = month.into();
        body["payment"]["card"]["exp_year"] = year.into();
        let form: CheckoutForm = serde_json::from_value(body).unwrap();
        let valid_month = (1..=12).contains(&month);
        let not_past = year > 2026 || (year == 2026 && month >= 11);
        let not_too_far = year <= 2026 + orders_core::checkout::MAX_EXPIRY_YEARS_AHEAD;
        let acceptable = valid_month && not_past && not_too_far;
        match form.validate(&ctx()) {
            Ok(_) => prop_assert!(acceptable, "{month}/{year} accepted"),
            Err(errors) => {
                prop_assert!(!acceptable, "{month}/{year} refused: {errors}");
                for (field, _) in errors.iter() {
                    prop_assert!(field.starts_with("payment.card.exp_"), "{field}");
                }
            }
        }
    }
}

#[test]
fn the_example_is_valid() {
    let form: CheckoutForm = serde_json::from_value(example()).unwrap();
    let details = form.validate(&ctx()).unwrap();
    assert_eq!(
        details.shipping_address.full_name().as_str(),
        "Ada Lovelace"
    );
}
