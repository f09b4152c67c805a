//! Stripe's webhooks through `Orders::payment_webhook`, as localstripe signs
//! and delivers them to a receiver on a real port: a 3-D Secure payment
//! finished by its webhook, a forged one refused, a replayed one a
//! duplicate, and events about no order ignored.

mod support;

use std::time::Duration;

use orders_core::order::{NextAction, Order, OrderStatus, PaymentStatus};
use orders_core::{Error, Orders, WebhookOutcome};
use support::shop::{self, Setup, WEBHOOK_SECRET, basket, checkout};
use support::{Delivery, Localstripe};
use tokio::sync::mpsc::UnboundedReceiver;

/// A card number that asks for 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

/// The next delivery about `intent` (others are dropped).
async fn delivery_about(deliveries: &mut UnboundedReceiver<Delivery>, intent: &str) -> Delivery {
    loop {
        let delivery = tokio::time::timeout(Duration::from_secs(20), deliveries.recv())
            .await
            .expect("localstripe delivers a webhook within 20 s")
            .expect("the receiver runs");
        let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
        if body["data"]["object"]["id"] == intent {
            return delivery;
        }
    }
}

/// A 3-D Secure order awaiting the customer, its intent authenticated at
/// localstripe and captured there (localstripe sends no event when an
/// intent becomes `requires_capture`, as Stripe's
/// `payment_intent.amount_capturable_updated`; its capture sends
/// `payment_intent.succeeded`): the order and that event's delivery.
async fn authenticated_elsewhere(
    server: &Localstripe,
    orders: &Orders,
    deliveries: &mut UnboundedReceiver<Delivery>,
) -> (Order, Delivery) {
    let (_, cart) = basket(orders, 5, 1).await;
    let card = server.card(THREE_D_SECURE).await;
    let order = checkout(orders, &cart, &card, None).await.unwrap();
    assert_eq!(order.status(), OrderStatus::AwaitingPayment);
    let Some(NextAction::UseSdk { client_secret }) = order.payment().next_action.clone() else {
        panic!("expected use_sdk");
    };
    let reference = order.payment().reference.clone().unwrap();
    let id = orders_stripe::PaymentIntentId::new(&reference).unwrap();
    server.authenticate(&id, &client_secret, true).await;
    server
        .client()
        .capture_payment_intent(
            &id,
            None,
            &orders_stripe::IdempotencyKey::new("elsewhere").unwrap(),
        )
        .await
        .unwrap();
    let delivery = delivery_about(deliveries, &reference).await;
    (order, delivery)
}

#[tokio::test]
async fn a_signed_webhook_finishes_a_three_d_secure_payment_once() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let (hook_url, mut deliveries) = support::webhook_listener().await;
    server.register_webhook(&hook_url, WEBHOOK_SECRET).await;
    let orders = shop::shop(&server.url(), Setup::default());
    let (order, delivery) = authenticated_elsewhere(&server, &orders, &mut deliveries).await;
    let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["type"], "payment_intent.succeeded");
    let signature = delivery.signature.as_deref();

    let outcome = orders
        .payment_webhook("stripe", signature, &delivery.body)
        .await
        .unwrap();

    let WebhookOutcome::Applied(paid) = outcome else {
        panic!("expected applied: {outcome:?}");
    };
    let total = order.totals().total;
    assert_eq!(paid.id(), order.id());
    assert_eq!(paid.status(), OrderStatus::Paid);
    assert_eq!(paid.payment().status, PaymentStatus::Captured);
    assert_eq!(
        (paid.payment().authorized, paid.payment().captured),
        (total, total)
    );

    // The same delivery again: a duplicate, nothing changes.
    let replayed = orders
        .payment_webhook("stripe", signature, &delivery.body)
        .await
        .unwrap();
    assert_eq!(replayed, WebhookOutcome::Duplicate);
    assert_eq!(shop::order(&orders, order.id()).await, *paid);
}

#[tokio::test]
async fn a_forged_webhook_is_refused_and_changes_nothing() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let (hook_url, mut deliveries) = support::webhook_listener().await;
    server.register_webhook(&hook_url, WEBHOOK_SECRET).await;
    let orders = shop::shop(&server.url(), Setup::default());
    let (order, delivery) = authenticated_elsewhere(&server, &orders, &mut deliveries).await;
    let signature = delivery.signature.clone().unwrap();
    let body = String::from_utf8(delivery.body.to_vec()).unwrap();

    let tampered = body.replacen("payment_intent.succeeded", "payment_intent.created", 1);
    assert_ne!(tampered, body);
    let (t, _) = signature.split_once(",v1=").unwrap();
    let forged_signature = format!("{t},v1={}", "0".repeat(64));
    // Signed with the right secret, but 301 s before localstripe signed it.
    let stale_signature = sign(&body, body_timestamp(&signature) - 301);
    for (signature, body) in [
        (Some(signature.as_str()), tampered.as_str()),
        (Some(forged_signature.as_str()), body.as_str()),
        (Some(stale_signature.as_str()), body.as_str()),
        (None, body.as_str()),
    ] {
        let refused = orders
            .payment_webhook("stripe", signature, body.as_bytes())
            .await;
        assert!(
            matches!(&refused, Err(Error::WebhookRejected(_))),
            "{signature:?}: {refused:?}"
        );
        if signature == Some(stale_signature.as_str()) {
            assert!(
                matches!(&refused, Err(Error::WebhookRejected(why)) if why.contains("timestamp")),
                "refused as stale, not as forged: {refused:?}"
            );
        }
        assert_eq!(refused.unwrap_err().code(), "webhook_rejected");
    }
    // Another provider's path is not Stripe's.
    assert_eq!(
        orders
            .payment_webhook("test", Some(&signature), body.as_bytes())
            .await,
        Err(Error::NotFound("payment provider"))
    );

    let unchanged = shop::order(&orders, order.id()).await;
    assert_eq!(unchanged, order);
    assert_eq!(unchanged.status(), OrderStatus::AwaitingPayment);
    // The genuine delivery still goes through: nothing was recorded.
    let outcome = orders
        .payment_webhook("stripe", Some(&signature), &delivery.body)
        .await
        .unwrap();
    assert!(matches!(outcome, WebhookOutcome::Applied(o) if o.status() == OrderStatus::Paid));
}

/// A `Stripe-Signature` of `body` at `t` with the shop's secret.
fn sign(body: &str, t: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn body_timestamp(signature: &str) -> i64 {
    signature
        .split(',')
        .find_map(|part| part.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn an_event_about_no_order_is_ignored() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let (hook_url, mut deliveries) = support::webhook_listener().await;
    server.register_webhook(&hook_url, WEBHOOK_SECRET).await;
    let orders = shop::shop(&server.url(), Setup::default());
    // A payment made outside the shop (its dashboard, another system).
    let stripe = server.client();
    let params = orders_stripe::CreatePaymentIntent::new(
        700,
        orders_stripe::Currency::new("usd").unwrap(),
        "pm_card_visa",
    )
    .unwrap();
    let key = orders_stripe::IdempotencyKey::new("outside").unwrap();
    let intent = stripe.create_payment_intent(&params, &key).await.unwrap();
    stripe
        .capture_payment_intent(&intent.id, None, &key)
        .await
        .unwrap();
    let delivery = delivery_about(&mut deliveries, intent.id.as_str()).await;

    let outcome = orders
        .payment_webhook("stripe", delivery.signature.as_deref(), &delivery.body)
        .await
        .unwrap();

    assert_eq!(outcome, WebhookOutcome::Ignored);
    assert!(shop::all_orders(&orders).await.is_empty());
}
