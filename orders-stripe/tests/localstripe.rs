//! The client against a real localstripe (a stateful fake of Stripe's API
//! in Python), one fresh server per test: the manual-capture lifecycle,
//! declines, 3-D Secure, webhooks it signs and delivers, and a provider
//! that goes away or answers too slowly.

mod support;

use std::time::Duration;

use orders_stripe::{
    ConfirmPaymentIntent, CreatePaymentIntent, CreateRefund, Currency, EventObject, IdempotencyKey,
    NextAction, PaymentIntent, PaymentIntentId, PaymentIntentStatus, RefundStatus, StripeClient,
    StripeError, Unavailable, WebhookError, WebhookSecret, WebhookVerifier,
};
use support::Localstripe;

/// A card that authorises (localstripe's canonical test id).
const VISA: &str = "pm_card_visa";
/// A card whose charge is declined.
const DECLINED: &str = "pm_card_chargeCustomerFail";
/// A card that asks for 3-D Secure.
const THREE_D_SECURE: &str = "4000002500003155";

fn key(name: &str) -> IdempotencyKey {
    IdempotencyKey::new(name).unwrap()
}

fn intent_for(order: &str, amount: u64, payment_method: &str) -> CreatePaymentIntent {
    CreatePaymentIntent::new(amount, Currency::new("EUR").unwrap(), payment_method)
        .unwrap()
        .metadata("order_id", order)
        .unwrap()
}

async fn authorise(stripe: &StripeClient, order: &str, amount: u64) -> PaymentIntent {
    let intent = stripe
        .create_payment_intent(
            &intent_for(order, amount, VISA),
            &key(&format!("{order}-auth")),
        )
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresCapture);
    intent
}

/// What the charge behind an intent has had refunded (a partial capture
/// releases the rest as a refund).
async fn refunded(stripe: &StripeClient, id: &PaymentIntentId) -> u64 {
    let intent = stripe.retrieve_payment_intent(id).await.unwrap();
    let charge = intent.latest_charge.expect("a charge");
    charge.object().expect("expanded").amount_refunded
}

#[tokio::test]
async fn an_authorisation_is_captured_later() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();

    let intent = authorise(&stripe, "order-1", 4250).await;
    assert_eq!(intent.amount, 4250);
    assert_eq!(intent.currency, "eur");
    assert_eq!(intent.capture_method.as_deref(), Some("manual"));
    assert_eq!(intent.metadata["order_id"], "order-1");
    let read = stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    assert_eq!(read.status, PaymentIntentStatus::RequiresCapture);
    let charge = read
        .latest_charge
        .as_ref()
        .and_then(|c| c.object())
        .unwrap();
    assert!(!charge.captured, "authorised only");

    let captured = stripe
        .capture_payment_intent(&intent.id, None, &key("order-1-capture"))
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentIntentStatus::Succeeded);
    let read = stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    let charge = read
        .latest_charge
        .as_ref()
        .and_then(|c| c.object())
        .unwrap();
    assert!(charge.captured);
    assert_eq!(charge.amount_refunded, 0);
}

#[tokio::test]
async fn a_partial_capture_releases_the_rest() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let intent = authorise(&stripe, "order-2", 1000).await;

    let captured = stripe
        .capture_payment_intent(&intent.id, Some(600), &key("order-2-capture"))
        .await
        .unwrap();

    assert_eq!(captured.status, PaymentIntentStatus::Succeeded);
    assert_eq!(refunded(&stripe, &intent.id).await, 400);
}

#[tokio::test]
async fn a_confirmation_authorises_an_unconfirmed_intent() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let params = intent_for("order-3", 1000, VISA).confirm(false);
    let intent = stripe
        .create_payment_intent(&params, &key("order-3-create"))
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresConfirmation);

    let confirmed = stripe
        .confirm_payment_intent(
            &intent.id,
            &ConfirmPaymentIntent::new(),
            &key("order-3-confirm"),
        )
        .await
        .unwrap();

    assert_eq!(confirmed.status, PaymentIntentStatus::RequiresCapture);
}

