//! The Stripe adapter of the core's payment port
//! ([`orders_core::ports::PaymentGateway`]): PaymentIntents with manual
//! capture, confirmed at creation with the customer's payment method.
//!
//! Every mutating call carries an `Idempotency-Key` derived from the
//! core's key. A call that fails after it was sent (a timeout, a broken
//! connection, a 5xx: Stripe may have acted) is sent once more with the
//! same key, which Stripe answers with the first call's result; if that
//! fails too the core hears [`PaymentError::Unavailable`]. Capture, void,
//! refund and the customer's return answer with the PaymentIntent read
//! back after the call.

mod events;
mod state;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orders_core::money::Money;
use orders_core::order::{PaymentStatus, ProviderState};
use orders_core::ports::{
    Authorize, PaymentError, PaymentGateway, PaymentSource, ProviderPayment,
    WebhookError as PortWebhookError, WebhookEvent,
};
use sha2::{Digest, Sha256};

use crate::{
    BuildError, ConfirmPaymentIntent, CreatePaymentIntent, CreateRefund, Currency, IdempotencyKey,
    PaymentIntentId, PaymentIntentStatus, SecretKey, StripeClient, StripeClientBuilder,
    StripeError, WebhookSecret, WebhookVerifier,
};
use state::{outcome_unknown, payment_error, provider_state};

/// Settings of a [`StripeGateway`]; see [`StripeGateway::builder`].
pub struct StripeGatewayBuilder {
    client: StripeClientBuilder,
    webhook_secret: WebhookSecret,
    webhook_tolerance: Duration,
    return_url: Option<String>,
}

impl fmt::Debug for StripeGatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGatewayBuilder")
            .field("client", &self.client)
            .field("webhook_secret", &self.webhook_secret)
            .field("return_url", &self.return_url)
            .finish_non_exhaustive()
    }
}

impl StripeGatewayBuilder {
    /// Another API root (localstripe, a proxy) instead of
    /// `https://api.stripe.com`.
    #[must_use]
    pub fn base_url(mut self, url: &str) -> Self {
        self.client = self.client.base_url(url);
        self
    }

    /// Where Stripe sends the customer back after a redirect-based action
    /// (3-D Secure outside Stripe.js): the shop's page that calls
    /// `POST /api/orders/{id}/payment/confirm`. Without it, actions are
    /// left to Stripe.js (`next_action.type = use_sdk`). localstripe
    /// refuses the parameter: leave it unset against localstripe.
    #[must_use]
    pub fn return_url(mut self, url: &str) -> Self {
        self.return_url = Some(url.to_owned());
        self
    }

    /// How long a whole call may take (default 30 s). A call that takes
    /// longer is sent once more with the same key, then answered
    /// [`PaymentError::Unavailable`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = self.client.timeout(timeout);
        self
    }

    /// How long to wait for a connection (default 5 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.client = self.client.connect_timeout(timeout);
        self
    }

    /// How far a webhook's signed timestamp may be from now (default
    /// 300 s, Stripe's).
    #[must_use]
    pub fn webhook_tolerance(mut self, tolerance: Duration) -> Self {
        self.webhook_tolerance = tolerance;
        self
    }

    /// The gateway.
    ///
    /// # Errors
    /// [`BuildError::ReturnUrl`] for a return URL that is not http(s),
    /// otherwise as [`StripeClientBuilder::build`].
    pub fn build(self) -> Result<StripeGateway, BuildError> {
        let return_url = match self.return_url {
            Some(url) => {
                Some(crate::params::checked_return_url(&url).map_err(|_| BuildError::ReturnUrl)?)
            }
            None => None,
        };
        Ok(StripeGateway {
            client: self.client.build()?,
            verifier: WebhookVerifier::new(self.webhook_secret).tolerance(self.webhook_tolerance),
            return_url,
        })
    }
}

/// Stripe as the shop's payment provider: give it to
/// [`Orders::builder`](orders_core::Orders::builder)`(..).payments(..)`.
///
/// ```no_run
/// use std::sync::Arc;
/// use orders_core::{Orders, OrdersConfig, memory::MemoryStore};
/// use orders_stripe::{SecretKey, StripeGateway, WebhookSecret};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let stripe = StripeGateway::builder(
///     SecretKey::new(std::env::var("STRIPE_SECRET_KEY")?)?,
///     WebhookSecret::new(std::env::var("STRIPE_WEBHOOK_SECRET")?)?,
/// )
/// .return_url("https://shop.example/payment/return")
/// .build()?;
/// let orders = Orders::builder(Arc::new(MemoryStore::new()))
///     .config(OrdersConfig::demo())
///     .payments(Arc::new(stripe))
///     .build();
/// # let _ = orders;
/// # Ok(())
/// # }
/// ```
///
/// Its `Debug` shows no secret.
#[derive(Clone)]
pub struct StripeGateway {
    client: StripeClient,
    verifier: WebhookVerifier,
    return_url: Option<String>,
}

