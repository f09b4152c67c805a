//! The descriptions against the parsers: for every field of every form,
//! the values at its described bounds are accepted and the values just
//! past them refused (on that field's path), every described enum value is
//! accepted, a required field is reported missing and an optional one is
//! not, and a value of another JSON type is a type error that comes with
//! the value errors of the other fields.

use chrono::{NaiveDate, TimeZone, Utc};
use serde_json::{Map, Value, json};

use super::{Description, Field, Form, JsonType, Kind};
use crate::cart::{AddItemForm, ApplyDiscountForm, CreateCartForm, SetQuantityForm};
use crate::catalogue::{NewProductForm, ProductEditForm, VersionPolicy};
use crate::checkout::{CheckoutForm, FormContext};
use crate::discount::NewDiscountForm;
use crate::money::Currency;
use crate::order::{
    CancelForm, FulfilmentForm, NoteForm, ReceiveForm, RefundForm, RejectForm, ReturnForm,
    TransitionForm,
};
use crate::validation::ValidationErrors;

type Check = fn(&Map<String, Value>) -> Result<(), ValidationErrors>;

fn checked<F: Form, T>(
    object: &Map<String, Value>,
    validate: impl FnOnce(F) -> Result<T, ValidationErrors>,
) -> Result<(), ValidationErrors> {
    F::read(object).validate(validate).map(|_| ())
}

fn checkout(object: &Map<String, Value>) -> Result<(), ValidationErrors> {
    let context = FormContext {
        today: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        shipping_methods: &["standard", "express"],
    };
    checked(object, |form: CheckoutForm| form.validate(&context))
}

/// Every form, a valid body of it, and its validation.
fn forms() -> Vec<(&'static Description, Value, Check)> {
    vec![
        (
            CheckoutForm::DESCRIPTION,
            json!({
                "email": "ada@example.com",
                "shipping_address": {"full_name": "Ada", "line1": "1 Main St", "city": "Cork",
                    "postal_code": "T12", "country": "IE"},
                "shipping_method": "standard",
                "payment": {"method": "card", "card": {"number": "4242424242424242",
                    "exp_month": 12, "exp_year": 2030, "cvc": "123", "holder": "Ada"}},
            }),
            checkout,
        ),
        (
            NewProductForm::DESCRIPTION,
            json!({"sku": "MUG-1", "name": "Mug", "price": "12.00", "currency": "USD", "stock": 3}),
            |o| checked(o, NewProductForm::validate),
        ),
        (ProductEditForm::DESCRIPTION, json!({"version": 1}), |o| {
            checked(o, |f: ProductEditForm| {
                f.validate(Currency::USD, VersionPolicy::ForStockCount)
            })
        }),
        (
            NewDiscountForm::DESCRIPTION,
            json!({"code": "TEN", "kind": "percent", "value": "10"}),
            |o| {
                let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
                checked(o, |f: NewDiscountForm| f.validate(Currency::USD, now))
            },
        ),
        (TransitionForm::DESCRIPTION, json!({"to": "paid"}), |o| {
            checked(o, TransitionForm::validate)
        }),
        (CancelForm::DESCRIPTION, json!({}), |o| {
            checked(o, CancelForm::validate)
        }),
        (CreateCartForm::DESCRIPTION, json!({}), |o| {
            checked(o, CreateCartForm::validate)
        }),
        (
            AddItemForm::DESCRIPTION,
            json!({"product_id": "p1", "quantity": 1}),
            |o| checked(o, AddItemForm::validate),
        ),
        (SetQuantityForm::DESCRIPTION, json!({"quantity": 0}), |o| {
            checked(o, SetQuantityForm::validate)
        }),
        (
            ApplyDiscountForm::DESCRIPTION,
            json!({"code": "TEN"}),
            |o| checked(o, ApplyDiscountForm::validate),
        ),
        (
            FulfilmentForm::DESCRIPTION,
            json!({"lines": [{"product_id": "p1", "quantity": 1}], "tracking_number": "T1"}),
            |o| checked(o, FulfilmentForm::validate),
        ),
        (
            ReturnForm::DESCRIPTION,
            json!({"lines": [{"product_id": "p1", "quantity": 2}], "reason": "too big"}),
            |o| checked(o, ReturnForm::validate),
        ),
        (RefundForm::DESCRIPTION, json!({"amount": "5.00"}), |o| {
            checked(o, |f: RefundForm| f.validate(Currency::USD))
        }),
        (
            NoteForm::DESCRIPTION,
            json!({"text": "ships Monday", "visible_to_customer": true}),
            |o| checked(o, NoteForm::validate),
        ),
        (RejectForm::DESCRIPTION, json!({"note": "worn"}), |o| {
            checked(o, RejectForm::validate)
        }),
        (ReceiveForm::DESCRIPTION, json!({"restock": false}), |o| {
            checked(o, ReceiveForm::validate)
        }),
        (
            crate::webhook::WebhookForm::DESCRIPTION,
            json!({"url": "https://erp.example.com/in", "events": ["order.created"]}),
            |o| checked(o, crate::webhook::WebhookForm::validate),
        ),
    ]
}