#[tokio::test]
async fn a_cancelled_authorisation_is_void() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let intent = authorise(&stripe, "order-4", 1000).await;

    let cancelled = stripe
        .cancel_payment_intent(&intent.id, &key("order-4-void"))
        .await
        .unwrap();

    assert_eq!(cancelled.status, PaymentIntentStatus::Canceled);
    let read = stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    assert_eq!(read.status, PaymentIntentStatus::Canceled);
    let again = stripe
        .cancel_payment_intent(&intent.id, &key("order-4-void-again"))
        .await;
    assert!(
        matches!(&again, Err(StripeError::InvalidRequest(e)) if e.status == 400),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_capture_is_refunded_in_part_then_in_full() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let intent = authorise(&stripe, "order-5", 1000).await;
    stripe
        .capture_payment_intent(&intent.id, None, &key("order-5-capture"))
        .await
        .unwrap();

    let part = CreateRefund::partial(intent.id.clone(), 300)
        .unwrap()
        .metadata("order_id", "order-5")
        .unwrap();
    let first = stripe
        .create_refund(&part, &key("order-5-refund-1"))
        .await
        .unwrap();
    assert_eq!(first.amount, 300);
    assert_eq!(first.status, RefundStatus::Succeeded);
    assert_eq!(first.payment_intent.as_deref(), Some(intent.id.as_str()));
    assert_eq!(first.metadata["order_id"], "order-5");
    assert_eq!(refunded(&stripe, &intent.id).await, 300);

    let rest = CreateRefund::partial(intent.id.clone(), 700).unwrap();
    let second = stripe
        .create_refund(&rest, &key("order-5-refund-2"))
        .await
        .unwrap();
    assert_eq!(second.amount, 700);
    assert_eq!(refunded(&stripe, &intent.id).await, 1000);
    let read = stripe.retrieve_refund(&first.id).await.unwrap();
    assert_eq!(read, first);
}

#[tokio::test]
async fn a_full_refund_returns_the_whole_capture() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let intent = authorise(&stripe, "order-6", 1250).await;
    stripe
        .capture_payment_intent(&intent.id, None, &key("order-6-capture"))
        .await
        .unwrap();

    let refund = stripe
        .create_refund(
            &CreateRefund::full(intent.id.clone()),
            &key("order-6-refund"),
        )
        .await
        .unwrap();

    assert_eq!(refund.amount, 1250);
    assert_eq!(refunded(&stripe, &intent.id).await, 1250);
}

#[tokio::test]
async fn a_declined_card_is_a_card_error_with_its_code_and_a_failed_webhook() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let (hook_url, mut deliveries) = support::webhook_listener().await;
    let secret = "whsec_orders_decline";
    server.register_webhook(&hook_url, secret).await;

    let result = stripe
        .create_payment_intent(&intent_for("order-7", 1000, DECLINED), &key("order-7-auth"))
        .await;

    let Err(StripeError::CardDeclined(error)) = &result else {
        panic!("expected a decline, got {result:?}");
    };
    assert_eq!(error.status, 402);
    assert_eq!(error.code.as_deref(), Some("card_declined"));
    assert!(error.message.is_some());
    assert_eq!(result.unwrap_err().code(), Some("card_declined"));

    // The webhook names the order through the metadata given at creation.
    let delivery = tokio::time::timeout(Duration::from_secs(20), deliveries.recv())
        .await
        .expect("localstripe delivers the webhook within 20 s")
        .unwrap();
    let verifier = WebhookVerifier::new(WebhookSecret::new(secret).unwrap());
    let event = verifier
        .verify(&delivery.body, delivery.signature.as_deref())
        .unwrap();
    assert_eq!(event.kind, "payment_intent.payment_failed");
    let EventObject::PaymentIntent(intent) = event.object else {
        panic!("not a PaymentIntent: {:?}", event.object);
    };
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(intent.metadata["order_id"], "order-7");
    let failure = intent.last_payment_error.expect("why it failed");
    assert_eq!(failure.code.as_deref(), Some("card_declined"));
    // A replayed delivery verifies to the same event: deduplicate by its id.
    let replay = verifier
        .verify(&delivery.body, delivery.signature.as_deref())
        .unwrap();
    assert_eq!(replay.id, event.id);
}

#[tokio::test]
async fn an_unknown_intent_is_an_invalid_request() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let missing = PaymentIntentId::new("pi_doesnotexist").unwrap();

    let result = stripe.retrieve_payment_intent(&missing).await;

    assert!(
        matches!(&result, Err(StripeError::InvalidRequest(e)) if e.status == 404),
        "{result:?}"
    );
}

