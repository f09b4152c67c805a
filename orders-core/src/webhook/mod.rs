//! Outbound webhooks: endpoints that want to hear of order events, and the
//! deliveries that carry each event to each of them.
//!
//! Delivery is a durable consumer of the order event log: a named cursor
//! ([`WEBHOOK_CONSUMER`]) that [`crate::ports::DeliveryStore::fan_out`]
//! moves along the log, recording one [`Delivery`] per event and matching
//! endpoint in the same write as the cursor move, so a crash between the
//! two loses nothing and repeats nothing. Each delivery is then attempted
//! until its receiver answers, with the backoff of [`RetryPolicy`], and is
//! dead when the policy gives up. The rules (which event matches, the
//! delivery id, what an attempt changes) live here; stores only keep the
//! rows, and the runtime that sends the requests lives in an adapter.

mod delivery;
mod endpoint;
mod form;
mod retry;

pub use delivery::{AttemptOutcome, Delivery, DeliveryStatus, MAX_ERROR_CHARS, NotDead};
pub use endpoint::{
    EventFilter, EventType, InvalidEventFilter, InvalidWebhookUrl, MAX_URL_CHARS, NewWebhook,
    Webhook, WebhookSecret, WebhookUrl,
};
pub use form::{EVENT_NAMES, WebhookForm, WebhookRequest};
pub use retry::RetryPolicy;

/// The name of the consumer whose cursor the webhook fan-out moves.
pub const WEBHOOK_CONSUMER: &str = "webhooks";