/// Every field of `description`, nested ones included, by dotted path.
fn paths(description: &Description, prefix: &str) -> Vec<(String, &'static Field)> {
    let mut out = Vec::new();
    for field in description.fields {
        let path = format!("{prefix}{}", field.name);
        if let Kind::Object(nested) = field.kind {
            out.extend(paths(nested, &format!("{path}.")));
        }
        out.push((path, field));
    }
    out
}

/// `body` with dotted `path` set to `value` (`None` removes it).
fn with(body: &Value, path: &str, value: Option<Value>) -> Map<String, Value> {
    let mut body = body.clone();
    let (parent, key) = match path.rsplit_once('.') {
        Some((parent, key)) => (parent, key),
        None => ("", path),
    };
    let mut at = &mut body;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        at = &mut at[part];
    }
    let object = at.as_object_mut().unwrap();
    match value {
        Some(value) => object.insert(key.to_owned(), value),
        None => object.remove(key),
    };
    body.as_object().unwrap().clone()
}

/// A string of `n` characters a field of `field`'s pattern takes.
fn text_of(field: &Field, n: usize) -> String {
    match field.kind {
        Kind::Text(text) if text.format == Some("email") => {
            let domain = "@example.com";
            format!("{}{domain}", "a".repeat(n.saturating_sub(domain.len())))
        }
        Kind::Text(text) if text.format == Some("uri") && n > 18 => {
            let host = "https://a.example/";
            format!("{host}{}", "1".repeat(n.saturating_sub(host.len())))
        }
        _ => "1".repeat(n),
    }
}

/// Bounds that depend on the day, not on the description.
const DATED: &[&str] = &["payment.card.exp_year"];

