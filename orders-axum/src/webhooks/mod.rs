//! Outbound webhooks (feature `webhooks`): the [`DeliveryWorker`] a host
//! runs beside the API, the target check against SSRF, and the signature.
//!
//! The rules (which events, backoff, dead) are the core's
//! ([`orders_core::webhook`]); the rows are the store's
//! ([`orders_core::ports::DeliveryStore`]); this module only sends.

mod guard;
mod sign;
mod worker;

pub use guard::{GuardedResolver, check_target, is_public};
pub use sign::{SIGNATURE_HEADER, signature};
pub use worker::{DeliveryWorker, WorkerConfig, payload};
