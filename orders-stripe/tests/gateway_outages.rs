//! The Stripe adapter when Stripe goes away or answers too slowly, behind
//! the core's `Orders` facade: nothing is half done on our side, and a
//! checkout retried with its idempotency key places and authorises once.

mod support;

use std::time::Duration;

use axum::http::Method;
use orders_core::Error;
use orders_core::order::{Actor, CapturePolicy, OrderStatus, PaymentStatus};
use support::shop::{self, Setup, ada, basket, checkout, stock};
use support::{Localstripe, Proxy};

/// localstripe's card that authorises.
const VISA: &str = "pm_card_visa";
/// A card number that asks for 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

#[tokio::test]
async fn stripe_stopped_after_authorising_leaves_the_order_as_stripe_said() {
    let Some(mut server) = Localstripe::start() else {
        return;
    };
    let orders = shop::shop(
        &server.url(),
        Setup {
            capture_policy: CapturePolicy::OnShipment,
            ..Setup::default()
        },
    );
    let (product, cart) = basket(&orders, 5, 2).await;
    let authorised = checkout(&orders, &cart, VISA, None).await.unwrap();
    let card = server.card(THREE_D_SECURE).await;
    let (_, other_cart) = basket(&orders, 5, 1).await;
    let waiting = checkout(&orders, &other_cart, &card, None).await.unwrap();
    assert_eq!(authorised.payment().status, PaymentStatus::Authorized);
    assert_eq!(waiting.status(), OrderStatus::AwaitingPayment);

    server.stop();

    let capture = orders
        .capture_payment(Actor::system(), authorised.id(), None, "fulfilment-1")
        .await;
    assert_eq!(capture, Err(Error::PaymentUnavailable));
    let confirm = orders.confirm_payment(&ada(), waiting.id()).await;
    assert_eq!(confirm, Err(Error::PaymentUnavailable));
    let refund = orders.cancel(&ada(), authorised.id(), None).await;
    assert_eq!(refund, Err(Error::PaymentUnavailable), "the void failed");
    // Nothing recorded: the orders are as Stripe last said.
    assert_eq!(shop::order(&orders, authorised.id()).await, authorised);
    assert_eq!(shop::order(&orders, waiting.id()).await, waiting);
    assert_eq!(stock(&orders, &product).await, 3);

    // Back, but empty (localstripe keeps its objects in memory): the
    // payments are unknown to it, and still nothing is half done here.
    server.restart();
    let capture = orders
        .capture_payment(Actor::system(), authorised.id(), None, "fulfilment-1")
        .await;
    assert_eq!(capture, Err(Error::PaymentUnavailable));
    let confirm = orders.confirm_payment(&ada(), waiting.id()).await;
    assert_eq!(confirm, Err(Error::PaymentUnavailable));
    assert_eq!(shop::order(&orders, authorised.id()).await, authorised);
    assert_eq!(shop::order(&orders, waiting.id()).await, waiting);
    // A new checkout works against the restarted provider.
    let (_, cart) = basket(&orders, 5, 1).await;
    let fresh = checkout(&orders, &cart, VISA, None).await.unwrap();
    assert_eq!(fresh.payment().status, PaymentStatus::Authorized);
}

#[tokio::test]
async fn a_checkout_that_timed_out_is_retried_with_its_key_and_places_once() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let proxy = Proxy::start(&server.url(), Duration::from_secs(3)).await;
    let orders = shop::shop(
        &proxy.url,
        Setup {
            timeout: Duration::from_millis(300),
            ..Setup::default()
        },
    );
    let (product, cart) = basket(&orders, 5, 2).await;
    let create = |proxy: &Proxy| proxy.received(&Method::POST, "/v1/payment_intents");

    let first = checkout(&orders, &cart, VISA, Some("checkout-1")).await;

    assert_eq!(first.unwrap_err(), Error::PaymentUnavailable);
    // The adapter sent it twice, with the same key, then gave up.
    let sent = create(&proxy);
    assert_eq!(sent.len(), 2, "{sent:?}");
    let key = sent[0].idempotency_key.clone().expect("an Idempotency-Key");
    assert_eq!(sent[1].idempotency_key.as_deref(), Some(key.as_str()));
    assert!(shop::all_orders(&orders).await.is_empty());
    assert_eq!(stock(&orders, &product).await, 5);

    // Stripe answers in time again; the customer's client retries.
    proxy.set_delay(Duration::ZERO);
    let placed = orders
        .checkout(
            &ada(),
            &cart,
            orders_core::testkit::token_form(VISA),
            Some("checkout-1"),
        )
        .await
        .unwrap();
    let again = orders
        .checkout(
            &ada(),
            &cart,
            orders_core::testkit::token_form(VISA),
            Some("checkout-1"),
        )
        .await
        .unwrap();

    assert!(placed.created);
    assert!(!again.created);
    assert_eq!(again.order.id(), placed.order.id());
    assert_eq!(placed.order.status(), OrderStatus::Paid);
    assert_eq!(shop::all_orders(&orders).await.len(), 1);
    assert_eq!(stock(&orders, &product).await, 3);
    let sent = create(&proxy);
    assert_eq!(sent.len(), 3, "the replay asked Stripe nothing: {sent:?}");
    assert!(
        sent.iter()
            .all(|r| r.idempotency_key.as_deref() == Some(key.as_str()))
    );
    // Authorised once: the slow attempts never reached localstripe (the
    // proxy drops a request whose client gave up while it waited), and
    // localstripe holds the one intent of the order.
    assert_eq!(proxy.sent_on(&Method::POST, "/v1/payment_intents").len(), 1);
    let intents = server.payment_intents().await;
    assert_eq!(intents.len(), 1, "{intents:?}");
    assert_eq!(
        intents[0]["id"].as_str(),
        placed.order.payment().reference.as_deref()
    );
}
