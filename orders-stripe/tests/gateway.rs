//! The Stripe adapter behind the core's `Orders` facade (in-memory store),
//! against a real localstripe, one per test: authorise and capture, capture
//! on shipment, void, refunds, declines, and 3-D Secure finished by the
//! customer's return or expired by the sweeper.

mod support;

use std::sync::Arc;

use orders_core::Error;
use orders_core::money::Money;
use orders_core::order::{Actor, CapturePolicy, NextAction, OrderStatus, PaymentStatus};
use orders_core::ports::{ManualClock, PaymentError, PaymentGateway};
use support::Localstripe;
use support::shop::{self, Setup, ada, basket, checkout, minor, stock};

/// localstripe's card that authorises.
const VISA: &str = "pm_card_visa";
/// localstripe's card whose charge is declined.
const DECLINED: &str = "pm_card_chargeCustomerFail";
/// A card number whose charge is declined.
const DECLINED_NUMBER: &str = "4000000000000341";
/// A card number that asks for 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

fn on_shipment() -> Setup {
    Setup {
        capture_policy: CapturePolicy::OnShipment,
        ..Setup::default()
    }
}

#[tokio::test]
async fn a_checkout_authorises_then_captures_the_total() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (product, cart) = basket(&orders, 5, 2).await;

    let order = checkout(&orders, &cart, VISA, Some("k-1")).await.unwrap();

    let total = order.totals().total;
    let payment = order.payment();
    assert_eq!(order.status(), OrderStatus::Paid);
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(
        (payment.authorized, payment.captured, payment.refunded),
        (total, total, Money::zero(total.currency()))
    );
    assert_eq!(stock(&orders, &product).await, 3);
    let reference = payment.reference.clone().expect("a PaymentIntent id");
    let intent = server.payment_intent(&reference).await;
    assert_eq!(intent["status"], "succeeded");
    assert_eq!(intent["capture_method"], "manual");
    assert_eq!(intent["amount"], minor(total));
    assert_eq!(intent["currency"], "usd");
    // The checkout's key (customer and Idempotency-Key): the same on
    // every retry, as Stripe requires of a retried request.
    assert_eq!(intent["metadata"]["checkout_key"], "ada:k-1");
    assert_eq!(intent["latest_charge"]["captured"], true);
}

#[tokio::test]
async fn under_on_shipment_a_fulfilment_captures_part_once() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), on_shipment());
    let (_, cart) = basket(&orders, 5, 2).await;
    let order = checkout(&orders, &cart, VISA, None).await.unwrap();
    let total = order.totals().total;
    assert_eq!(order.status(), OrderStatus::Paid);
    assert_eq!(order.payment().status, PaymentStatus::Authorized);
    assert_eq!(order.payment().captured, Money::zero(total.currency()));
    let reference = order.payment().reference.clone().unwrap();
    assert_eq!(
        server.payment_intent(&reference).await["status"],
        "requires_capture"
    );

    let part = Money::from_minor(2000, total.currency()).unwrap();
    let shipped = orders
        .capture_payment(Actor::system(), order.id(), Some(part), "fulfilment-1")
        .await
        .unwrap();

    let payment = shipped.payment();
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!((payment.authorized, payment.captured), (total, part));
    assert_eq!(payment.refunded, Money::zero(total.currency()));
    let intent = server.payment_intent(&reference).await;
    assert_eq!(intent["status"], "succeeded");
    // localstripe releases the rest as a refund on the charge: not ours.
    assert_eq!(
        intent["latest_charge"]["amount_refunded"],
        minor(total) - 2000
    );
    // The same fulfilment again captures nothing more.
    let again = orders
        .capture_payment(Actor::system(), order.id(), Some(part), "fulfilment-1")
        .await
        .unwrap();
    assert_eq!(again.payment(), shipped.payment());
    assert_eq!(again.version(), shipped.version());
    // Asked of the adapter itself (as after a lost answer): localstripe
    // keeps no idempotency keys and refuses a second capture; the adapter
    // answers with the capture already there, not a second one.
    let gateway = shop::gateway(&server.url(), std::time::Duration::from_secs(10));
    let key = format!("capture:{}:fulfilment-1", order.id());
    let state = gateway.capture(&reference, part, &key).await.unwrap();
    assert_eq!(
        (state.status, state.captured),
        (PaymentStatus::Captured, part)
    );
    let too_much = gateway.capture(&reference, total, "another").await;
    assert_eq!(too_much.map(|s| s.captured), Ok(part));
}

