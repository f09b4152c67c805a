//! A gateway for tests and demos: the lifecycle of a real provider, kept in
//! memory, with the test tokens and cards API.md names.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{
    Authorize, PaymentError, PaymentGateway, PaymentSource, ProviderPayment, WebhookError,
    WebhookEvent,
};
use crate::money::Money;
use crate::order::{NextAction, PaymentStatus, ProviderState};

/// A payment the [`TestGateway`] holds: never the card number, only what a
/// real provider's dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPayment {
    /// Where it stands, with its amounts.
    pub state: ProviderState,
    /// How many captures moved money (a retried capture under the same
    /// key does not count again).
    pub captures: u32,
    /// How many refunds moved money.
    pub refunds: u32,
    /// Whether the customer's action fails (`test_requires_action_fails`).
    fails_action: bool,
}

/// A gateway for tests and demos. Tokens, as a provider's test mode has
/// them: [`TOKEN_AUTHORIZED`](Self::TOKEN_AUTHORIZED) (`test_visa`),
/// [`TOKEN_DECLINED`](Self::TOKEN_DECLINED),
/// [`TOKEN_REQUIRES_ACTION`](Self::TOKEN_REQUIRES_ACTION) (the customer
/// must act; completed by [`PaymentGateway::complete_action`] or
/// [`TestGateway::authenticate`]) and
/// [`TOKEN_ACTION_FAILS`](Self::TOKEN_ACTION_FAILS). Raw test cards too:
/// it declines `4000000000000002`, asks for an action on
/// `4000002500003155` and authorises every other valid card.
///
/// It keeps its payments in memory: each process running it is a card
/// network of its own. References are unique across gateways (`test_pi_`
/// and a UUIDv7), so one never acts on a payment another made; it answers
/// [`PaymentError::UnknownCharge`] for those.
///
/// Its webhooks are signed like Stripe's, in `Orders-Test-Signature:
/// t=UNIX,v1=HEX(HMAC_SHA256(secret, "t.body"))`, body `{"id", "payment"}`;
/// [`TestGateway::webhook`] makes one.
///
/// ```
/// # futures_executor::block_on(async {
/// use orders_core::ids::OrderId;
/// use orders_core::checkout::PaymentToken;
/// use orders_core::money::{Currency, Money};
/// use orders_core::order::PaymentStatus;
/// use orders_core::ports::{Authorize, PaymentGateway, PaymentSource, TestGateway};
///
/// let gateway = TestGateway::new();
/// let order = OrderId::generate();
/// let token = PaymentToken::parse(TestGateway::TOKEN_REQUIRES_ACTION).unwrap();
/// let ten = Money::from_minor(1000, Currency::EUR).unwrap();
/// let asked = Authorize::new(&order, ten, PaymentSource::Token(&token), "key-1");
/// let payment = gateway.authorize(asked).await.unwrap();
/// assert_eq!(payment.state.status, PaymentStatus::RequiresAction);
/// // The customer comes back from their bank:
/// let state = gateway.complete_action(&payment.reference).await.unwrap();
/// assert_eq!(state.status, PaymentStatus::Authorized);
/// let state = gateway.capture(&payment.reference, ten, "capture-1").await.unwrap();
/// assert_eq!((state.status, state.captured), (PaymentStatus::Captured, ten));
/// # });
/// ```
#[derive(Debug)]
pub struct TestGateway {
    state: Mutex<TestState>,
    webhook_secret: String,
}

#[derive(Debug, Default)]
struct TestState {
    payments: HashMap<String, TestPayment>,
    /// Answers already given, by idempotency key: a retry gets the same.
    by_key: HashMap<String, Result<ProviderPayment, PaymentError>>,
    outage: bool,
}

impl Default for TestGateway {
    fn default() -> Self {
        Self::new()
    }
}

