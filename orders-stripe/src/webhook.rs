//! Stripe's webhook signatures. Stripe signs `"{t}.{payload}"` with
//! HMAC-SHA256 under the endpoint's secret and sends
//! `Stripe-Signature: t=1492774577,v1=5257a8…[,v1=…][,v0=…]`; more than one
//! `v1` appears while a secret is being rolled. A webhook is accepted when
//! one `v1` matches (compared in constant time) and `t` is within the
//! tolerance of now, so a captured request cannot be replayed later. The
//! signature is checked over the exact bytes received, before any parsing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::{PaymentIntent, Refund, WebhookSecret};

/// Why a webhook was refused. Answer it with 400 and change nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// No `Stripe-Signature` header.
    #[error("no Stripe-Signature header")]
    MissingHeader,
    /// The header is not `t=…,v1=…`.
    #[error("malformed Stripe-Signature header: {0}")]
    MalformedHeader(&'static str),
    /// No `v1` signature matches the payload under the secret.
    #[error("no signature matches the payload")]
    SignatureMismatch,
    /// The signed timestamp is further from now than the tolerance.
    #[error("timestamp {timestamp} is outside the tolerance (now {now})")]
    Stale {
        /// The header's `t`.
        timestamp: i64,
        /// Now, in Unix seconds.
        now: i64,
    },
    /// Signed correctly, but not a Stripe event.
    #[error("the payload is not an event: {0}")]
    InvalidPayload(String),
}

/// The object an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventObject {
    /// `payment_intent.*` events.
    PaymentIntent(Box<PaymentIntent>),
    /// `refund.*` and `charge.refund.updated` events.
    Refund(Box<Refund>),
    /// Any other object, as sent.
    Other(serde_json::Value),
}

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// `evt_…`: the key to process each event once (Stripe may send one
    /// twice, and in any order).
    pub id: String,
    /// `payment_intent.succeeded`, `payment_intent.payment_failed`, …
    pub kind: String,
    /// When the event happened (Unix seconds), to order events of one object.
    pub created: i64,
    /// `data.object`: the object as it stood when the event happened.
    pub object: EventObject,
}

/// Checks webhooks for one endpoint secret.
#[derive(Debug, Clone)]
pub struct WebhookVerifier {
    secret: WebhookSecret,
    tolerance: Duration,
}

impl WebhookVerifier {
    /// A verifier with Stripe's default tolerance of 5 minutes.
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secret,
            tolerance: Duration::from_secs(300),
        }
    }

    /// Another tolerance between the signed timestamp and now.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a webhook as received now: its exact body and its
    /// `Stripe-Signature` header (`None` when it had none).
    ///
    /// # Errors
    /// A [`WebhookError`] for a missing, malformed, forged or stale
    /// signature, or a payload that is not an event.
    pub fn verify(&self, payload: &[u8], header: Option<&str>) -> Result<Event, WebhookError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
            });
        self.verify_at(payload, header, now)
    }

    /// [`verify`](Self::verify) at a given time (Unix seconds), for tests.
    ///
    /// # Errors
    /// As [`verify`](Self::verify).
    pub fn verify_at(
        &self,
        payload: &[u8],
        header: Option<&str>,
        now: i64,
    ) -> Result<Event, WebhookError> {
        let header = header.ok_or(WebhookError::MissingHeader)?;
        let (timestamp, signatures) = parse_header(header)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(payload);
        // `verify_slice` compares in constant time.
        if !signatures
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
        {
            return Err(WebhookError::SignatureMismatch);
        }
        let timestamp: i64 = timestamp
            .parse()
            .map_err(|_| WebhookError::MalformedHeader("t is not a number"))?;
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if now.abs_diff(timestamp) > tolerance.unsigned_abs() {
            return Err(WebhookError::Stale { timestamp, now });
        }
        parse_event(payload)
    }
}

/// `t` (as sent, since it is what was signed) and every `v1`, decoded.
fn parse_header(header: &str) -> Result<(&str, Vec<Vec<u8>>), WebhookError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(WebhookError::MalformedHeader("an entry without ="))?;
        match key {
            "t" if timestamp.is_some() => {
                return Err(WebhookError::MalformedHeader("more than one t"));
            }
            "t" => timestamp = Some(value),
            "v1" => signatures.push(
                hex::decode(value).map_err(|_| WebhookError::MalformedHeader("v1 is not hex"))?,
            ),
            _ => {} // v0 (test mode's old scheme) and future schemes
        }
    }
    let timestamp = timestamp.ok_or(WebhookError::MalformedHeader("no t"))?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WebhookError::MalformedHeader("t is not a number"));
    }
    if signatures.is_empty() {
        return Err(WebhookError::MalformedHeader("no v1 signature"));
    }
    Ok((timestamp, signatures))
}

