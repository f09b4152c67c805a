//! A Stripe webhook as the core's [`WebhookEvent`]: verified with the
//! endpoint's secret, and pointing at the PaymentIntent it is about.
//!
//! `payment_intent.*` events name the intent itself; `charge.*` and
//! `refund.*` events name it in their object's `payment_intent`. Every
//! other event (customers, payouts…) is about no payment: the core answers
//! it 2xx and ignores it.

use chrono::{DateTime, Utc};
use orders_core::ports::{WebhookError as PortWebhookError, WebhookEvent};

use crate::{EventObject, WebhookError, WebhookVerifier};

/// Verifies `body` against its `Stripe-Signature` header at `now`.
pub(crate) fn webhook_event(
    verifier: &WebhookVerifier,
    signature: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<WebhookEvent, PortWebhookError> {
    let event = verifier
        .verify_at(body, Some(signature), now.timestamp())
        .map_err(|error| match error {
            WebhookError::Stale { .. } => PortWebhookError::Stale,
            WebhookError::InvalidPayload(reason) => PortWebhookError::Malformed(reason),
            _ => PortWebhookError::BadSignature,
        })?;
    let followed = ["payment_intent.", "charge.", "refund."]
        .iter()
        .any(|prefix| event.kind.starts_with(prefix));
    let reference = match &event.object {
        _ if !followed => None,
        EventObject::PaymentIntent(intent) => Some(intent.id.to_string()),
        EventObject::Refund(refund) => refund.payment_intent.clone(),
        EventObject::Other(object) => object
            .get("payment_intent")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
    };
    Ok(WebhookEvent {
        id: event.id,
        reference,
    })
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;
    use crate::WebhookSecret;

    const SECRET: &str = "whsec_events";
    const AT: i64 = 1_780_000_000;

    fn signed(body: &serde_json::Value, t: i64) -> (String, Vec<u8>) {
        let body = body.to_string().into_bytes();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(&body);
        let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
        (header, body)
    }

    fn event(kind: &str, object: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"id": "evt_1", "type": kind, "created": AT,
            "data": {"object": object}})
    }

    fn read(body: &serde_json::Value, t: i64) -> Result<WebhookEvent, PortWebhookError> {
        let verifier = WebhookVerifier::new(WebhookSecret::new(SECRET).unwrap());
        let (header, body) = signed(body, t);
        let now = DateTime::from_timestamp(AT, 0).unwrap();
        webhook_event(&verifier, &header, &body, now)
    }

    #[test]
    fn each_event_points_at_its_payment_intent_or_none() {
        let intent = serde_json::json!({"object": "payment_intent", "id": "pi_9",
            "amount": 100, "currency": "eur", "status": "succeeded"});
        let charge =
            serde_json::json!({"object": "charge", "id": "ch_9", "payment_intent": "pi_9"});
        let refund = serde_json::json!({"object": "refund", "id": "re_9", "amount": 100,
            "currency": "eur", "status": "succeeded", "payment_intent": "pi_9"});
        let customer = serde_json::json!({"object": "customer", "id": "cus_9"});
        for (kind, object, reference) in [
            ("payment_intent.succeeded", intent.clone(), Some("pi_9")),
            ("payment_intent.payment_failed", intent, Some("pi_9")),
            ("charge.refunded", charge.clone(), Some("pi_9")),
            ("charge.captured", charge.clone(), Some("pi_9")),
            ("refund.updated", refund, Some("pi_9")),
            ("customer.created", customer, None),
            ("review.opened", charge, None),
        ] {
            let got = read(&event(kind, object), AT).unwrap();
            assert_eq!(got.id, "evt_1");
            assert_eq!(got.reference.as_deref(), reference, "{kind}");
        }
    }

    #[test]
    fn forged_stale_and_unreadable_webhooks_are_refused() {
        let body = event(
            "charge.refunded",
            serde_json::json!({"payment_intent": "pi_9"}),
        );
        assert_eq!(read(&body, AT - 301), Err(PortWebhookError::Stale));
        let verifier = WebhookVerifier::new(WebhookSecret::new("whsec_other").unwrap());
        let (header, bytes) = signed(&body, AT);
        let now = DateTime::from_timestamp(AT, 0).unwrap();
        assert_eq!(
            webhook_event(&verifier, &header, &bytes, now),
            Err(PortWebhookError::BadSignature)
        );
        assert_eq!(
            webhook_event(&verifier, "garbage", &bytes, now),
            Err(PortWebhookError::BadSignature)
        );
        assert!(matches!(
            read(&serde_json::json!({"hello": "world"}), AT),
            Err(PortWebhookError::Malformed(_))
        ));
    }
}
