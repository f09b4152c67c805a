//! The mapping of every engine error, and what the documents carry.

use super::*;
use orders_core::Error as E;
use orders_core::money::{Currency, Money};
use orders_core::order::OrderStatus;

fn stale_product() -> orders_core::catalogue::Product {
    orders_core::catalogue::NewProduct::new(
        orders_core::catalogue::Sku::parse("MUG").unwrap(),
        orders_core::catalogue::ProductName::parse("Mug").unwrap(),
        Money::parse_price("5", Currency::USD).unwrap(),
        7,
    )
    .into_product(chrono::Utc::now())
}

#[test]
fn a_stale_edit_carries_the_current_product() {
    let api = ApiError::from(E::Stale(Box::new(stale_product())));
    let json = api.to_json();
    assert_eq!(json["code"], "stale");
    assert_eq!(json["current"]["stock"], 7);
    assert_eq!(json["current"]["version"], 1);
    assert!(
        json["detail"]
            .as_str()
            .unwrap()
            .starts_with("This product changed since you opened it")
    );
}

fn status_code(error: E) -> (u16, String) {
    let api = ApiError::from(error);
    (api.status().as_u16(), api.code().to_owned())
}

#[test]
fn every_core_error_has_its_status_and_code() {
    let cases = [
        (E::field("x", "bad"), 422, "validation"),
        (E::NotFound("cart"), 404, "not_found"),
        (E::InsufficientStock(vec![]), 409, "insufficient_stock"),
        (E::ProductUnavailable(vec![]), 409, "product_unavailable"),
        (
            E::Transition(TransitionError::Invalid {
                from: OrderStatus::Pending,
                to: OrderStatus::Shipped,
            }),
            409,
            "invalid_transition",
        ),
        (
            E::Transition(TransitionError::TrackingNumberRequired),
            422,
            "validation",
        ),
        (
            E::Transition(TransitionError::Refused("no".into())),
            409,
            "transition_refused",
        ),
        (E::CartClosed, 409, "cart_closed"),
        (E::CartFull, 422, "cart_full"),
        (E::CartEmpty, 409, "cart_empty"),
        (
            E::CurrencyMismatch {
                cart: Currency::USD,
                product: Currency::EUR,
            },
            409,
            "currency_mismatch",
        ),
        (
            E::DiscountUnavailable("x".into()),
            409,
            "discount_unavailable",
        ),
        (
            E::PriceChanged {
                total: Money::zero(Currency::USD),
            },
            409,
            "price_changed",
        ),
        (
            E::PaymentDeclined {
                field: "payment.token",
            },
            422,
            "payment_declined",
        ),
        (E::PaymentUnavailable, 502, "payment_unavailable"),
        (E::PaymentRefused("no".into()), 409, "payment_refused"),
        (E::WebhookRejected("stale".into()), 400, "webhook_rejected"),
        (E::IdempotencyMismatch, 409, "idempotency_mismatch"),
        (E::IdempotencyInProgress, 409, "idempotency_in_progress"),
        (E::ConcurrentUpdate, 409, "concurrent_update"),
        (E::Stale(Box::new(stale_product())), 409, "stale"),
        (E::Duplicate("sku"), 409, "duplicate"),
        (E::Unavailable, 503, "storage_unavailable"),
        (E::Storage("secret detail".into()), 500, "internal"),
    ];
    for (error, status, code) in cases {
        assert_eq!(status_code(error), (status, code.to_owned()));
    }
}

#[test]
fn field_errors_and_extensions_are_in_the_document() {
    for field in ["payment.token", "payment.card.number"] {
        let declined = ApiError::from(E::PaymentDeclined { field }).to_json();
        let errors = declined["errors"].as_object().unwrap();
        assert_eq!(errors.keys().collect::<Vec<_>>(), [field], "{declined}");
    }
    let full = ApiError::from(E::CartFull).to_json();
    assert!(full["errors"]["product_id"].is_array());
    let ship = ApiError::from(E::Transition(TransitionError::TrackingNumberRequired)).to_json();
    assert!(ship["errors"]["tracking_number"].is_array());
    let price = ApiError::from(E::PriceChanged {
        total: Money::parse("9.5", Currency::USD).unwrap(),
    })
    .to_json();
    assert_eq!(price["total"], "9.50");
}

#[test]
fn storage_details_are_never_sent() {
    let doc = ApiError::from(E::Storage("password=hunter2".into())).to_json();
    assert!(!doc.to_string().contains("hunter2"));
    assert_eq!(doc["status"], 500);
}

#[test]
fn unavailable_sets_retry_after() {
    let response = ApiError::from(E::Unavailable).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
}