impl TestGateway {
    /// A token that authorises.
    pub const TOKEN_AUTHORIZED: &'static str = "test_visa";
    /// A token that is declined.
    pub const TOKEN_DECLINED: &'static str = "test_declined";
    /// A token whose payment needs the customer's action, which succeeds.
    pub const TOKEN_REQUIRES_ACTION: &'static str = "test_requires_action";
    /// A token whose payment needs the customer's action, which fails.
    pub const TOKEN_ACTION_FAILS: &'static str = "test_requires_action_fails";
    /// The card number this gateway always declines.
    pub const DECLINED_CARD: &'static str = "4000000000000002";
    /// The card number that needs the customer's action (as Stripe's 3-D
    /// Secure test card).
    pub const REQUIRES_ACTION_CARD: &'static str = "4000002500003155";
    /// The webhook secret of [`TestGateway::new`].
    pub const WEBHOOK_SECRET: &'static str = "whsec_test_gateway";
    /// How far a webhook's timestamp may be from now.
    pub const WEBHOOK_TOLERANCE_SECONDS: i64 = 300;

    /// A gateway with no payments.
    pub fn new() -> Self {
        Self::with_webhook_secret(Self::WEBHOOK_SECRET)
    }

    /// A gateway whose webhooks are signed with `secret`.
    pub fn with_webhook_secret(secret: impl Into<String>) -> Self {
        Self {
            state: Mutex::default(),
            webhook_secret: secret.into(),
        }
    }

    /// Every payment, by reference.
    pub fn payments(&self) -> HashMap<String, TestPayment> {
        self.lock().payments.clone()
    }

    /// One payment.
    pub fn payment(&self, reference: &str) -> Option<TestPayment> {
        self.lock().payments.get(reference).cloned()
    }

    /// How many payments have money taken and not all given back.
    pub fn captured_count(&self) -> usize {
        self.lock()
            .payments
            .values()
            .filter(|p| {
                matches!(
                    p.state.status,
                    PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
                )
            })
            .count()
    }

    /// How many payments hold money (authorised, not captured or voided).
    pub fn authorized_count(&self) -> usize {
        self.lock()
            .payments
            .values()
            .filter(|p| p.state.status == PaymentStatus::Authorized)
            .count()
    }

    /// While `down`, every call answers [`PaymentError::Unavailable`] and
    /// changes nothing (a provider outage).
    pub fn set_outage(&self, down: bool) {
        self.lock().outage = down;
    }

    /// The customer completes their action at their bank (what a provider
    /// then reports by webhook): the payment becomes authorised, or failed
    /// for [`TOKEN_ACTION_FAILS`](Self::TOKEN_ACTION_FAILS). Anything else
    /// is left as it is.
    ///
    /// # Errors
    /// [`PaymentError::UnknownCharge`].
    pub fn authenticate(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        let mut state = self.lock();
        let payment = state
            .payments
            .get_mut(reference)
            .ok_or(PaymentError::UnknownCharge)?;
        if payment.state.status == PaymentStatus::RequiresAction {
            payment.state.next_action = None;
            if payment.fails_action {
                payment.state.status = PaymentStatus::Failed;
                payment.state.authorized = Money::zero(payment.state.authorized.currency());
            } else {
                payment.state.status = PaymentStatus::Authorized;
            }
        }
        Ok(payment.state.clone())
    }

    /// A webhook about `reference`, signed at `at`: the header value and
    /// the body to post to `/api/payments/webhooks/test`.
    pub fn webhook(&self, event_id: &str, reference: &str, at: DateTime<Utc>) -> (String, String) {
        let body = serde_json::json!({ "id": event_id, "payment": reference }).to_string();
        (self.sign(&body, at.timestamp()), body)
    }