#[tokio::test]
async fn a_cancel_before_capture_voids_at_stripe_and_returns_stock() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), on_shipment());
    let (product, cart) = basket(&orders, 5, 2).await;
    let order = checkout(&orders, &cart, VISA, None).await.unwrap();
    assert_eq!(stock(&orders, &product).await, 3);

    let cancelled = orders.cancel(&ada(), order.id(), None).await.unwrap();

    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    assert_eq!(cancelled.payment().status, PaymentStatus::Voided);
    assert_eq!(stock(&orders, &product).await, 5);
    let reference = order.payment().reference.clone().unwrap();
    assert_eq!(
        server.payment_intent(&reference).await["status"],
        "canceled"
    );
    // Voiding it again succeeds, and changes nothing.
    let gateway = shop::gateway(&server.url(), std::time::Duration::from_secs(10));
    let again = gateway.void(&reference).await.unwrap();
    assert_eq!(again.status, PaymentStatus::Voided);
    // A captured payment cannot be voided.
    let (_, cart) = basket(&orders, 5, 1).await;
    let other = checkout(&orders, &cart, VISA, None).await.unwrap();
    let other_ref = other.payment().reference.clone().unwrap();
    let captured = gateway.capture(&other_ref, other.totals().total, "c").await;
    assert_eq!(captured.map(|s| s.status), Ok(PaymentStatus::Captured));
    assert!(matches!(
        gateway.void(&other_ref).await,
        Err(PaymentError::Refused(_))
    ));
}

#[tokio::test]
async fn a_capture_is_refunded_in_part_then_in_full() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (_, cart) = basket(&orders, 5, 1).await;
    let order = checkout(&orders, &cart, VISA, None).await.unwrap();
    let total = order.totals().total;
    let part = Money::from_minor(500, total.currency()).unwrap();
    let rest = total.checked_sub(part).unwrap();

    let partly = orders
        .refund_payment(Actor::system(), order.id(), part, "refund-1")
        .await
        .unwrap();
    assert_eq!(partly.payment().status, PaymentStatus::PartiallyRefunded);
    assert_eq!(
        (partly.payment().captured, partly.payment().refunded),
        (total, part)
    );
    assert_eq!(
        partly.status(),
        OrderStatus::Paid,
        "a refund moves money only"
    );

    let fully = orders
        .refund_payment(Actor::system(), order.id(), rest, "refund-2")
        .await
        .unwrap();
    assert_eq!(fully.payment().status, PaymentStatus::Refunded);
    assert_eq!(fully.payment().refunded, total);
    // The adapter names the amount of every refund: localstripe's quirk (a
    // refund without an amount refunds the whole charge again, even after
    // a partial one) never comes into play, and the charge has had exactly
    // the total refunded, in two refunds made through the intent.
    let reference = order.payment().reference.clone().unwrap();
    let charge = &server.payment_intent(&reference).await["latest_charge"];
    assert_eq!(charge["amount_refunded"], minor(total));
    let refunds: Vec<u64> = charge["refunds"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["amount"].as_u64().unwrap())
        .collect();
    assert_eq!(refunds.iter().sum::<u64>(), minor(total));
    assert!(refunds.contains(&500), "{refunds:?}");
}

#[tokio::test]
async fn a_declined_card_places_nothing_and_takes_no_stock() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (product, cart) = basket(&orders, 5, 2).await;
    let declined_number = server.card(DECLINED_NUMBER).await;

    for token in [DECLINED, declined_number.as_str()] {
        let error = checkout(&orders, &cart, token, Some(token))
            .await
            .unwrap_err();
        assert_eq!(
            error,
            Error::PaymentDeclined {
                field: "payment.token"
            }
        );
        assert_eq!(error.code(), "payment_declined");
    }

    assert!(shop::all_orders(&orders).await.is_empty());
    assert_eq!(stock(&orders, &product).await, 5);
    // Each attempt left a failed intent at Stripe, holding nothing.
    let intents = server.payment_intents().await;
    assert_eq!(intents.len(), 2);
    assert!(
        intents
            .iter()
            .all(|i| i["status"] == "requires_payment_method"),
        "{intents:?}"
    );
    // The cart is still open: a good card goes through.
    let order = checkout(&orders, &cart, VISA, None).await.unwrap();
    assert_eq!(order.status(), OrderStatus::Paid);
}