impl fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeGateway")
            .field("client", &self.client)
            .field("verifier", &self.verifier)
            .field("return_url", &self.return_url)
            .finish()
    }
}

impl StripeGateway {
    /// A builder for a gateway with the account's secret key and the
    /// webhook endpoint's signing secret, talking to Stripe itself.
    pub fn builder(secret_key: SecretKey, webhook_secret: WebhookSecret) -> StripeGatewayBuilder {
        StripeGatewayBuilder {
            client: StripeClient::builder(secret_key),
            webhook_secret,
            webhook_tolerance: Duration::from_secs(300),
            return_url: None,
        }
    }

    /// The client it calls Stripe with.
    pub fn client(&self) -> &StripeClient {
        &self.client
    }

    async fn read_intent(&self, id: &PaymentIntentId) -> Result<ProviderState, PaymentError> {
        let intent = self
            .client
            .retrieve_payment_intent(id)
            .await
            .map_err(|e| payment_error(e, PaymentError::UnknownCharge))?;
        provider_state(&intent)
    }

    /// After a refused mutating call: the state, when it shows the call's
    /// effect already there (`done`); the refusal otherwise.
    async fn already(
        &self,
        id: &PaymentIntentId,
        error: StripeError,
        done: impl Fn(&ProviderState) -> bool,
    ) -> Result<ProviderState, PaymentError> {
        let refused = payment_error(error, PaymentError::UnknownCharge);
        if !matches!(refused, PaymentError::Refused(_)) {
            return Err(refused);
        }
        let state = self.read_intent(id).await?;
        if done(&state) {
            Ok(state)
        } else {
            Err(refused)
        }
    }
}

/// Sends a mutating call, and once more (same key) when its outcome is
/// unknown.
async fn at_most_twice<T, F, Fut>(call: F) -> Result<T, StripeError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StripeError>>,
{
    match call().await {
        Err(error) if outcome_unknown(&error) => call().await,
        other => other,
    }
}

/// The core's key as a Stripe `Idempotency-Key`: as it is when it fits
/// (1 to 255 visible ASCII characters), else its SHA-256.
fn stripe_key(key: &str) -> IdempotencyKey {
    IdempotencyKey::new(key).unwrap_or_else(|_| {
        let digest = Sha256::digest(key.as_bytes());
        IdempotencyKey::new(format!("orders-sha256-{}", hex::encode(digest)))
            .unwrap_or_else(|_| unreachable!("a hex digest is a valid key"))
    })
}

fn intent_id(reference: &str) -> Result<PaymentIntentId, PaymentError> {
    PaymentIntentId::new(reference).map_err(|_| PaymentError::UnknownCharge)
}

