//! Who takes the shop's card payments: the `[payments]` table of the
//! configuration file, the provider it builds, and the sweeper that releases
//! the stock of expired 3-D Secure holds.
//!
//! ```toml
//! [payments]                        # every key optional; defaults shown
//! provider = "test"                 # or "stripe"
//! capture_policy = "on_checkout"    # or "on_shipment"
//! hold = "15m"                      # stock held while the customer does 3-D Secure
//! sweep_interval = "30s"            # how often expired holds are released
//! api_base = "https://api.stripe.com"   # Stripe only (tests: a localstripe)
//! js_url = "https://js.stripe.com/v3/"  # Stripe only: where Stripe.js is loaded from
//! ```
//!
//! With `provider = "stripe"`, the keys come from the environment only
//! ([`SECRET_KEY_VAR`], [`WEBHOOK_SECRET_VAR`], [`PUBLISHABLE_KEY_VAR`]);
//! a missing one stops the server at start with a message naming it. The
//! secrets never reach a log line or a `Debug` output ([`Secret`]).
//!
//! The default, `provider = "test"`, is the core's built-in
//! [`TestGateway`]: it charges nobody, takes the test cards and tokens of
//! API.md, and keeps the demo and today's clients working.

mod sweeper;

#[cfg(feature = "stripe")]
mod stripe;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use orders_core::OrdersConfig;
use orders_core::order::CapturePolicy;
use orders_core::ports::{PaymentGateway, TestGateway};
use serde::Deserialize;

pub use sweeper::{SWEEP_BATCH, sweep_every};

/// The environment variable holding Stripe's secret API key (`sk_…`).
pub const SECRET_KEY_VAR: &str = "ORDERS_STRIPE_SECRET_KEY";
/// The environment variable holding the webhook endpoint's signing secret
/// (`whsec_…`).
pub const WEBHOOK_SECRET_VAR: &str = "ORDERS_STRIPE_WEBHOOK_SECRET";
/// The environment variable holding the publishable key (`pk_…`) the
/// storefront gives Stripe.js.
pub const PUBLISHABLE_KEY_VAR: &str = "ORDERS_STRIPE_PUBLISHABLE_KEY";

/// Stripe's API.
pub const STRIPE_API_BASE: &str = "https://api.stripe.com";
/// Stripe.js.
pub const STRIPE_JS_URL: &str = "https://js.stripe.com/v3/";
/// How often expired holds are released, by default.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// The `[payments]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsFile {
    provider: Option<String>,
    capture_policy: Option<String>,
    hold: Option<String>,
    sweep_interval: Option<String>,
    api_base: Option<String>,
    js_url: Option<String>,
}

/// A secret from the environment: `Debug` and `Display` show `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Stripe's settings: where its API and Stripe.js are, and the keys.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    /// The API's root URL (`https://api.stripe.com`, or a localstripe).
    pub api_base: String,
    /// Where the storefront loads Stripe.js from.
    pub js_url: String,
    /// The publishable key (`pk_…`): public, it is in every checkout page.
    pub publishable_key: String,
    /// The secret API key (`sk_…`).
    pub secret_key: Secret,
    /// The webhook endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Secret,
}

impl StripeSettings {
    /// The origin (`scheme://host[:port]`) Stripe.js is served from.
    pub fn js_origin(&self) -> String {
        origin_of(&self.js_url).unwrap_or_else(|| self.js_url.clone())
    }
}

/// The card payment provider.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Provider {
    /// The core's built-in [`TestGateway`] (the default).
    #[default]
    Test,
    /// Stripe, through `orders-stripe`.
    Stripe(StripeSettings),
}

/// The server's payment settings (the capture policy and hold are the
/// engine's: [`PaymentSettings::apply`] puts them there).
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    /// Who takes card payments.
    pub provider: Provider,
    /// When card payments are captured, when the file says.
    pub capture_policy: Option<CapturePolicy>,
    /// How long stock is held for a customer's action, when the file says.
    pub hold: Option<Duration>,
    /// How often expired holds are released.
    pub sweep_interval: Duration,
}

impl Default for PaymentSettings {
    fn default() -> Self {
        Self {
            provider: Provider::Test,
            capture_policy: None,
            hold: None,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
        }
    }
}

impl PaymentSettings {
    /// Reads the `[payments]` table, taking Stripe's keys from `env` (the
    /// process environment in the server).
    ///
    /// # Errors
    /// A message naming the bad key, or the missing environment variable.
    pub fn from_file(
        file: &PaymentsFile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let mut settings = Self::default();
        if let Some(policy) = &file.capture_policy {
            settings.capture_policy = Some(
                policy
                    .parse()
                    .map_err(|e| format!("payments.capture_policy: {e}"))?,
            );
        }
        if let Some(hold) = &file.hold {
            settings.hold = Some(parse_duration(hold).map_err(|e| format!("payments.hold: {e}"))?);
        }
        if let Some(every) = &file.sweep_interval {
            settings.sweep_interval =
                parse_duration(every).map_err(|e| format!("payments.sweep_interval: {e}"))?;
        }
        let provider = file.provider.as_deref().unwrap_or("test");
        let stripe_only = [("api_base", &file.api_base), ("js_url", &file.js_url)];
        settings.provider = match provider {
            "test" => {
                if let Some((key, _)) = stripe_only.iter().find(|(_, v)| v.is_some()) {
                    return Err(format!("payments.{key}: only for provider = \"stripe\""));
                }
                Provider::Test
            }
            "stripe" => Provider::Stripe(stripe_settings(file, env)?),
            other => {
                return Err(format!(
                    "payments.provider: {other:?} is not a provider; expected \"test\" or \"stripe\""
                ));
            }
        };
        Ok(settings)
    }