#[tokio::test]
async fn three_d_secure_needs_the_customer_then_captures_and_a_signed_webhook_says_so() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let (hook_url, mut deliveries) = support::webhook_listener().await;
    let secret = "whsec_orders_test_secret";
    server.register_webhook(&hook_url, secret).await;
    let card = server.card(THREE_D_SECURE).await;

    let intent = stripe
        .create_payment_intent(&intent_for("order-8", 2000, &card), &key("order-8-auth"))
        .await
        .unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresAction);
    assert_eq!(intent.next_action, Some(NextAction::UseStripeSdk));
    let client_secret = intent.client_secret.clone().expect("a client secret");

    server
        .authenticate(&intent.id, client_secret.expose(), true)
        .await;
    let read = stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    assert_eq!(read.status, PaymentIntentStatus::RequiresCapture);
    assert_eq!(read.next_action, None);
    stripe
        .capture_payment_intent(&intent.id, None, &key("order-8-capture"))
        .await
        .unwrap();

    let delivery = tokio::time::timeout(Duration::from_secs(20), deliveries.recv())
        .await
        .expect("localstripe delivers the webhook within 20 s")
        .unwrap();
    let verifier = WebhookVerifier::new(WebhookSecret::new(secret).unwrap());
    let event = verifier
        .verify(&delivery.body, delivery.signature.as_deref())
        .unwrap();
    assert!(event.id.starts_with("evt_"));
    assert_eq!(event.kind, "payment_intent.succeeded");
    let EventObject::PaymentIntent(object) = event.object else {
        panic!("not a PaymentIntent: {:?}", event.object);
    };
    assert_eq!(object.id, intent.id);
    assert_eq!(object.status, PaymentIntentStatus::Succeeded);
    assert_eq!(object.metadata["order_id"], "order-8");

    // The same delivery, forged: another secret, a changed body, replayed late.
    let forger = WebhookVerifier::new(WebhookSecret::new("whsec_not_the_secret").unwrap());
    assert_eq!(
        forger.verify(&delivery.body, delivery.signature.as_deref()),
        Err(WebhookError::SignatureMismatch)
    );
    let tampered = String::from_utf8(delivery.body.to_vec())
        .unwrap()
        .replace("\"amount\": 2000", "\"amount\": 1");
    assert_ne!(
        tampered.as_bytes(),
        &delivery.body[..],
        "the body was changed"
    );
    assert_eq!(
        verifier.verify(tampered.as_bytes(), delivery.signature.as_deref()),
        Err(WebhookError::SignatureMismatch)
    );
    assert_eq!(
        verifier.verify(&delivery.body, None),
        Err(WebhookError::MissingHeader)
    );
    let later = event.created + 301;
    assert!(matches!(
        verifier.verify_at(&delivery.body, delivery.signature.as_deref(), later),
        Err(WebhookError::Stale { .. })
    ));
}

#[tokio::test]
async fn a_failed_three_d_secure_leaves_nothing_authorised() {
    let Some(server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let card = server.card(THREE_D_SECURE).await;
    let intent = stripe
        .create_payment_intent(&intent_for("order-9", 2000, &card), &key("order-9-auth"))
        .await
        .unwrap();
    let client_secret = intent.client_secret.clone().unwrap();

    server
        .authenticate(&intent.id, client_secret.expose(), false)
        .await;

    let read = stripe.retrieve_payment_intent(&intent.id).await.unwrap();
    assert_eq!(read.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = read.last_payment_error.expect("why it failed");
    assert_eq!(
        error.code.as_deref(),
        Some("payment_intent_authentication_failure")
    );
}

#[tokio::test]
async fn a_provider_stopped_mid_flow_is_unavailable_not_a_panic() {
    let Some(mut server) = Localstripe::start() else {
        return;
    };
    let stripe = server.client();
    let intent = authorise(&stripe, "order-10", 1000).await;

    server.stop();

    let capture = stripe
        .capture_payment_intent(&intent.id, None, &key("order-10-capture"))
        .await;
    // On the pooled connection the server closed, or on a new one refused.
    assert!(
        matches!(
            &capture,
            Err(StripeError::Unavailable(
                Unavailable::Interrupted(_) | Unavailable::Connect(_)
            ))
        ),
        "{capture:?}"
    );
    assert!(capture.unwrap_err().is_retryable());
    let read = stripe.retrieve_payment_intent(&intent.id).await;
    assert!(
        matches!(
            &read,
            Err(StripeError::Unavailable(Unavailable::Connect(_)))
        ),
        "{read:?}"
    );
}