#[test]
fn every_form_takes_its_bounds_and_refuses_past_them() {
    let mut checked = 0;
    for (description, base, check) in forms() {
        let errors_at = |object: Map<String, Value>, path: &str| {
            let errors = check(&object).err().unwrap_or_default();
            assert!(!errors.contains("body"), "{}: {errors}", description.name);
            errors.get(path).map(<[String]>::to_vec)
        };
        assert_eq!(errors_at(base.as_object().unwrap().clone(), ""), None);
        check(base.as_object().unwrap()).unwrap_or_else(|e| panic!("{}: {e}", description.name));
        for (path, field) in paths(description, "") {
            let at = |value: Value| errors_at(with(&base, &path, Some(value)), &path);
            let name = format!("{}.{path}", description.name);
            let missing = errors_at(with(&base, &path, None), &path);
            let required = field.required
                || field.required_when.is_some_and(|(sibling, value)| {
                    let parent = path.rsplit_once('.').map_or("", |(parent, _)| parent);
                    let sibling = format!("{parent}.{sibling}");
                    let mut at = &base;
                    for part in sibling.split('.').filter(|p| !p.is_empty()) {
                        at = &at[part];
                    }
                    at == value
                });
            assert_eq!(missing.is_some(), required, "{name} missing: {missing:?}");
            match field.kind {
                Kind::Integer { minimum, maximum } => {
                    for bound in [minimum, maximum].into_iter().flatten() {
                        if !DATED.contains(&path.as_str()) {
                            assert_eq!(at(json!(bound)), None, "{name} = {bound}");
                        }
                    }
                    if let Some(below) = minimum.and_then(|m| m.checked_sub(1)) {
                        assert!(at(json!(below)).is_some(), "{name} = {below}");
                    }
                    if let Some(above) = maximum.and_then(|m| m.checked_add(1)) {
                        assert!(at(json!(above)).is_some(), "{name} = {above}");
                    }
                }
                Kind::Text(text) if !text.one_of.is_empty() => {
                    for value in text.one_of {
                        assert_eq!(at(json!(value)), None, "{name} = {value}");
                    }
                    assert!(at(json!("not one of them")).is_some(), "{name}");
                }
                Kind::Text(text) => {
                    if let Some(max) = text.max_chars {
                        assert_eq!(at(json!(text_of(field, max))), None, "{name}: {max} chars");
                        let over = text_of(field, max + 1);
                        assert!(at(json!(over)).is_some(), "{name}: {} chars", max + 1);
                    }
                    if let Some(min) = text.min_chars {
                        let under = text_of(field, min - 1);
                        assert!(at(json!(under)).is_some(), "{name}: {} chars", min - 1);
                    }
                }
                Kind::TextList { item, .. } => {
                    for value in item.one_of {
                        assert_eq!(at(json!([value])), None, "{name} = [{value}]");
                    }
                    if !item.one_of.is_empty() {
                        assert!(at(json!(["not one of them"])).is_some(), "{name}");
                    }
                    assert!(at(json!([])).is_some(), "{name} = []");
                }
                Kind::Boolean | Kind::Object(_) | Kind::ObjectList { .. } => {}
            }
            // Another JSON type: the type error, on this path.
            let wrong = match field.kind.json_type() {
                JsonType::String => json!(7),
                _ => json!("seven"),
            };
            let message = field.kind.json_type().message().to_owned();
            assert_eq!(at(wrong), Some(vec![message]), "{name}: type");
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked}");
}

#[test]
fn a_type_error_and_a_value_error_come_together() {
    let body = json!({"sku": 12, "name": "", "price": "-1", "currency": "USD", "stock": 1});
    let errors = NewProductForm::read(body.as_object().unwrap())
        .validate(NewProductForm::validate)
        .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|(path, _)| path).collect();
    assert_eq!(paths, ["name", "price", "sku"]);
    assert_eq!(
        errors.get("sku"),
        Some(&["must be a string".to_owned()][..])
    );
}

#[test]
fn an_integer_may_be_written_with_a_zero_fraction() {
    for (quantity, ok) in [
        (json!(82.0), true),
        (json!(82.5), false),
        (json!(1e300), false),
    ] {
        let body = json!({ "quantity": quantity });
        let result =
            SetQuantityForm::read(body.as_object().unwrap()).validate(SetQuantityForm::validate);
        assert_eq!(result.is_ok(), ok, "{quantity}: {result:?}");
    }
    let body = json!({"quantity": 82.0});
    let read = SetQuantityForm::read(body.as_object().unwrap());
    assert_eq!(read.form.quantity, Some(82));
}

#[test]
fn null_is_absent_and_unknown_members_are_ignored() {
    let body = json!({"to": "paid", "note": null, "extra": [1, 2]});
    let submitted = TransitionForm::read(body.as_object().unwrap());
    assert!(submitted.type_errors.is_empty());
    assert_eq!(submitted.form.note, None);
    let nested = json!({"shipping_address": "12 Main St", "payment": {"card": []}});
    let submitted = CheckoutForm::read(nested.as_object().unwrap());
    let paths: Vec<&str> = submitted.type_errors.iter().map(|(p, _)| p).collect();
    assert_eq!(paths, ["payment.card", "shipping_address"]);
}

#[test]
fn schemas_state_the_description() {
    let schema = super::json_schema(CheckoutForm::DESCRIPTION, "#/components/schemas/");
    assert_eq!(
        schema["required"],
        json!(["email", "shipping_address", "shipping_method", "payment"])
    );
    assert_eq!(
        schema["properties"]["shipping_address"],
        json!({"$ref": "#/components/schemas/AddressInput"})
    );
    let card = super::json_schema(crate::checkout::CardForm::DESCRIPTION, "");
    assert_eq!(card["properties"]["exp_month"]["minimum"], json!(1));
    assert_eq!(card["properties"]["exp_month"]["maximum"], json!(12));
    let item = super::json_schema(SetQuantityForm::DESCRIPTION, "");
    assert_eq!(item["properties"]["quantity"]["maximum"], json!(999));
    let transition = super::json_schema(TransitionForm::DESCRIPTION, "");
    assert_eq!(
        transition["properties"]["note"]["type"],
        json!(["string", "null"])
    );
    assert_eq!(transition["properties"]["note"]["maxLength"], json!(1000));
    assert_eq!(transition["properties"]["to"]["enum"][0], json!("pending"));
    let names: Vec<&str> = CheckoutForm::DESCRIPTION
        .with_nested()
        .iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(
        names,
        [
            "CheckoutRequest",
            "AddressInput",
            "PaymentInput",
            "CardInput"
        ]
    );
}

