//! Outbound webhooks: the target check against SSRF (always, for the
//! admin routes that create webhooks), and with feature `webhooks` the
//! `DeliveryWorker` a host runs beside the API, and the signature.
//!
//! The rules (which events, backoff, dead) are the core's
//! ([`orders_core::webhook`]); the rows are the store's
//! ([`orders_core::ports::DeliveryStore`]); this module only checks and sends.

mod guard;
#[cfg(feature = "webhooks")]
mod recorder;
#[cfg(feature = "webhooks")]
mod sign;
#[cfg(feature = "webhooks")]
mod worker;

#[cfg(feature = "webhooks")]
pub use guard::GuardedResolver;
pub use guard::{check_target, is_public};
#[cfg(feature = "webhooks")]
pub use sign::{SIGNATURE_HEADER, signature};
#[cfg(feature = "webhooks")]
pub use worker::{
    DEFAULT_BATCH, DEFAULT_MAX_IN_FLIGHT, DRAIN_RECORDS, DeliveryWorker, WorkerConfig, payload,
};
