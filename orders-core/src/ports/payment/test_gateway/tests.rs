//! The test gateway's lifecycle: keys, declines, actions, webhooks, outages.
use super::*;
use crate::checkout::PaymentToken;
use crate::ids::OrderId;
use crate::money::Currency;

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::EUR).expect("money")
}

async fn authorize(gateway: &TestGateway, token: &str, key: &str) -> ProviderPayment {
    let token = PaymentToken::parse(token).expect("token");
    let order = OrderId::generate();
    gateway
        .authorize(Authorize::new(
            &order,
            eur(1000),
            PaymentSource::Token(&token),
            key,
        ))
        .await
        .expect("authorise")
}

/// Two test gateways (two server processes, each with its own
/// simulated network) never share a reference, so neither acts on the
/// other's payment.
#[test]
fn a_test_gateway_never_acts_on_another_gateways_payment() {
    futures_executor::block_on(async {
        let (first, second) = (TestGateway::new(), TestGateway::new());
        let theirs = authorize(&first, "test_visa", "key-1").await.reference;
        let ours = authorize(&second, "test_visa", "key-1").await.reference;
        assert_ne!(theirs, ours);
        assert_eq!(
            second.capture(&theirs, eur(1000), "c").await,
            Err(PaymentError::UnknownCharge)
        );
        second.capture(&ours, eur(1000), "c").await.expect("own");
        assert_eq!(second.captured_count(), 1);
        assert_eq!(first.authorized_count(), 1, "its own payment untouched");
    });
}

#[test]
fn retries_under_one_key_act_once() {
    futures_executor::block_on(async {
        let gateway = TestGateway::new();
        let a = authorize(&gateway, "test_visa", "k").await;
        let b = authorize(&gateway, "test_visa", "k").await;
        assert_eq!(a.reference, b.reference);
        assert_eq!(gateway.payments().len(), 1);
        for _ in 0..3 {
            let s = gateway.capture(&a.reference, eur(600), "cap-1").await;
            assert_eq!(s.expect("capture").captured, eur(600));
        }
        assert_eq!(gateway.payment(&a.reference).unwrap().captures, 1);
        // Partial refunds add up; a second full refund is refused.
        gateway.refund(&a.reference, eur(100), "r1").await.unwrap();
        gateway.refund(&a.reference, eur(100), "r1").await.unwrap();
        let s = gateway.refund(&a.reference, eur(500), "r2").await.unwrap();
        assert_eq!((s.status, s.refunded), (PaymentStatus::Refunded, eur(600)));
        assert!(matches!(
            gateway.refund(&a.reference, eur(1), "r3").await,
            Err(PaymentError::Refused(_))
        ));
    });
}

#[test]
fn declines_and_actions() {
    futures_executor::block_on(async {
        let gateway = TestGateway::new();
        let token = PaymentToken::parse("test_declined").unwrap();
        let order = OrderId::generate();
        let declined = gateway
            .authorize(Authorize::new(
                &order,
                eur(1),
                PaymentSource::Token(&token),
                "d",
            ))
            .await;
        assert_eq!(declined, Err(PaymentError::Declined));
        let fails = authorize(&gateway, "test_requires_action_fails", "f").await;
        assert!(fails.state.next_action.is_some());
        let after = gateway.complete_action(&fails.reference).await.unwrap();
        assert_eq!(after.status, PaymentStatus::Failed);
        let unknown = PaymentToken::parse("pm_unknown").unwrap();
        let invalid = gateway
            .authorize(Authorize::new(
                &order,
                eur(1),
                PaymentSource::Token(&unknown),
                "u",
            ))
            .await;
        assert_eq!(invalid, Err(PaymentError::InvalidToken));
    });
}

#[test]
fn webhooks_are_signed_and_fresh() {
    let gateway = TestGateway::new();
    let now = Utc::now();
    let (signature, body) = gateway.webhook("evt_1", "test_pi_1", now);
    let event = gateway
        .verify_webhook(&signature, body.as_bytes(), now)
        .expect("verified");
    assert_eq!(event.reference.as_deref(), Some("test_pi_1"));
    let forged = body.replace("test_pi_1", "test_pi_2");
    assert_eq!(
        gateway.verify_webhook(&signature, forged.as_bytes(), now),
        Err(WebhookError::BadSignature)
    );
    let later = now + chrono::Duration::minutes(6);
    assert_eq!(
        gateway.verify_webhook(&signature, body.as_bytes(), later),
        Err(WebhookError::Stale)
    );
    let other = TestGateway::with_webhook_secret("whsec_other");
    assert_eq!(
        other.verify_webhook(&signature, body.as_bytes(), now),
        Err(WebhookError::BadSignature)
    );
}

#[test]
fn an_outage_changes_nothing() {
    futures_executor::block_on(async {
        let gateway = TestGateway::new();
        let a = authorize(&gateway, "test_visa", "k").await;
        gateway.set_outage(true);
        assert!(matches!(
            gateway.capture(&a.reference, eur(1000), "c").await,
            Err(PaymentError::Unavailable(_))
        ));
        gateway.set_outage(false);
        let s = gateway.capture(&a.reference, eur(1000), "c").await.unwrap();
        assert_eq!(s.status, PaymentStatus::Captured);
    });
}