    /// Puts the capture policy and the hold into the engine's
    /// configuration (over its own `capture_policy` and `payment_hold`).
    ///
    /// # Errors
    /// A hold too long to count.
    pub fn apply(&self, orders: &mut OrdersConfig) -> Result<(), String> {
        if let Some(policy) = self.capture_policy {
            orders.capture_policy = policy;
        }
        if let Some(hold) = self.hold {
            orders.payment_hold = chrono::Duration::from_std(hold)
                .map_err(|_| "payments.hold: too long".to_owned())?;
        }
        Ok(())
    }

    /// The provider's gateway.
    ///
    /// # Errors
    /// A message when the provider cannot be set up (a key Stripe's client
    /// refuses, a build without Stripe).
    pub fn gateway(&self) -> Result<Arc<dyn PaymentGateway>, String> {
        match &self.provider {
            Provider::Test => Ok(Arc::new(TestGateway::new())),
            #[cfg(feature = "stripe")]
            Provider::Stripe(settings) => stripe::gateway(settings),
            #[cfg(not(feature = "stripe"))]
            Provider::Stripe(_) => Err(NO_STRIPE.to_owned()),
        }
    }

    /// Stripe's settings, when Stripe takes the payments.
    pub fn stripe(&self) -> Option<&StripeSettings> {
        match &self.provider {
            Provider::Stripe(settings) => Some(settings),
            Provider::Test => None,
        }
    }
}

#[cfg(not(feature = "stripe"))]
const NO_STRIPE: &str =
    "payments.provider: this build has no Stripe support (build with the `stripe` feature)";

fn stripe_settings(
    file: &PaymentsFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StripeSettings, String> {
    #[cfg(not(feature = "stripe"))]
    {
        let _ = (file, env);
        Err(NO_STRIPE.to_owned())
    }
    #[cfg(feature = "stripe")]
    {
        let url = |key: &str, value: &Option<String>, default: &str| {
            let value = value.as_deref().unwrap_or(default).trim().to_owned();
            match origin_of(&value) {
                Some(_) => Ok(value),
                None => Err(format!("payments.{key}: {value:?} is not an http(s) URL")),
            }
        };
        let api_base = url("api_base", &file.api_base, STRIPE_API_BASE)?;
        let js_url = url("js_url", &file.js_url, STRIPE_JS_URL)?;
        let var = |name: &str, prefix: &str| -> Result<String, String> {
            let value = env(name).map(|v| v.trim().to_owned()).unwrap_or_default();
            if value.is_empty() {
                return Err(format!(
                    "payments.provider = \"stripe\" needs the environment variable {name}"
                ));
            }
            if !value.starts_with(prefix) {
                // Never echo the value: it may be a secret put in the wrong place.
                return Err(format!("{name} must start with {prefix:?}"));
            }
            Ok(value)
        };
        Ok(StripeSettings {
            api_base,
            js_url,
            secret_key: Secret(var(SECRET_KEY_VAR, "")?),
            webhook_secret: Secret(var(WEBHOOK_SECRET_VAR, "")?),
            publishable_key: var(PUBLISHABLE_KEY_VAR, "pk_")?,
        })
    }
}

/// `30d`, `12h`, `15m`, `90s` or a plain number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    orders_core::config::parse_duration(text).map_err(|e| e.to_string())
}

/// `scheme://host[:port]` of an `http` or `https` URL, or `None`.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && !authority.contains('@')
        && authority
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b));
    valid.then(|| format!("{scheme}://{authority}"))
}

/// The storefront's Content-Security-Policy when Stripe.js runs on its
/// pages: the default policy's, with Stripe.js's origin allowed to run
/// scripts, show its frames (card fields, 3-D Secure) and be called; with
/// Stripe itself, its API and 3-D Secure hosts too (as Stripe documents).
pub fn stripe_content_security_policy(js_origin: &str) -> String {
    let (scripts, frames, connect) = if js_origin == "https://js.stripe.com" {
        (
            format!("{js_origin} https://*.js.stripe.com"),
            format!("{js_origin} https://*.js.stripe.com https://hooks.stripe.com"),
            "https://api.stripe.com".to_owned(),
        )
    } else {
        // A stand-in (localstripe) serves Stripe.js and its API together.
        (
            js_origin.to_owned(),
            js_origin.to_owned(),
            js_origin.to_owned(),
        )
    };
    format!(
        "default-src 'self'; script-src 'self' {scripts}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self' {connect}; frame-src {frames}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests;
