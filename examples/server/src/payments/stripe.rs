//! Stripe as the payment provider: `orders_stripe::StripeGateway` over a
//! client of the configured API, with the keys from the environment.

use std::sync::Arc;
use std::time::Duration;

use orders_core::ports::PaymentGateway;
use orders_stripe::{SecretKey, StripeGateway, WebhookSecret};

use super::{SECRET_KEY_VAR, StripeSettings, WEBHOOK_SECRET_VAR};

/// How long a call to Stripe may take before it is sent once more, then
/// counts as unavailable.
const TIMEOUT: Duration = Duration::from_secs(20);
/// How long connecting to Stripe may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway `settings` describe. The customer's action (3-D Secure) is
/// left to Stripe.js on the order page (no return URL is given Stripe).
///
/// # Errors
/// A message naming the variable or key Stripe's client refuses (never its
/// value).
pub(super) fn gateway(settings: &StripeSettings) -> Result<Arc<dyn PaymentGateway>, String> {
    let key = SecretKey::new(settings.secret_key.expose())
        .map_err(|e| format!("{SECRET_KEY_VAR}: {e}"))?;
    let webhook_secret = WebhookSecret::new(settings.webhook_secret.expose())
        .map_err(|e| format!("{WEBHOOK_SECRET_VAR}: {e}"))?;
    let gateway = StripeGateway::builder(key, webhook_secret)
        .base_url(&settings.api_base)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("payments.api_base: {e}"))?;
    Ok(Arc::new(gateway))
}