/// `amount` in minor units, at least 1.
fn minor(amount: Money) -> Result<u64, PaymentError> {
    u64::try_from(amount.to_minor())
        .ok()
        .filter(|minor| *minor > 0)
        .ok_or_else(|| PaymentError::Refused(format!("{amount} is not a positive amount")))
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn provider(&self) -> &str {
        "stripe"
    }

    fn accepts_test_cards(&self) -> bool {
        false
    }

    async fn authorize(&self, request: Authorize<'_>) -> Result<ProviderPayment, PaymentError> {
        let PaymentSource::Token(token) = request.source else {
            return Err(PaymentError::InvalidToken);
        };
        let amount = minor(request.amount)?;
        let currency = Currency::new(request.amount.currency().code())
            .map_err(|e| PaymentError::Refused(e.to_string()))?;
        // Stripe compares a retried request's parameters with the first
        // one's: only what is the same on every retry of one checkout goes
        // in (the checkout's key, not the order id each attempt draws).
        let key = stripe_key(request.idempotency_key);
        let mut params = CreatePaymentIntent::new(amount, currency, token.as_str())
            .map_err(|_| PaymentError::InvalidToken)?
            .metadata("checkout_key", key.as_str())
            .map_err(|e| PaymentError::Refused(e.to_string()))?;
        if let Some(url) = &self.return_url {
            params = params
                .return_url(url)
                .map_err(|e| PaymentError::Refused(e.to_string()))?;
        }
        let intent = at_most_twice(|| self.client.create_payment_intent(&params, &key))
            .await
            .map_err(|error| match error {
                StripeError::InvalidRequest(e)
                    if e.param.as_deref() == Some("payment_method")
                        || e.code
                            .as_deref()
                            .is_some_and(|c| c.starts_with("payment_method")) =>
                {
                    PaymentError::InvalidToken
                }
                other => payment_error(other, PaymentError::InvalidToken),
            })?;
        Ok(ProviderPayment {
            reference: intent.id.to_string(),
            state: provider_state(&intent)?,
        })
    }

    async fn complete_action(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        let id = intent_id(reference)?;
        let intent = self
            .client
            .retrieve_payment_intent(&id)
            .await
            .map_err(|e| payment_error(e, PaymentError::UnknownCharge))?;
        if intent.status != PaymentIntentStatus::RequiresConfirmation {
            return provider_state(&intent);
        }
        let mut params = ConfirmPaymentIntent::new();
        if let Some(url) = &self.return_url {
            params = params
                .return_url(url)
                .map_err(|e| PaymentError::Refused(e.to_string()))?;
        }
        let key = stripe_key(&format!("confirm:{id}"));
        match at_most_twice(|| self.client.confirm_payment_intent(&id, &params, &key)).await {
            Ok(_) => self.read_intent(&id).await,
            // A decline at confirmation leaves the intent failed: say so.
            Err(StripeError::CardDeclined(_)) => self.read_intent(&id).await,
            Err(error) => {
                self.already(&id, error, |s| s.status != PaymentStatus::RequiresAction)
                    .await
            }
        }
    }

    async fn capture(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError> {
        let id = intent_id(reference)?;
        let amount = minor(amount)?;
        let key = stripe_key(idempotency_key);
        match at_most_twice(|| self.client.capture_payment_intent(&id, Some(amount), &key)).await {
            Ok(_) => self.read_intent(&id).await,
            // Captured already (a retry Stripe did not recognise, as
            // localstripe, which keeps no keys): no second capture.
            Err(error) => self.already(&id, error, |s| !s.captured.is_zero()).await,
        }
    }

    async fn void(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        let id = intent_id(reference)?;
        let key = stripe_key(&format!("void:{id}"));
        match at_most_twice(|| self.client.cancel_payment_intent(&id, &key)).await {
            Ok(_) => self.read_intent(&id).await,
            // Cancelling a cancelled (or failed) intent succeeds.
            Err(error) => {
                self.already(&id, error, |s| {
                    matches!(s.status, PaymentStatus::Voided | PaymentStatus::Failed)
                })
                .await
            }
        }
    }

    async fn refund(
        &self,
        reference: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<ProviderState, PaymentError> {
        let id = intent_id(reference)?;
        let params = CreateRefund::partial(id.clone(), minor(amount)?)
            .map_err(|e| PaymentError::Refused(e.to_string()))?;
        let key = stripe_key(idempotency_key);
        at_most_twice(|| self.client.create_refund(&params, &key))
            .await
            .map_err(|e| payment_error(e, PaymentError::UnknownCharge))?;
        self.read_intent(&id).await
    }

    async fn read(&self, reference: &str) -> Result<ProviderState, PaymentError> {
        self.read_intent(&intent_id(reference)?).await
    }

    fn signature_header(&self) -> &str {
        "Stripe-Signature"
    }

    fn verify_webhook(
        &self,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<WebhookEvent, PortWebhookError> {
        events::webhook_event(&self.verifier, signature, body, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_do_not_fit_a_header_are_hashed() {
        assert_eq!(
            stripe_key("capture:o1:checkout").as_str(),
            "capture:o1:checkout"
        );
        let spaced = stripe_key("u1:my key");
        assert!(spaced.as_str().starts_with("orders-sha256-"));
        assert_eq!(spaced, stripe_key("u1:my key"));
        assert_ne!(spaced, stripe_key("u1:my key2"));
        assert!(stripe_key(&"k".repeat(300)).as_str().len() <= 255);
    }

    #[test]
    fn the_gateway_shows_no_secret() {
        let gateway = StripeGateway::builder(
            SecretKey::new("sk_test_51SecretPart").unwrap(),
            WebhookSecret::new("whsec_hookpart").unwrap(),
        )
        .base_url("http://127.0.0.1:1")
        .return_url("https://shop.example/return")
        .build()
        .unwrap();
        let shown = format!("{gateway:?}");
        assert!(
            !shown.contains("SecretPart") && !shown.contains("hookpart"),
            "{shown}"
        );
        assert_eq!(gateway.provider(), "stripe");
        assert_eq!(gateway.signature_header(), "Stripe-Signature");
        assert!(!gateway.accepts_test_cards());
        let bad = StripeGateway::builder(
            SecretKey::new("sk_test_x").unwrap(),
            WebhookSecret::new("whsec_x").unwrap(),
        )
        .return_url("javascript:alert(1)")
        .build();
        assert!(matches!(bad, Err(BuildError::ReturnUrl)));
    }
}