/// Fields whose pattern says less than the parser checks, and what the
/// rest is (the rules `.ci/schemathesis.toml` lists for the same reason).
const BEYOND_THE_PATTERN: &[(&str, &str)] = &[
    ("payment.card.number", "the Luhn digit and the length"),
    (
        "payment.token",
        "a token or a card, not both (the base form pays by card)",
    ),
    ("shipping_method", "the configured methods"),
    ("expected_total", "the currency's decimals"),
    ("price", "the currency's decimals"),
    ("value", "the currency's decimals, a percentage's range"),
    ("min_subtotal", "the currency's decimals"),
    ("amount", "the order's currency's decimals"),
    (
        "url",
        "a host, no credentials or spaces; where the host resolves",
    ),
];

/// Every value a field's pattern allows (within its length) is one its
/// parser takes, but for the rules listed in [`BEYOND_THE_PATTERN`]:
/// values drawn from each pattern by proptest.
#[test]
fn what_a_pattern_allows_the_parser_takes() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut drawn = 0;
    for (description, base, check) in forms() {
        for (path, field) in paths(description, "") {
            let Kind::Text(text) = field.kind else {
                continue;
            };
            let Some(pattern) = text.pattern else {
                continue;
            };
            if BEYOND_THE_PATTERN.iter().any(|(p, _)| *p == path) {
                continue;
            }
            let unanchored = pattern.trim_start_matches('^').trim_end_matches('$');
            let strategy = proptest::string::string_regex(unanchored)
                .unwrap_or_else(|e| panic!("{path}: {pattern}: {e}"));
            for _ in 0..200 {
                let value = strategy.new_tree(&mut runner).unwrap().current();
                let chars = value.chars().count();
                if text.max_chars.is_some_and(|max| chars > max)
                    || text.min_chars.is_some_and(|min| chars < min)
                {
                    continue;
                }
                let errors = check(&with(&base, &path, Some(json!(value))))
                    .err()
                    .unwrap_or_default();
                assert!(
                    !errors.contains(&path),
                    "{}.{path} = {value:?} matches {pattern}: {errors}",
                    description.name
                );
                drawn += 1;
            }
        }
    }
    assert!(drawn > 1000, "{drawn}");
}

/// A list of objects is read element by element: a mistyped member is a
/// type error on its dotted path (`lines.1.quantity`), the rest of the
/// element and of the list kept, and an element that is no object is a
/// type error of the list.
#[test]
fn object_lists_report_errors_by_element() {
    let body = json!({
        "lines": [{"product_id": "p1", "quantity": 2}, {"product_id": "p2", "quantity": "two"}],
        "tracking_number": "T1",
    });
    let errors = FulfilmentForm::read(body.as_object().unwrap())
        .validate(FulfilmentForm::validate)
        .unwrap_err();
    assert_eq!(
        errors.get("lines.1.quantity"),
        Some(&["must be an integer".to_owned()][..])
    );
    assert_eq!(errors.len(), 1, "{errors}");
    let body = json!({"lines": [7], "tracking_number": "T1"});
    let errors = FulfilmentForm::read(body.as_object().unwrap())
        .validate(FulfilmentForm::validate)
        .unwrap_err();
    assert_eq!(
        errors.get("lines"),
        Some(&["must be an array of objects".to_owned()][..])
    );
    let schema = super::json_schema(FulfilmentForm::DESCRIPTION, "#/s/");
    assert_eq!(
        schema["properties"]["lines"]["items"]["$ref"],
        "#/s/ItemLine"
    );
    let nested: Vec<&str> = FulfilmentForm::DESCRIPTION
        .with_nested()
        .iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(nested, ["CreateFulfilment", "ItemLine"]);
}