fn parse_event(payload: &[u8]) -> Result<Event, WebhookError> {
    #[derive(Deserialize)]
    struct Data {
        object: serde_json::Value,
    }
    #[derive(Deserialize)]
    struct Raw {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        created: i64,
        data: Data,
    }
    let invalid = |error: serde_json::Error| WebhookError::InvalidPayload(error.to_string());
    let raw: Raw = serde_json::from_slice(payload).map_err(invalid)?;
    let object = raw.data.object;
    let object = match object.get("object").and_then(serde_json::Value::as_str) {
        Some("payment_intent") => {
            EventObject::PaymentIntent(Box::new(serde_json::from_value(object).map_err(invalid)?))
        }
        Some("refund") => {
            EventObject::Refund(Box::new(serde_json::from_value(object).map_err(invalid)?))
        }
        _ => EventObject::Other(object),
    };
    Ok(Event {
        id: raw.id,
        kind: raw.kind,
        created: raw.created,
        object,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PaymentIntentStatus;

    /// Headers computed by Python's hmac (tests/fixtures/make_webhook_vectors.py).
    #[derive(Deserialize)]
    struct Vectors {
        secret: String,
        timestamp: i64,
        payload: String,
        valid: Vec<String>,
        forged: Vec<String>,
    }

    fn vectors() -> (Vectors, WebhookVerifier) {
        let vectors: Vectors =
            serde_json::from_str(include_str!("../tests/fixtures/webhook_vectors.json")).unwrap();
        let verifier = WebhookVerifier::new(WebhookSecret::new(vectors.secret.clone()).unwrap());
        (vectors, verifier)
    }

    #[test]
    fn independently_signed_webhooks_are_accepted_and_typed() {
        let (v, verifier) = vectors();
        for header in &v.valid {
            let event = verifier
                .verify_at(v.payload.as_bytes(), Some(header), v.timestamp + 10)
                .unwrap_or_else(|e| panic!("{header}: {e}"));
            assert_eq!(event.id, "evt_1QvRk2LkdIwHu7ix");
            assert_eq!(event.kind, "payment_intent.amount_capturable_updated");
            assert_eq!(event.created, v.timestamp);
            let EventObject::PaymentIntent(intent) = event.object else {
                panic!("not a PaymentIntent");
            };
            assert_eq!(intent.status, PaymentIntentStatus::RequiresCapture);
            assert_eq!(intent.amount_capturable, Some(4250));
            assert_eq!(intent.metadata["order_id"], "42");
        }
    }

    #[test]
    fn forged_signatures_are_refused() {
        let (v, verifier) = vectors();
        for header in &v.forged {
            assert_eq!(
                verifier.verify_at(v.payload.as_bytes(), Some(header), v.timestamp),
                Err(WebhookError::SignatureMismatch),
                "{header}"
            );
        }
        let tampered = v.payload.replace("4250", "4251");
        assert_eq!(
            verifier.verify_at(tampered.as_bytes(), Some(&v.valid[0]), v.timestamp),
            Err(WebhookError::SignatureMismatch)
        );
        let other = WebhookVerifier::new(WebhookSecret::new("whsec_other").unwrap());
        assert_eq!(
            other.verify_at(v.payload.as_bytes(), Some(&v.valid[0]), v.timestamp),
            Err(WebhookError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let (v, verifier) = vectors();
        let body = v.payload.as_bytes();
        let header = Some(v.valid[0].as_str());
        assert!(verifier.verify_at(body, header, v.timestamp + 300).is_ok());
        assert_eq!(
            verifier.verify_at(body, header, v.timestamp + 301),
            Err(WebhookError::Stale {
                timestamp: v.timestamp,
                now: v.timestamp + 301
            })
        );
        assert!(matches!(
            verifier.verify_at(body, header, v.timestamp - 301),
            Err(WebhookError::Stale { .. })
        ));
        let strict = verifier.tolerance(Duration::from_secs(5));
        assert!(matches!(
            strict.verify_at(body, header, v.timestamp + 6),
            Err(WebhookError::Stale { .. })
        ));
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let (v, verifier) = vectors();
        let body = v.payload.as_bytes();
        let at = |header: &str| verifier.verify_at(body, Some(header), v.timestamp);
        assert_eq!(
            verifier.verify_at(body, None, v.timestamp),
            Err(WebhookError::MissingHeader)
        );
        let good_sig = v.valid[0].split_once(",v1=").unwrap().1.to_owned();
        for header in [
            "".to_owned(),
            "garbage".to_owned(),
            format!("v1={good_sig}"),
            format!("t={}", v.timestamp),
            format!("t=abc,v1={good_sig}"),
            format!("t=-1,v1={good_sig}"),
            format!("t={},v1=zz", v.timestamp),
            format!("t={0},t={0},v1={good_sig}", v.timestamp),
            format!("t={},v0={good_sig}", v.timestamp),
        ] {
            assert!(
                matches!(at(&header), Err(WebhookError::MalformedHeader(_))),
                "{header}: {:?}",
                at(&header)
            );
        }
    }

    #[test]
    fn a_signed_body_that_is_not_an_event_is_refused() {
        let secret = "whsec_x";
        let verifier = WebhookVerifier::new(WebhookSecret::new(secret).unwrap());
        let body = br#"{"hello": "world"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(b"100.");
        mac.update(body);
        let header = format!("t=100,v1={}", hex::encode(mac.finalize().into_bytes()));
        assert!(matches!(
            verifier.verify_at(body, Some(&header), 100),
            Err(WebhookError::InvalidPayload(_))
        ));
    }
}
