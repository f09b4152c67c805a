//! # orders-stripe
//!
//! A thin Stripe client for the `orders` payment lifecycle: authorise a card
//! now and capture later ([`PaymentIntent`]s with `capture_method=manual`),
//! capture all or part of it, void it, refund all or part of a capture, read
//! any of them back, and verify the webhooks Stripe sends
//! ([`WebhookVerifier`]).
//!
//! It is deliberately small: a few form-encoded calls over `reqwest`, typed
//! results for the fields the lifecycle needs, and one error type that says
//! what the caller should do next ([`StripeError`]). The client knows
//! nothing of orders, carts or stock; [`StripeGateway`], the adapter of
//! `orders-core`'s payment port, maps it onto them: give it to
//! `Orders::builder(..).payments(..)`.
//!
//! ```no_run
//! use orders_stripe::{
//!     CreatePaymentIntent, Currency, IdempotencyKey, PaymentIntentStatus, SecretKey,
//!     StripeClient,
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let key = SecretKey::new(std::env::var("STRIPE_SECRET_KEY")?)?;
//! let stripe = StripeClient::builder(key).build()?;
//! let params = CreatePaymentIntent::new(4250, Currency::new("eur")?, "pm_card_visa")?
//!     .metadata("order_id", "42")?;
//! let intent = stripe
//!     .create_payment_intent(&params, &IdempotencyKey::new("checkout-42")?)
//!     .await?;
//! if intent.status == PaymentIntentStatus::RequiresCapture {
//!     stripe
//!         .capture_payment_intent(&intent.id, None, &IdempotencyKey::new("capture-42")?)
//!         .await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Secrets ([`SecretKey`], [`WebhookSecret`], [`ClientSecret`]) never show
//! in `Debug` output, so a client or a result can be logged safely.
//!
//! ## Limits
//!
//! A PaymentIntent is captured once: a partial capture releases the rest
//! of the authorisation. So under `on_shipment`, an order shipped in
//! several fulfilments captures the first fulfilment's share only; the
//! later captures are refused (the fulfilments are recorded, their shares
//! stay uncaptured). Stripe's multicapture (`request_multicapture`, an
//! IC+ pricing feature) would take each share; this adapter does not ask
//! for it. Ship such orders in one fulfilment, or capture on checkout.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod error;
mod form;
mod gateway;
mod ids;
mod params;
mod secret;
mod types;
mod webhook;

pub use client::{BuildError, STRIPE_API_VERSION, StripeClient, StripeClientBuilder};
pub use error::{ApiError, StripeError, Unavailable};
pub use gateway::{StripeGateway, StripeGatewayBuilder};
pub use ids::{IdError, PaymentIntentId, RefundId};
pub use params::{
    ConfirmPaymentIntent, CreatePaymentIntent, CreateRefund, Currency, IdempotencyKey, ParamError,
};
pub use secret::{ClientSecret, SecretError, SecretKey, WebhookSecret};
pub use types::{
    CardDetails, Charge, Expandable, NextAction, PaymentError, PaymentIntent, PaymentIntentStatus,
    PaymentMethodDetails, Refund, RefundList, RefundStatus,
};
pub use webhook::{Event, EventObject, WebhookError, WebhookVerifier};

/// The code blocks of the crate's README, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