#[tokio::test]
async fn an_unknown_payment_method_is_a_field_error() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (product, cart) = basket(&orders, 5, 1).await;

    let error = checkout(&orders, &cart, "pm_doesnotexist", None)
        .await
        .unwrap_err();

    let fields = error.field_errors().expect("a field error");
    assert!(fields.contains("payment.token"), "{error:?}");
    assert!(shop::all_orders(&orders).await.is_empty());
    assert_eq!(stock(&orders, &product).await, 5);
}

#[tokio::test]
async fn three_d_secure_is_finished_by_the_customers_return() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (product, cart) = basket(&orders, 5, 1).await;
    let card = server.card(THREE_D_SECURE).await;

    let order = checkout(&orders, &cart, &card, None).await.unwrap();

    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    assert_eq!(order.payment().status, PaymentStatus::RequiresAction);
    let Some(NextAction::UseSdk { client_secret }) = order.payment().next_action.clone() else {
        panic!("expected use_sdk: {:?}", order.payment().next_action);
    };
    assert_eq!(stock(&orders, &product).await, 4, "stock is held");
    let reference = order.payment().reference.clone().unwrap();
    assert!(client_secret.starts_with(&format!("{reference}_secret_")));

    // Back before authenticating: nothing to finish yet.
    let early = orders.confirm_payment(&ada(), order.id()).await.unwrap();
    assert_eq!(early.status(), OrderStatus::AwaitingPayment);
    assert_eq!(early.version(), order.version());

    let id = orders_stripe::PaymentIntentId::new(&reference).unwrap();
    server.authenticate(&id, &client_secret, true).await;
    let paid = orders.confirm_payment(&ada(), order.id()).await.unwrap();

    let total = order.totals().total;
    assert_eq!(paid.status(), OrderStatus::Paid);
    assert_eq!(paid.payment().status, PaymentStatus::Captured);
    assert_eq!(
        (paid.payment().authorized, paid.payment().captured),
        (total, total)
    );
    assert_eq!(paid.payment().next_action, None);
    assert_eq!(
        server.payment_intent(&reference).await["status"],
        "succeeded"
    );
    assert_eq!(stock(&orders, &product).await, 4);
    // Coming back again changes nothing.
    let again = orders.confirm_payment(&ada(), order.id()).await.unwrap();
    assert_eq!(again.version(), paid.version());
}

#[tokio::test]
async fn a_failed_three_d_secure_cancels_and_returns_stock() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(&server.url(), Setup::default());
    let (product, cart) = basket(&orders, 5, 1).await;
    let card = server.card(THREE_D_SECURE).await;
    let order = checkout(&orders, &cart, &card, None).await.unwrap();
    let Some(NextAction::UseSdk { client_secret }) = order.payment().next_action.clone() else {
        panic!("expected use_sdk");
    };
    let reference = order.payment().reference.clone().unwrap();
    let id = orders_stripe::PaymentIntentId::new(&reference).unwrap();

    server.authenticate(&id, &client_secret, false).await;
    let failed = orders.confirm_payment(&ada(), order.id()).await.unwrap();

    assert_eq!(failed.status(), OrderStatus::Cancelled);
    assert_eq!(failed.payment().status, PaymentStatus::Failed);
    assert_eq!(stock(&orders, &product).await, 5);
}

#[tokio::test]
async fn an_expired_action_is_swept_cancelled_at_stripe_and_its_stock_returned() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let orders = shop::shop(
        &server.url(),
        Setup {
            clock: Some(clock.clone()),
            ..Setup::default()
        },
    );
    let (product, cart) = basket(&orders, 5, 2).await;
    let card = server.card(THREE_D_SECURE).await;
    let order = checkout(&orders, &cart, &card, None).await.unwrap();
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    assert_eq!(stock(&orders, &product).await, 3);

    // Within the hold: nothing to sweep.
    let report = orders.sweep_payments(10).await.unwrap();
    assert!(report.cancelled.is_empty(), "{report:?}");

    let hold = orders.config().payment_hold;
    clock.advance(hold + chrono::Duration::minutes(1));
    let report = orders.sweep_payments(10).await.unwrap();

    assert_eq!(report.cancelled, vec![order.id().clone()]);
    let swept = shop::order(&orders, order.id()).await;
    assert_eq!(swept.status(), OrderStatus::Cancelled);
    assert_eq!(swept.payment().status, PaymentStatus::Voided);
    assert_eq!(stock(&orders, &product).await, 5);
    let reference = order.payment().reference.clone().unwrap();
    assert_eq!(
        server.payment_intent(&reference).await["status"],
        "canceled"
    );
}
