//! The client: one `reqwest::Client` (its connection pool), the base URL
//! and the key. Every call is one request with the key as a bearer token;
//! every mutating call carries the caller's `Idempotency-Key`. The client
//! never retries by itself: after a timeout the caller decides whether to
//! retry with the same key or read the object back.

use std::fmt;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::{
    ConfirmPaymentIntent, CreatePaymentIntent, CreateRefund, IdempotencyKey, PaymentIntent,
    PaymentIntentId, Refund, RefundId, SecretKey, StripeError, Unavailable,
};

/// Stripe's API.
const STRIPE_API: &str = "https://api.stripe.com";

/// The API version the types are written for, sent as `Stripe-Version` so
/// that an account's default version cannot change the answers' shape
/// (`latest_charge` replaced `charges` on 2022-11-15).
pub const STRIPE_API_VERSION: &str = "2024-06-20";

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL is not `http://` or `https://` followed by a host.
    #[error("the base URL must be http(s)://host[:port]")]
    BaseUrl,
    /// An API version that cannot be a header value.
    #[error("the API version must be visible ASCII")]
    ApiVersion,
    /// An `https://` base URL without the `rustls` feature.
    #[error("https needs the crate's `rustls` feature")]
    TlsDisabled,
    /// The return URL is not an http(s) URL
    /// ([`StripeGatewayBuilder::return_url`](crate::StripeGatewayBuilder::return_url)).
    #[error("the return URL must be an http(s) URL")]
    ReturnUrl,
    /// reqwest refused the configuration (TLS set-up, say).
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Settings of a [`StripeClient`], with safe defaults.
#[derive(Debug)]
pub struct StripeClientBuilder {
    key: SecretKey,
    base_url: String,
    connect_timeout: Duration,
    timeout: Duration,
    api_version: String,
}

impl StripeClientBuilder {
    /// Another API root (a local fake such as localstripe, or a proxy),
    /// instead of `https://api.stripe.com`.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = url.trim_end_matches('/').to_owned();
        self
    }

    /// Another `Stripe-Version` than [`STRIPE_API_VERSION`]; the typed
    /// results may then miss fields that version names differently.
    pub fn api_version(mut self, version: &str) -> Self {
        self.api_version = version.to_owned();
        self
    }

    /// How long to wait for a connection (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a whole call may take, connection included (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`BuildError::BaseUrl`] for a base URL that is not http(s),
    /// [`BuildError::TlsDisabled`] for https without the `rustls` feature,
    /// [`BuildError::Http`] when the HTTP client cannot be set up.
    pub fn build(self) -> Result<StripeClient, BuildError> {
        let https = self.base_url.starts_with("https://");
        let rest = self
            .base_url
            .strip_prefix("https://")
            .or_else(|| self.base_url.strip_prefix("http://"))
            .ok_or(BuildError::BaseUrl)?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BuildError::BaseUrl);
        }
        if https && !cfg!(feature = "rustls") {
            return Err(BuildError::TlsDisabled);
        }
        let builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .user_agent(concat!("orders-stripe/", env!("CARGO_PKG_VERSION")));
        let mut auth = HeaderValue::try_from(format!("Bearer {}", self.key.expose()))
            .map_err(|_| BuildError::BaseUrl)?;
        auth.set_sensitive(true);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "stripe-version",
            HeaderValue::try_from(self.api_version).map_err(|_| BuildError::ApiVersion)?,
        );
        Ok(StripeClient {
            http: builder.default_headers(headers).build()?,
            base_url: self.base_url,
            key: self.key,
            auth,
        })
    }
}

