//! The checkout form's validation: every field at once, by path.

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
        [("payment.token".into(), REQUIRED.into())]
    );
    let mut body = example();
    body["payment"]["token"] = "test_visa".into();
    assert_eq!(
        messages(&validate(body).unwrap_err()),
        [(
            "payment.token".into(),
            "give a token or a card, not both".into()
        )]
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
    proptest::option::of((text(), card).prop_map(|(method, card)| PaymentForm {
        method,
        token: None,
        card,
    }))
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