    /// The signature header value of `body` at `timestamp`.
    pub fn sign(&self, body: &str, timestamp: i64) -> String {
        let mac = self.mac(timestamp, body.as_bytes());
        format!("t={timestamp},v1={}", hex_of(&mac))
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256>>::new_from_slice(self.webhook_secret.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TestState> {
        // A panic while holding this lock leaves plain data behind; go on.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `change` on the payment under `key` once: a retry with the same
    /// key gets the first answer back.
    fn once(
        &self,
        reference: &str,
        key: &str,
        change: impl FnOnce(&mut TestPayment) -> Result<(), PaymentError>,
    ) -> Result<ProviderState, PaymentError> {
        let mut state = self.lock();
        if state.outage {
            return Err(PaymentError::Unavailable("test outage".to_owned()));
        }
        let scoped = format!("{reference}\u{0}{key}");
        if let Some(answer) = state.by_key.get(&scoped) {
            return answer.clone().map(|p| p.state);
        }
        let payment = state
            .payments
            .get_mut(reference)
            .ok_or(PaymentError::UnknownCharge)?;
        let mut changed = payment.clone();
        let answer = change(&mut changed).map(|()| ProviderPayment {
            reference: reference.to_owned(),
            state: changed.state.clone(),
        });
        if answer.is_ok() {
            *payment = changed;
        }
        state.by_key.insert(scoped, answer.clone());
        answer.map(|p| p.state)
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn minus(a: Money, b: Money) -> Result<Money, PaymentError> {
    a.checked_sub(b)
        .map_err(|e| PaymentError::Refused(e.to_string()))
}

#[async_trait]
impl PaymentGateway for TestGateway {
    fn provider(&self) -> &str {
        "test"
    }

    fn accepts_test_cards(&self) -> bool {
        true
    }

    async fn authorize(&self, request: Authorize<'_>) -> Result<ProviderPayment, PaymentError> {
        let (outcome, last4, brand) = match request.source {
            PaymentSource::Token(token) => {
                let outcome = match token.as_str() {
                    Self::TOKEN_AUTHORIZED => Outcome::Authorized,
                    Self::TOKEN_DECLINED => Outcome::Declined,
                    Self::TOKEN_REQUIRES_ACTION => Outcome::Action { fails: false },
                    Self::TOKEN_ACTION_FAILS => Outcome::Action { fails: true },
                    _ => return Err(PaymentError::InvalidToken),
                };
                (outcome, "4242".to_owned(), crate::checkout::CardBrand::Visa)
            }
            PaymentSource::TestCard(card) => {
                let outcome = match card.number().expose_digits() {
                    Self::DECLINED_CARD => Outcome::Declined,
                    Self::REQUIRES_ACTION_CARD => Outcome::Action { fails: false },
                    _ => Outcome::Authorized,
                };
                (outcome, card.last4().to_owned(), card.brand())
            }
        };
        let mut state = self.lock();
        if state.outage {
            return Err(PaymentError::Unavailable("test outage".to_owned()));
        }
        if let Some(answer) = state.by_key.get(request.idempotency_key) {
            return answer.clone();
        }
        let currency = request.amount.currency();
        let zero = Money::zero(currency);
        let reference = format!("test_pi_{}", uuid::Uuid::now_v7().simple());
        let (status, authorized, next_action, fails_action) = match outcome {
            Outcome::Declined => {
                state.by_key.insert(
                    request.idempotency_key.to_owned(),
                    Err(PaymentError::Declined),
                );
                return Err(PaymentError::Declined);
            }
            Outcome::Authorized => (PaymentStatus::Authorized, request.amount, None, false),
            Outcome::Action { fails } => (
                PaymentStatus::RequiresAction,
                request.amount,
                Some(NextAction::UseSdk {
                    client_secret: format!("{reference}_secret_test"),
                }),
                fails,
            ),
        };
        let payment = ProviderPayment {
            reference: reference.clone(),
            state: ProviderState {
                status,
                authorized,
                captured: zero,
                refunded: zero,
                next_action,
                brand: Some(brand),
                last4: Some(last4),
            },
        };
        state.payments.insert(
            reference,
            TestPayment {
                state: payment.state.clone(),
                captures: 0,
                refunds: 0,
                fails_action,
            },
        );
        state
            .by_key
            .insert(request.idempotency_key.to_owned(), Ok(payment.clone()));
        Ok(payment)
    }

    async fn complete_action(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        if self.lock().outage {
            return Err(PaymentError::Unavailable("test outage".to_owned()));
        }
        self.authenticate(reference)
    }

    async fn capture(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError> {
        self.once(reference, idempotency_key, |p| {
            let s = &mut p.state;
            // Several partial captures, while some of the authorisation is
            // left (a provider with multicapture; see
            // `PaymentGateway::capture`).
            if !matches!(
                s.status,
                PaymentStatus::Authorized
                    | PaymentStatus::Captured
                    | PaymentStatus::PartiallyRefunded
                    | PaymentStatus::Refunded
            ) {
                return Err(PaymentError::Refused(format!(
                    "cannot capture a payment that is {}",
                    s.status
                )));
            }
            let left = minus(s.authorized, s.captured)?;
            if amount.to_minor() <= 0 || amount.to_minor() > left.to_minor() {
                return Err(PaymentError::Refused(format!(
                    "cannot capture {amount} of {left} left"
                )));
            }
            s.captured = s
                .captured
                .checked_add(amount)
                .map_err(|e| PaymentError::Refused(e.to_string()))?;
            s.status = if s.refunded.is_zero() {
                PaymentStatus::Captured
            } else if s.refunded == s.captured {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            };
            p.captures += 1;
            Ok(())
        })
    }

    async fn void(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        self.once(reference, "void", |p| {
            let s = &mut p.state;
            match s.status {
                PaymentStatus::Authorized | PaymentStatus::RequiresAction => {
                    s.status = PaymentStatus::Voided;
                    s.next_action = None;
                    Ok(())
                }
                PaymentStatus::Voided | PaymentStatus::Failed => Ok(()),
                other => Err(PaymentError::Refused(format!(
                    "cannot void a payment that is {other}"
                ))),
            }
        })
    }

    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError> {
        self.once(reference, idempotency_key, |p| {
            let s = &mut p.state;
            if !matches!(
                s.status,
                PaymentStatus::Captured | PaymentStatus::PartiallyRefunded
            ) {
                return Err(PaymentError::Refused(format!(
                    "cannot refund a payment that is {}",
                    s.status
                )));
            }
            let left = minus(s.captured, s.refunded)?;
            if amount.to_minor() <= 0 || amount.to_minor() > left.to_minor() {
                return Err(PaymentError::Refused(format!(
                    "cannot refund {amount} of {left} left"
                )));
            }
            s.refunded = s
                .refunded
                .checked_add(amount)
                .map_err(|e| PaymentError::Refused(e.to_string()))?;
            s.status = if s.refunded == s.captured {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            };
            p.refunds += 1;
            Ok(())
        })
    }

    async fn read(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        let state = self.lock();
        if state.outage {
            return Err(PaymentError::Unavailable("test outage".to_owned()));
        }
        state
            .payments
            .get(reference)
            .map(|p| p.state.clone())
            .ok_or(PaymentError::UnknownCharge)
    }

    fn signature_header(&self) -> &str {
        "Orders-Test-Signature"
    }

    fn verify_webhook(
        &self,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, WebhookError> {
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in signature.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", v)) => signatures.push(v.to_owned()),
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(WebhookError::BadSignature)?;
        let expected = hex_of(&self.mac(timestamp, body));
        let matches = signatures.iter().any(|given| {
            // Constant time over equal lengths.
            given.len() == expected.len()
                && given
                    .bytes()
                    .zip(expected.bytes())
                    .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !matches {
            return Err(WebhookError::BadSignature);
        }
        if (now.timestamp() - timestamp).abs() > Self::WEBHOOK_TOLERANCE_SECONDS {
            return Err(WebhookError::Stale);
        }
        let event: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let id = event["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 255)
            .ok_or_else(|| WebhookError::Malformed("no id".to_owned()))?;
        Ok(WebhookEvent {
            id: id.to_owned(),
            reference: event["payment"].as_str().map(str::to_owned),
        })
    }
}

enum Outcome {
    Authorized,
    Declined,
    Action { fails: bool },
}

#[cfg(test)]
mod tests;