/// A Stripe API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base_url: String,
    key: SecretKey,
    auth: HeaderValue,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("base_url", &self.base_url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    /// A builder for a client with `key`, talking to Stripe itself.
    pub fn builder(key: SecretKey) -> StripeClientBuilder {
        StripeClientBuilder {
            key,
            base_url: STRIPE_API.to_owned(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            api_version: STRIPE_API_VERSION.to_owned(),
        }
    }

    /// Creates a manual-capture PaymentIntent and, unless told not to,
    /// confirms it: the answer is `requires_capture` (authorised),
    /// `requires_action` (3-D Secure), or a [`StripeError::CardDeclined`].
    ///
    /// # Errors
    /// Any [`StripeError`]; on [`StripeError::Unavailable`] retry with the
    /// same `key`, which never authorises twice.
    pub async fn create_payment_intent(
        &self,
        params: &CreatePaymentIntent,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, StripeError> {
        self.post("/v1/payment_intents", params.to_form(), key)
            .await
    }

    /// Reads a PaymentIntent as it stands, with its latest charge expanded
    /// (what was captured and refunded).
    ///
    /// # Errors
    /// [`StripeError::InvalidRequest`] (404) for an unknown id; otherwise as
    /// any call.
    pub async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{id}?expand[]=latest_charge");
        self.get(&path).await
    }

    /// Confirms a PaymentIntent created with `confirm(false)`.
    ///
    /// # Errors
    /// As [`create_payment_intent`](Self::create_payment_intent).
    pub async fn confirm_payment_intent(
        &self,
        id: &PaymentIntentId,
        params: &ConfirmPaymentIntent,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{id}/confirm");
        self.post(&path, params.to_form(), key).await
    }

    /// Captures an authorised (`requires_capture`) PaymentIntent: all of
    /// it, or `amount` minor units (the rest is released to the customer).
    ///
    /// # Errors
    /// [`StripeError::InvalidRequest`] when it is not `requires_capture` or
    /// `amount` exceeds what is capturable; otherwise as any call.
    pub async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount: Option<u64>,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, StripeError> {
        if amount == Some(0) {
            return Err(crate::ParamError {
                field: "amount_to_capture".into(),
                reason: "at least 1 minor unit",
            }
            .into());
        }
        // The form (not `Send`) is finished before the await, so that the
        // call's future is `Send`.
        let body = {
            let mut form = crate::form::Form::new();
            if let Some(amount) = amount {
                form.field("amount_to_capture", &amount.to_string());
            }
            form.finish()
        };
        let path = format!("/v1/payment_intents/{id}/capture");
        self.post(&path, body, key).await
    }

    /// Cancels (voids) a PaymentIntent that is not captured: the
    /// authorisation is released.
    ///
    /// # Errors
    /// [`StripeError::InvalidRequest`] once it is captured or already
    /// cancelled; otherwise as any call.
    pub async fn cancel_payment_intent(
        &self,
        id: &PaymentIntentId,
        key: &IdempotencyKey,
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{id}/cancel");
        self.post(&path, String::new(), key).await
    }

    /// Refunds all or part of a captured PaymentIntent.
    ///
    /// # Errors
    /// [`StripeError::InvalidRequest`] when nothing is captured or the
    /// amount exceeds what is left; otherwise as any call.
    pub async fn create_refund(
        &self,
        params: &CreateRefund,
        key: &IdempotencyKey,
    ) -> Result<Refund, StripeError> {
        self.post("/v1/refunds", params.to_form(), key).await
    }

    /// Reads a refund as it stands.
    ///
    /// # Errors
    /// [`StripeError::InvalidRequest`] (404) for an unknown id; otherwise as
    /// any call.
    pub async fn retrieve_refund(&self, id: &RefundId) -> Result<Refund, StripeError> {
        self.get(&format!("/v1/refunds/{id}")).await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        let request = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header(AUTHORIZATION, self.auth.clone());
        send(request).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: String,
        key: &IdempotencyKey,
    ) -> Result<T, StripeError> {
        let request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header(AUTHORIZATION, self.auth.clone())
            .header("Idempotency-Key", key.as_str())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        send(request).await
    }
}

async fn send<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, StripeError> {
    let response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .map(str::to_owned)
    };
    let request_id = header("request-id");
    let retry_after = header(RETRY_AFTER.as_str())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.map_err(transport)?;
    if (200..300).contains(&status) {
        serde_json::from_slice(&body).map_err(|error| {
            StripeError::Unavailable(Unavailable::InvalidResponse(error.to_string()))
        })
    } else {
        Err(StripeError::from_status(
            status,
            &body,
            request_id,
            retry_after,
        ))
    }
}

/// A failure below HTTP: nothing (usable) came back.
fn transport(error: reqwest::Error) -> StripeError {
    let reason = if error.is_timeout() {
        Unavailable::Timeout
    } else if error.is_connect() {
        Unavailable::Connect(error_chain(&error))
    } else {
        Unavailable::Interrupted(error_chain(&error))
    };
    StripeError::Unavailable(reason)
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_debug_masks_the_key() {
        let key = SecretKey::new("sk_test_51Hq9XsSecretPart").unwrap();
        let client = StripeClient::builder(key)
            .base_url("http://127.0.0.1:1")
            .build()
            .unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("sk_test_[redacted]"), "{shown}");
        assert!(!shown.contains("SecretPart"), "{shown}");
    }

    #[test]
    fn a_base_url_must_be_http() {
        let key = || SecretKey::new("sk_test_x").unwrap();
        assert!(matches!(
            StripeClient::builder(key()).base_url("ftp://x").build(),
            Err(BuildError::BaseUrl)
        ));
        assert!(matches!(
            StripeClient::builder(key()).base_url("http://").build(),
            Err(BuildError::BaseUrl)
        ));
        let https = StripeClient::builder(key()).build();
        if cfg!(feature = "rustls") {
            assert!(https.is_ok());
        } else {
            assert!(matches!(https, Err(BuildError::TlsDisabled)));
        }
    }
}
